"""`python -m gateway`: the help lines come from the catalogs (Korean, or English), and
`--locale ko|en` chooses the language of the help and usage errors, before the command or
after it, as in `python -m ledger` and `python -m participation tally`.

The role descriptions and the operators' option help (rounds.py, deadletters.py) were
English under Korean headings; the language came only from LC_ALL/LC_MESSAGES/LANG.
"""

from __future__ import annotations

import argparse
import gettext
import re

import pytest

from gateway.__main__ import main
from i18n.catalog import Catalog

HANGUL = re.compile(r"[\uac00-\ud7a3]")
CATALOG = Catalog.load()

# each --help, and the help lines (gateway.cli.help.*) it shows
HELPS: dict[tuple[str, ...], tuple[str, ...]] = {
    (): ("description", "operators", "locale", "web", "worker", "clock", "run", "migrate"),
    ("web",): ("web", "locale"),
    ("worker",): ("worker", "locale"),
    ("clock",): ("clock", "locale"),
    ("run",): ("run", "locale"),
    ("migrate",): ("migrate", "locale"),
    ("round",): ("round", "round_create", "round_list", "round_advance", "locale"),
    ("round", "create"): ("round_create", "file", "round_id", "open", "official", "locale"),
    ("round", "list"): ("round_list", "locale"),
    ("round", "advance"): ("round_advance", "advanced", "official", "locale"),
    ("official",): ("official_group", "official_grant", "locale"),
    ("official", "grant"): ("official_grant", "user_id", "locale"),
    ("onsite",): ("onsite", "onsite_url", "locale"),
    ("onsite", "url"): ("onsite_url", "session", "bot", "locale"),
    ("deadletters",): ("deadletters", "deadletters_list", "deadletters_replay", "locale"),
    ("deadletters", "list"): ("deadletters_list", "raw", "locale"),
    ("deadletters", "replay"): ("deadletters_replay", "ids", "all", "locale"),
    ("deadletters", "drop"): ("deadletters_drop", "ids", "all", "locale"),
}
# the English help lines the commands had before the catalogs (none may be left)
OLD_ENGLISH = ("the process entry points", "operators:", "the Flask app on werkzeug",
               "one update worker", "the scheduler and update feeder", "everything in one",
               "apply the Alembic", "create, list and advance", "TOML rules file",
               "round id", "also open it", "acting official", "list rounds with",
               "next phase", "appoint the first", "Telegram user id", "projector link",
               "the bot's username", "gave up on", "one line per dead letter",
               "raw update", "apply again", "dead letters", "every dead letter")  # fmt: skip


@pytest.fixture(autouse=True)
def nothing_made(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A usage error answers before settings are read (tests/gateway/test_main.py)."""
    for name in ("DATABASE_URL", "REDIS_URL", "LEDGER_KEY_FILE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "2000")  # no wrapping: the help lines read as written


def run(argv: list[str], lang: str, capsys, monkeypatch) -> tuple[int | str | None, str]:
    monkeypatch.setenv("LANG", lang)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    said = capsys.readouterr()
    assert vars(argparse)["_"] is gettext.gettext  # argparse as Python set it up
    return exited.value.code, said.out + said.err


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", list(HELPS), ids=lambda c: " ".join(c) or "top")
def test_every_help_line_is_in_the_readers_language(command, capsys, monkeypatch):
    code, said = run([*command, "--help"], "ko_KR.UTF-8", capsys, monkeypatch)
    assert code == 0 and said.startswith("사용법: python -m gateway"), said
    for key in HELPS[command]:
        assert flat(CATALOG.text("ko", f"gateway.cli.help.{key}")) in flat(said), key
    assert not [old for old in OLD_ENGLISH if old in said], said
    code, said = run([*command, "--help"], "en_US.UTF-8", capsys, monkeypatch)
    assert code == 0 and said.startswith("usage: python -m gateway"), said
    for key in HELPS[command]:
        assert flat(CATALOG.text("en", f"gateway.cli.help.{key}")) in flat(said), key
    assert not HANGUL.search(said), said


def placed(option: list[str], argv: list[str]) -> list[list[str]]:
    """`argv` with `option` before the command, after it, and as `--locale=...`."""
    joined = [f"{option[0]}={option[1]}"]
    return [[*option, *argv], [*argv, *option], [*joined, *argv], [*argv, *joined]]


@pytest.mark.parametrize(
    ("argv", "code", "ko", "en"),
    [
        ([], 2, "다음 인자가 필요합니다: ROLE", "the following arguments are required: ROLE"),
        (["web", "--bogus"], 2, "알 수 없는 인자입니다: --bogus",
         "unrecognized arguments: --bogus"),
        (["round", "create"], 2, "다음 인자가 필요합니다: file",
         "the following arguments are required: file"),
        (["official", "grant", "--user-id", "x"], 2, "int 값으로 읽을 수 없습니다",
         "invalid int value: 'x'"),
        (["deadletters", "list", "--raw"], 2, "값이 하나 필요합니다", "expected one argument"),
        (["--help"], 0, "옵션:", "options:"),
        (["worker", "--help"], 0, "옵션:", "options:"),
        (["round", "advance", "--help"], 0, "옵션:", "options:"),
        (["deadletters", "replay", "--help"], 0, "옵션:", "options:"),
    ],
    ids=["missing role", "unknown option", "missing argument", "bad int", "no value",
         "help", "role's help", "operator's help", "deadletters' help"],
)  # fmt: skip
def test_locale_chooses_the_language_before_or_after_the_command(
    argv, code, ko, en, capsys, monkeypatch
):
    for given in placed(["--locale", "en"], argv):
        got, said = run(given, "ko_KR.UTF-8", capsys, monkeypatch)  # the environment: Korean
        assert got == code and en in said and said.startswith("usage: python -m gateway"), said
        assert not HANGUL.search(said), (given, said)
    for given in placed(["--locale", "ko"], argv):
        got, said = run(given, "en_US.UTF-8", capsys, monkeypatch)  # the environment: English
        assert got == code and ko in said and said.startswith("사용법: python -m gateway"), said
        assert "usage:" not in said and "options:" not in said, (given, said)


@pytest.mark.parametrize(
    "argv",
    [["--locale", "fr", "web"], ["web", "--locale", "fr"], ["--locale", "fr", "round", "list"],
     ["deadletters", "drop", "--all", "--locale", "fr"], ["--locale"], ["round", "--locale"]],
    ids=["before a role", "after a role", "before an operator's command",
         "after an operator's command", "no value", "no value after a command"],
)  # fmt: skip
def test_a_bad_locale_is_a_usage_error_in_the_environments_language(argv, capsys, monkeypatch):
    code, said = run(argv, "ko_KR.UTF-8", capsys, monkeypatch)
    assert code == 2 and said.startswith("사용법: python -m gateway"), said
    assert "'fr'" in said or "값이 하나 필요합니다" in said, said
    code, said = run(argv, "en_US.UTF-8", capsys, monkeypatch)
    assert code == 2 and said.startswith("usage: python -m gateway"), said
    assert "invalid choice: 'fr'" in said or "expected one argument" in said, said
