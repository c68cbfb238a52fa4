"""The commands' help is wrapped and aligned in terminal columns, not characters.

argparse measures with len() and textwrap: a Hangul syllable counts one, but a terminal gives
it two columns, so the Korean help of `python -m ledger`, `python -m participation tally` and
`python -m gateway` ran to nearly twice the terminal's width, and a Korean metavar pushed its
option's help out of line. English is as argparse writes it.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

import ledger.argparser
from gateway.__main__ import main as gateway_main
from ledger.argparser import Parser
from ledger.cli import main as ledger_main
from participation.__main__ import main as participation_main

HANGUL = re.compile(r"[\uac00-\ud7a3]")
WIDTH = 60  # COLUMNS; argparse wraps at COLUMNS - 2


def columns(line: str) -> int:
    """The terminal columns `line` takes: wide and fullwidth 2, combining marks 0."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in line
    )


Main = Callable[[list[str]], object]
HELPS: list[tuple[Main, list[str]]] = [
    (ledger_main, []),
    (ledger_main, ["keygen"]),
    (ledger_main, ["export"]),
    (ledger_main, ["verify"]),
    (participation_main, []),
    (participation_main, ["tally"]),
    (gateway_main, []),
    (gateway_main, ["web"]),
    (gateway_main, ["migrate"]),
    (gateway_main, ["round"]),
    (gateway_main, ["round", "create"]),
    (gateway_main, ["round", "advance"]),
    (gateway_main, ["official", "grant"]),
    (gateway_main, ["onsite", "url"]),
    (gateway_main, ["deadletters"]),
    (gateway_main, ["deadletters", "replay"]),
]
IDS = [f"{run.__module__.split('.')[0]} {' '.join(argv)}".strip() for run, argv in HELPS]


@pytest.fixture(autouse=True)
def narrow_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    for name in ("DATABASE_URL", "REDIS_URL", "LEDGER_KEY_FILE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))


def helped(run: Main, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        run(argv)
    said = capsys.readouterr()
    assert exited.value.code == 0, said
    return said.out


@pytest.mark.parametrize(("run", "argv"), HELPS, ids=IDS)
def test_korean_help_fits_the_terminal(
    run: Main, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    said = helped(run, [*argv, "--locale", "ko", "--help"], capsys)
    assert said.startswith("사용법: ") and HANGUL.search(said), said
    wide = [line for line in said.splitlines() if columns(line) > WIDTH]
    assert not wide, said


@pytest.mark.parametrize(("run", "argv"), HELPS, ids=IDS)
def test_english_help_is_argparses_own(
    run: Main, argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    said = helped(run, [*argv, "--locale", "en", "--help"], capsys)
    monkeypatch.setattr(ledger.argparser, "HelpFormatter", argparse.HelpFormatter)
    assert said == helped(run, [*argv, "--locale", "en", "--help"], capsys)
    assert said.startswith("usage: ") and not HANGUL.search(said)


def test_the_help_is_measured_by_the_commands_formatter(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests above can fail: argparse's own formatter overruns the Korean lines."""
    monkeypatch.setattr(ledger.argparser, "HelpFormatter", argparse.HelpFormatter)
    said = helped(ledger_main, ["verify", "--locale", "ko", "--help"], capsys)
    assert any(columns(line) > WIDTH for line in said.splitlines()), said


def example(locale: str = "ko") -> Parser:
    parser = Parser(prog="prog", locale=locale)
    parser.add_argument("--mode", metavar="방식", help="처리할 방식을 골라요")
    parser.add_argument("--name", metavar="이름이름이름", help="이름을 적어요")
    parser.add_argument("--x", help="짧은 옵션이에요")
    parser.add_argument("파일", nargs="*", help="읽을 파일들이에요")
    return parser


def test_korean_invocations_line_their_help_up() -> None:
    """Each option's help starts in the same column, whatever its metavar's width."""
    said = example().format_help()
    lines = said.splitlines()
    starts = {
        columns(line[: line.index(help_text)])
        for help_text in ("처리할", "이름을 적어요", "짧은 옵션", "읽을 파일들", "이 도움말")
        for line in lines
        if help_text in line
    }
    assert len(starts) == 1, said
    assert "  --mode 방식          처리할 방식을 골라요\n" in said, said
    assert "  --name 이름이름이름  이름을 적어요\n" in said, said


def test_a_korean_usage_wraps_in_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A usage line that must wrap: wrapped at the width in columns, continued under the
    first option (below '사용법: prog ', 8 + 5 columns)."""
    monkeypatch.setenv("COLUMNS", "42")  # 40 columns
    said = example().format_usage()
    assert said == (
        "사용법: prog [-h] [--mode 방식]\n"
        "             [--name 이름이름이름]\n"
        "             [--x X]\n"
        "             [파일 ...]\n"
    ), said
    assert all(columns(line) <= 40 for line in said.splitlines())


def test_a_long_korean_word_is_cut_in_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A word wider than the help column is cut where the columns run out, as textwrap cuts
    an English one; combining marks take no column."""
    monkeypatch.setenv("COLUMNS", "42")
    parser = Parser(prog="prog", locale="ko")
    parser.add_argument("--x", help="가" * 30 + " e\u0301" * 3)
    said = parser.format_help()
    help_lines = [line for line in said.splitlines() if "가" in line or "e\u0301" in line]
    assert all(columns(line) <= 40 for line in help_lines), said
    assert [columns(line) for line in help_lines[:-1]] == [40] * (len(help_lines) - 1), said
    assert "".join(line[14:] for line in help_lines) == "가" * 30 + " e\u0301" * 3, said


def test_english_with_the_same_parser_is_argparses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "42")
    parser = Parser(prog="prog", locale="en", description="word " * 30, epilog="the end " * 9)
    parser.add_argument("--a-rather-long-option-name", metavar="VALUE", help="some help " * 9)
    parser.add_argument("--mode", choices=["one", "two"], help="well-hyphenated-words " * 4)
    parser.add_argument("files", nargs="+", help="files")
    own = parser.format_help(), parser.format_usage()
    parser.formatter_class = argparse.HelpFormatter
    assert own == (parser.format_help(), parser.format_usage())
