"""`python -m ledger` speaks Korean first, English on request, from the `ledger` catalogs.

An outsider (a journalist, a council member) who ran `verify` read English only, e.g.
'FAILED: index 57: the signature does not verify under …'. Every text it prints now comes
from ledger/locales/<ko|en>/LC_MESSAGES/ledger.po; failures carry a code and parameters.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ledger import Ledger
from ledger.cli import main
from ledger.messages import LOCALES_DIR
from ledger.messages import catalog
from ledger.messages import locale_from_environment
from ledger.verify import VerificationFailed
from tests.ledger.conftest import ORIGIN

ROOT = Path(__file__).resolve().parents[2]
HANGUL = re.compile(r"[\uac00-\ud7a3]")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def export(log: Ledger, directory: Path, count: int = 4) -> Path:
    for i in range(count):
        log.append("proposal.endorsed", "r:ab", "r1", {"i": i})
    log.seal()
    log.export(directory)
    return directory


def tamper(directory: Path, index: int) -> None:
    lines = (directory / "entries.jsonl").read_bytes().split(b"\n")
    lines[index] = lines[index].replace(b'"i":%d' % index, b'"i":%d' % (index + 1))
    (directory / "entries.jsonl").write_bytes(b"\n".join(lines))


def test_an_ok_run_speaks_korean_by_default_and_english_with_locale_en(
    log: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = export(log, tmp_path / "out")
    assert main(["verify", str(folder)]) == 0
    ko = capsys.readouterr().out
    assert ko.startswith("확인 완료: 항목 4개, 루트 해시 "), ko
    assert "참고: " in ko and "--checkpoint FILE" in ko and ORIGIN in ko, ko
    assert main(["verify", str(folder), "--locale", "en"]) == 0
    en = capsys.readouterr().out
    assert en.startswith("OK: 4 entries, root ") and "note: no --checkpoint" in en, en
    assert not HANGUL.search(en), en


def test_a_tampered_export_is_named_at_its_index_in_both_languages(
    log: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = export(log, tmp_path / "out")
    tamper(folder, 2)
    key_id = log.vkeys()[0].split("+")[0] + "+" + log.vkeys()[0].split("+")[1]
    assert main(["verify", str(folder), "--processes", "1"]) == 1
    ko = capsys.readouterr().err
    assert ko == f"검증 실패: 항목 2번: 서명이 {key_id} 키로 검증되지 않습니다\n", ko
    assert main(["verify", str(folder), "--processes", "1", "--locale", "en"]) == 1
    en = capsys.readouterr().err
    assert en == f"FAILED: index 2: the signature does not verify under {key_id}\n", en


def test_a_usage_error_is_said_in_the_chosen_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, said in (
        (["verify", str(tmp_path / "typo")], "사용법 오류: "),
        (["verify", str(tmp_path / "typo"), "--locale", "en"], "error: "),
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        err = capsys.readouterr().err
        assert exited.value.code == 2 and said in err and str(tmp_path / "typo") in err, err
    with pytest.raises(SystemExit):
        main(["verify", str(tmp_path), "--url", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert err.startswith("사용법: python -m ledger verify") and "하나만 주십시오" in err, err


def test_the_environment_picks_english_and_nothing_else(tmp_path: Path) -> None:
    assert locale_from_environment({}) == "ko"
    assert locale_from_environment({"LANG": "C.UTF-8"}) == "ko"
    assert locale_from_environment({"LANG": "ko_KR.UTF-8"}) == "ko"
    assert locale_from_environment({"LANG": "en_US.UTF-8"}) == "en"
    assert locale_from_environment({"LC_ALL": "ko_KR.UTF-8", "LANG": "en_US.UTF-8"}) == "ko"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    command = [sys.executable, "-m", "ledger", "verify", str(tmp_path / "typo")]
    for lang, said in (("en_US.UTF-8", "error: "), ("C.UTF-8", "사용법 오류: ")):
        run = subprocess.run(
            command, cwd=ROOT, env={**env, "LANG": lang}, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert run.returncode == 2 and said in run.stderr, run.stderr


def _failure_sites() -> dict[str, set[str]]:
    """Return {code: parameter names} of every failure raised in verify, audit and remote."""
    sites: dict[str, set[str]] = {}
    for name in ("verify", "audit", "remote"):
        tree = ast.parse((ROOT / "ledger" / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (  # VerificationFailed("code", index=..., param=...)
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "VerificationFailed"
            ):
                keywords = {k.arg for k in node.keywords if k.arg and k.arg != "index"}
                first = node.args[0]
                codes = [c.value for c in ast.walk(first) if isinstance(c, ast.Constant)]
                if isinstance(first, ast.Name):  # code = "a" if ... else "b"
                    codes = [
                        c.value
                        for a in ast.walk(tree)
                        if isinstance(a, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == first.id for t in a.targets)
                        for c in ast.walk(a.value)
                        if isinstance(c, ast.Constant) and isinstance(c.value, str)
                    ]
                for code in codes:
                    sites.setdefault(str(code), set()).update(keywords)
            if (  # a chunk's problem: ("code", {"param": ...})
                isinstance(node, ast.Tuple)
                and len(node.elts) == 2
                and isinstance(node.elts[0], ast.Constant)
                and isinstance(node.elts[0].value, str)
                and isinstance(node.elts[1], ast.Dict)
            ):
                keys = {k.value for k in node.elts[1].keys if isinstance(k, ast.Constant)}
                sites.setdefault(node.elts[0].value, set()).update(map(str, keys))
    return sites


def test_every_failure_code_has_a_korean_and_an_english_text_with_its_parameters() -> None:
    sites = _failure_sites()
    assert {"bad_signature", "seq_mismatch", "log_shrank", "http_error"} <= set(sites)
    for locale in ("ko", "en"):
        texts = catalog(locale)
        for code, params in sorted(sites.items()):
            template = texts.get(f"ledger.failed.{code}")
            assert template, f"{locale}: ledger.failed.{code} has no text"
            assert set(PLACEHOLDER.findall(template)) == params, (locale, code, template)
        written = {k.removeprefix("ledger.failed.") for k in texts if k.startswith("ledger.f")}
        assert written - {"at_index"} == set(sites), "a text no failure uses, or the reverse"


def test_every_ledger_text_is_korean_in_ko_and_every_key_the_code_names_exists() -> None:
    ko, en = catalog("ko"), catalog("en")
    assert (LOCALES_DIR / "ko" / "LC_MESSAGES" / "ledger.po").is_file()
    assert ko.keys() == en.keys()
    assert all(HANGUL.search(text) for text in ko.values())
    named = {f"ledger.cli.note_{source}" for source in ("you", "server", "export")}
    for path in (ROOT / "ledger").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) not in parts and re.fullmatch(r"ledger(\.[a-z_]+){2,}", node.value):
                    named.add(node.value)
    assert "ledger.cli.ok" in named
    assert named <= ko.keys(), sorted(named - ko.keys())


def test_str_of_a_failure_stays_english() -> None:
    err = VerificationFailed("bad_signature", index=57, key="ttabok.gg.go.kr+c69ae796")
    assert str(err) == "index 57: the signature does not verify under ttabok.gg.go.kr+c69ae796"
    assert err.text("ko") == "항목 57번: 서명이 ttabok.gg.go.kr+c69ae796 키로 검증되지 않습니다"
    assert err.index == 57 and err.code == "bad_signature"


def _message_sites() -> dict[str, set[str]]:
    """Return {key: parameter names} of every `Message.of("ledger....", ...)` in ledger/."""
    sites: dict[str, set[str]] = {}
    for path in (ROOT / "ledger").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "of"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "Message"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                assert all(k.arg for k in node.keywords), f"{path.name}: name every parameter"
                sites.setdefault(str(node.args[0].value), set()).update(
                    str(k.arg) for k in node.keywords
                )
    return sites


def test_every_message_the_ledger_raises_or_prints_has_ko_and_en_with_its_parameters() -> None:
    sites = _message_sites()
    assert {"ledger.error.db_no_ledger", "ledger.error.root_mismatch"} <= set(sites)
    for locale in ("ko", "en"):
        texts = catalog(locale)
        for key, params in sorted(sites.items()):
            template = texts.get(key)
            assert template, f"{locale}: {key} has no text"
            assert set(PLACEHOLDER.findall(template)) == params, (locale, key, template)
            if locale == "ko":
                assert HANGUL.search(template), (key, template)


def test_an_error_raised_with_a_message_is_said_in_either_language_and_str_stays_english() -> None:
    from ledger.errors import MalformedEntry
    from ledger.errors import RootMismatch
    from ledger.messages import Message

    err = RootMismatch(expected=b"\x01", calculated=b"\x02", index=7)
    assert str(err) == "root mismatch at size 7: expected 01, calculated 02"
    assert err.text("ko") == "크기 7에서 루트 해시가 다릅니다: 기대한 값 01, 계산한 값 02"
    leaf = MalformedEntry(Message.of("ledger.error.root_mismatch", expected="a", calculated="b"),
                          index=3)  # fmt: skip
    assert str(leaf) == "index 3: root mismatch: expected a, calculated b"
    assert leaf.reason == "root mismatch: expected a, calculated b" and leaf.index == 3
    assert leaf.text("ko").startswith("항목 3번: 루트 해시가 다릅니다")
    plain = MalformedEntry("only a programmer reads this", index=2)
    assert plain.text("ko") == str(plain) == "index 2: only a programmer reads this"
