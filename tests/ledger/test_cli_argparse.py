"""argparse's own texts in `python -m ledger` follow the command's language.

A Korean reader who mistyped a command read 'error: the following arguments are required:
--out' or 'invalid choice', in English, around our Korean: argparse's messages were not ours.
"""

from __future__ import annotations

import argparse
import ast
import gettext
import re
from pathlib import Path

import pytest

from ledger.argparser import MESSAGES
from ledger.argparser import PLURALS
from ledger.argparser import PROGRAMMERS_ONLY
from ledger.argparser import speaking
from ledger.argparser import translations
from ledger.cli import main
from ledger.messages import catalog

HANGUL = re.compile(r"[\uac00-\ud7a3]")
# argparse's English that must not reach a Korean reader
ENGLISH = ("usage:", "error:", "options:", "required", "invalid choice", "unrecognized",
           "show this help", "expected one argument", "choose from")  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "ko", "en"),
    [
        (
            ["keygen", "--name", "x"],
            "다음 인자가 필요합니다: --out",
            "the following arguments are required: --out",
        ),
        (
            ["verfy"],
            "인자 COMMAND: 고를 수 없는 값입니다: 'verfy'",
            "argument COMMAND: invalid choice: 'verfy' (choose from 'keygen', 'export', 'verify')",
        ),
        (
            ["verify", "somewhere", "--bogus"],
            "알 수 없는 인자입니다: --bogus",
            "unrecognized arguments: --bogus",
        ),
        (
            ["verify", "somewhere", "--processes"],
            "인자 --processes: 값이 하나 필요합니다",
            "argument --processes: expected one argument",
        ),
        (
            ["verify", "somewhere", "--processes", "two"],
            "인자 --processes: int 값으로 읽을 수 없습니다: 'two'",
            "argument --processes: invalid int value: 'two'",
        ),
    ],
    ids=["missing argument", "invalid choice", "unknown option", "no value", "bad type"],
)
def test_a_usage_error_is_argparse_in_the_chosen_language(
    argv: list[str], ko: str, en: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and ko in err, err
    assert err.startswith("사용법: python -m ledger") and "python -m ledger" in err, err
    assert not any(word in err for word in ENGLISH), err
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--locale", "en"] if argv[0] != "verfy" else ["--locale", "en", *argv])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and en in err and "usage: python -m ledger" in err, err
    assert not HANGUL.search(err), err


@pytest.mark.parametrize("argv", [["--help"], ["verify", "--help"]])
def test_help_is_in_the_chosen_language(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith("사용법: python -m ledger") and "옵션:" in out, out
    assert "-h, --help" in out and "이 도움말을 보여 주고 끝냅니다" in out, out
    assert not any(word in out for word in ENGLISH), out
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--locale", "en"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith("usage: python -m ledger") and "options:" in out, out
    assert "show this help message and exit" in out and not HANGUL.search(out), out


def test_argparse_is_left_as_it_was_for_everyone_else(capsys: pytest.CaptureFixture[str]) -> None:
    """Only the CLI's own calls speak Korean: the test process (or the web app) that runs or
    imports it keeps argparse and gettext as Python set them up."""
    domain = gettext.textdomain()
    with pytest.raises(SystemExit):
        main(["keygen"])
    capsys.readouterr()
    assert vars(argparse)["_"] is gettext.gettext
    assert vars(argparse)["ngettext"] is gettext.ngettext
    assert gettext.textdomain() == domain
    plain = argparse.ArgumentParser(prog="plain")
    with pytest.raises(SystemExit):
        plain.parse_args(["--nope"])
    assert "usage: plain" in capsys.readouterr().err
    with speaking("ko"), pytest.raises(SystemExit):
        argparse.ArgumentParser(prog="plain").parse_args(["--nope"])
    assert "사용법: plain" in capsys.readouterr().err
    assert vars(argparse)["_"] is gettext.gettext


def _argparse_messages() -> set[str]:
    """Return every message argparse looks up through gettext (`_()`, `ngettext()`)."""
    tree = ast.parse(Path(argparse.__file__).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("_", "ngettext"):
                for arg in node.args[: 1 if node.func.id == "_" else 2]:
                    # _('...'), or _(kwargs.pop('title', 'subcommands')): the default
                    said = arg.args[1:] if isinstance(arg, ast.Call) else [arg]
                    for part in said:
                        if isinstance(part, ast.Constant) and isinstance(part.value, str):
                            found.add(part.value)
    return found


def test_every_message_of_this_pythons_argparse_is_translated_or_a_programmers() -> None:
    """A newer Python's argparse that says something new fails here, not in front of a
    reader: each message has a key with the same placeholders, or is a programmer's error."""
    looked_up = _argparse_messages()
    assert "the following arguments are required: %s" in looked_up
    assert looked_up - set(MESSAGES) - set(PLURALS) - PROGRAMMERS_ONLY == set()
    keys = [*MESSAGES.values(), *(key for pair in PLURALS.values() for key in pair)]
    for locale in ("ko", "en"):
        assert all(key in catalog(locale) for key in keys), locale


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_each_translation_formats_as_argparse_formats_it(locale: str) -> None:
    t = translations(locale)
    named = re.compile(r"%\((\w+)\)[sr]")
    shaped = [(e, t.gettext(e)) for e in MESSAGES]
    shaped += [(e, t.ngettext(e, e + "s", 1)) for e in PLURALS]
    shaped += [(e + "s", t.ngettext(e, e + "s", 2)) for e in PLURALS]
    for english, said in shaped:
        if named.search(english):
            assert set(named.findall(said)) == set(named.findall(english)), (english, said)
            said % dict.fromkeys(named.findall(english), "x")
        else:
            count = len(re.findall(r"%[sr]", english))
            assert len(re.findall(r"%[sr]", said)) == count, (english, said)
            said % (("x",) * count)
        if locale == "en":
            assert said == english, said
        else:
            assert HANGUL.search(said), said
