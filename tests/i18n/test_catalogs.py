"""The project's real catalogs, and the rule that no text for people sits in Python code."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from i18n import LOCALES
from i18n.catalog import LOCALES_DIR
from i18n.check import check

ROOT = Path(__file__).resolve().parents[2]
# Packages whose Python modules may hold no Hangul at all: every text comes from a catalog.
# (sandbox's HTML/JS templates take their text from the catalog and are not Python files.)
NO_HANGUL = ("bot", "webhook", "gateway", "participation", "ledger", "sandbox")
HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff]")


def test_every_domain_file_has_matching_ids_and_placeholders_in_both_locales():
    assert check(LOCALES_DIR) == []


def test_every_domain_file_exists_in_both_locales():
    domains = {
        locale: {p.stem for p in (LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po")}
        for locale in LOCALES
    }
    assert domains["ko"] == domains["en"]
    assert "report" in domains["ko"]


def _python_files() -> list[Path]:
    return sorted(p for package in NO_HANGUL for p in (ROOT / package).rglob("*.py"))


def test_the_scan_sees_the_packages():
    assert any(p.parts[-2] == "participation" for p in _python_files())


def hangul_literals(source: str) -> list[tuple[int, str]]:
    """Return (line, text) of every string literal with Hangul that code can use as a value.

    Comments and bare string statements (docstrings, attribute docs) are documentation for
    developers and may name Korean terms; every other string literal, f-string parts
    included, is a value that could reach a person and must come from a catalog.
    """
    tree = ast.parse(source)
    docs = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and HANGUL.search(node.value)
    ]


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_python_module_outside_i18n_holds_hangul_literals(path):
    found = hangul_literals(path.read_text(encoding="utf-8"))
    shown = [f"{path.relative_to(ROOT)}:{line}: {text!r}" for line, text in found]
    assert shown == [], "Korean text belongs in i18n/locales/*/*.po:\n" + "\n".join(shown)


def test_the_hangul_scan_catches_values_and_f_strings_but_not_docs():
    source = (
        '"""모듈 설명."""\n'
        "# 주석\n"
        "def f(x):\n"
        '    """함수 설명."""\n'
        "    a = '공감'\n"
        "    b = f'{x}개'\n"
        "    return call(title='ㄱ')\n"
    )
    assert [line for line, _text in hangul_literals(source)] == [5, 6, 7]
    assert hangul_literals("x = 'abc'  # 공감\n") == []


def test_make_i18n_command_passes():
    done = subprocess.run(
        [sys.executable, "-m", "i18n", "check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("주민 공모", "'주민 공모'는 지금"),  # ends in a vowel
        ("주민제안", "'주민제안'은 지금"),  # ends in a final consonant
        ("2027 공모 2", "'2027 공모 2'는 지금"),  # 이: a vowel
        ("Round 7", "'Round 7'은 지금"),  # 칠: a final consonant
        ("🌱", "'🌱'은(는) 지금"),  # unreadable: both forms, as Korean forms show them
    ],
)
def test_a_particle_after_a_placeholder_follows_the_value(title: str, expected: str) -> None:
    from i18n.catalog import Catalog

    catalog = Catalog.load()
    text = catalog.text(
        "ko", "bot.admin.phase_confirm_open", round=title, phase="준비", target="제안 접수"
    )
    assert text.startswith(expected)
    assert "(은)는" not in catalog.text("ko", "bot.judge.no_tasks", round=title, phase="심사")


def test_every_particle_marker_kind_is_attached() -> None:
    from i18n.catalog import attach_particles

    assert attach_particles("사유 '중복'(으)로, '광고'(으)로, '서울'(으)로") == (
        "사유 '중복'으로, '광고'로, '서울'로"
    )
    assert attach_particles("세션 s_42 (1조)(을)를 열었어요") == "세션 s_42 (1조)를 열었어요"
    assert attach_particles("A안(이)가, B(과)와 C(을)를") == "A안이, B와 C를"
    assert attach_particles("(은)는 앞에 아무것도 없어요") == "은(는) 앞에 아무것도 없어요"


def test_an_english_noun_after_a_number_agrees_with_it() -> None:
    from i18n.catalog import Catalog
    from i18n.catalog import choose_plurals

    catalog = Catalog.load()
    head = "bot.browse.head"
    assert catalog.text("en", head, round="R", total=1) == "🔎 R — 1 proposal"
    assert catalog.text("en", head, round="R", total=0) == "🔎 R — 0 proposals"
    assert catalog.text("en", head, round="R", total="1,000") == "🔎 R — 1,000 proposals"
    assert catalog.text("ko", head, round="R", total=1) == "🔎 R — 제안 1건"
    assert choose_plurals("{n:is|are} {m:x|y}", {"n": "1", "m": 2}) == "is y"
    assert choose_plurals("no marker {here}", {}) == "no marker {here}"


def test_no_english_count_is_followed_by_a_fixed_plural() -> None:
    """A count parameter followed by a plain plural noun reads '1 proposals' when it is 1."""
    import glob

    from babel.messages.pofile import read_po

    counts = re.compile(
        r"%\((count|total|endorsements|likes|ballots|points|communities|size|cap|"
        r"onsite_scores|online_voters)\)s ([a-z]+s)\b"
    )
    found = []
    for path in glob.glob(str(LOCALES_DIR / "en" / "LC_MESSAGES" / "*.po")):
        with open(path, "rb") as handle:
            for message in read_po(handle):
                text = message.string if isinstance(message.string, str) else ""
                found += [f"{message.id}: {m.group(0)}" for m in counts.finditer(text)]
    assert found == []


def test_make_i18n_checks_the_ledgers_own_catalog_too():
    """`python -m ledger` reads ledger/locales (the ledger cannot import i18n); the check
    `make i18n` runs covers it with the other domains, so ko and en stay equal there too."""
    from i18n.check import OWN_CATALOGS
    from i18n.check import summary

    assert ROOT / "ledger" / "locales" in OWN_CATALOGS
    assert check(LOCALES_DIR, *OWN_CATALOGS) == []
    assert summary(LOCALES_DIR, *OWN_CATALOGS) != summary(LOCALES_DIR)
    out = subprocess.run(
        [sys.executable, "-m", "i18n", "check"], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout  # fmt: skip
    assert summary(LOCALES_DIR, *OWN_CATALOGS) in out
