"""`python -m gateway`: argparse's own texts in the operator's language, Korean unless
LC_ALL, LC_MESSAGES or LANG names English (or `--locale` says: tests/gateway/test_main_locale.py).

An operator who mistyped `round creat` read 'error: argument verb: invalid choice' in English.
"""

from __future__ import annotations

import argparse
import gettext
import re

import pytest

from gateway.__main__ import main

HANGUL = re.compile(r"[\uac00-\ud7a3]")
ENGLISH = ("usage:", "error:", "options:", "required", "invalid choice", "unrecognized",
           "show this help", "expected one argument", "invalid int value")  # fmt: skip


@pytest.fixture(autouse=True)
def nothing_made(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A usage error answers before settings are read (tests/gateway/test_main.py)."""
    for name in ("DATABASE_URL", "REDIS_URL", "LEDGER_KEY_FILE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))


def run(argv: list[str], lang: str, capsys, monkeypatch) -> tuple[int | str | None, str]:
    monkeypatch.setenv("LANG", lang)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    said = capsys.readouterr()
    return exited.value.code, said.out + said.err


@pytest.mark.parametrize(
    ("argv", "ko", "en"),
    [
        ([], "다음 인자가 필요합니다: ROLE", "the following arguments are required: ROLE"),
        (["wrker"], "인자 ROLE: 고를 수 없는 값입니다: 'wrker'",
         "argument ROLE: invalid choice: 'wrker' (choose from"),
        (["web", "--bogus"], "알 수 없는 인자입니다: --bogus", "unrecognized arguments: --bogus"),
        (["round", "create"], "다음 인자가 필요합니다: file",
         "the following arguments are required: file"),
        (["round", "creat"], "고를 수 없는 값입니다: 'creat'", "invalid choice: 'creat'"),
        (["round", "list", "--bogus"], "알 수 없는 인자입니다: --bogus",
         "unrecognized arguments: --bogus"),
        (["official", "grant", "--user-id", "x"], "인자 --user-id: int 값으로 읽을 수 없습니다",
         "argument --user-id: invalid int value: 'x'"),
        (["deadletters", "list", "--raw"], "인자 --raw: 값이 하나 필요합니다",
         "argument --raw: expected one argument"),
        (["deadletters", "relay"], "고를 수 없는 값입니다: 'relay'", "invalid choice: 'relay'"),
    ],
    ids=["missing role", "invalid role", "unknown option", "missing argument",
         "invalid verb", "operator's unknown option", "bad int", "no value", "deadletters verb"],
)  # fmt: skip
def test_a_usage_error_is_in_the_environments_language(argv, ko, en, capsys, monkeypatch):
    code, said = run(argv, "ko_KR.UTF-8", capsys, monkeypatch)
    assert code == 2 and ko in said and said.startswith("사용법: python -m gateway"), said
    assert "사용법 오류: " in said and not any(word in said for word in ENGLISH), said
    code, said = run(argv, "en_US.UTF-8", capsys, monkeypatch)
    assert code == 2 and en in said and said.startswith("usage: python -m gateway"), said
    assert not HANGUL.search(said), said
    assert vars(argparse)["_"] is gettext.gettext  # as Python set it up, for everyone else


@pytest.mark.parametrize(
    "argv", [["--help"], ["web", "--help"], ["round", "create", "--help"],
             ["deadletters", "list", "--help"]],
)  # fmt: skip
def test_help_headings_are_in_the_environments_language(argv, capsys, monkeypatch):
    code, said = run(argv, "C.UTF-8", capsys, monkeypatch)  # not English: Korean
    assert code == 0 and said.startswith("사용법: python -m gateway"), said
    assert "옵션:" in said and "이 도움말을 보여 주고 끝냅니다" in said, said
    assert "usage:" not in said and "options:" not in said, said
    code, said = run(argv, "en_US.UTF-8", capsys, monkeypatch)
    assert code == 0 and said.startswith("usage: python -m gateway"), said
    assert "show this help message and exit" in said and not HANGUL.search(said), said
