"""`python -m participation tally`: argparse's own texts, and the help, in the command's
language (Korean first; `--locale en`, or an English LC_ALL/LC_MESSAGES/LANG, for English).

A Korean reader who mistyped the command read 'error: the following arguments are required:
export' in English, as every argparse message and every help line was.
"""

from __future__ import annotations

import re

import pytest

from i18n import Catalog
from participation.__main__ import main

CATALOG = Catalog.load()
HANGUL = re.compile(r"[\uac00-\ud7a3]")
ENGLISH = ("usage:", "error:", "options:", "required", "invalid choice", "unrecognized",
           "show this help", "recompute", "directory holding", "also write")  # fmt: skip


@pytest.fixture(autouse=True)
def korean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv, CATALOG)
    said = capsys.readouterr()
    return exited.value.code, said.out + said.err


@pytest.mark.parametrize(
    ("argv", "ko", "en"),
    [
        (
            ["tally"],
            "다음 인자가 필요합니다: export",
            "the following arguments are required: export",
        ),
        (
            ["tally", "x", "--csv"],
            "인자 --csv: 값이 하나 필요합니다",
            "argument --csv: expected one argument",
        ),
        (
            ["tally", "x", "--bogus"],
            "알 수 없는 인자입니다: --bogus",
            "unrecognized arguments: --bogus",
        ),
        (
            ["tal"],
            "인자 command: 고를 수 없는 값입니다: 'tal'",
            "argument command: invalid choice: 'tal' (choose from 'tally')",
        ),
    ],
    ids=["missing argument", "no value", "unknown option", "invalid choice"],
)
def test_a_usage_error_is_in_the_chosen_language(
    argv: list[str], ko: str, en: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = run(argv, capsys)
    assert code == 2 and ko in said and said.startswith("사용법: python -m participation"), said
    assert not any(word in said for word in ENGLISH), said
    code, said = run(["--locale", "en", *argv], capsys)
    assert code == 2 and en in said and said.startswith("usage: python -m participation"), said
    assert not HANGUL.search(said), said


def test_a_bad_locale_is_said_in_the_environments_language(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, said = run(["tally", "x", "--locale", "fr"], capsys)
    assert code == 2 and "인자 --locale: 고를 수 없는 값입니다: 'fr'" in said, said
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    code, said = run(["tally", "x", "--locale", "fr"], capsys)
    assert code == 2, said
    assert "argument --locale: invalid choice: 'fr' (choose from 'ko', 'en')" in said, said


def test_an_english_environment_speaks_english(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    code, said = run(["tally"], capsys)
    assert code == 2 and "the following arguments are required: export" in said, said
    code, said = run(["tally", "--locale", "ko"], capsys)
    assert code == 2 and "다음 인자가 필요합니다: export" in said, said


@pytest.mark.parametrize("argv", [["--help"], ["tally", "--help"]])
def test_help_is_in_the_chosen_language(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = run(argv, capsys)
    assert code == 0 and said.startswith("사용법: python -m participation"), said
    assert "옵션:" in said and "이 도움말을 보여 주고 끝냅니다" in said, said
    assert not any(word in said for word in ENGLISH), said
    code, said = run([*argv, "--locale", "en"], capsys)
    assert code == 0 and said.startswith("usage: python -m participation"), said
    assert "options:" in said and "show this help message and exit" in said, said
    assert not HANGUL.search(said), said
    if argv[0] == "tally":
        assert "directory holding entries.jsonl" in said, said
