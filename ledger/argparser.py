"""argparse's own texts ("usage:", "options:", "error: the following arguments are required")
in the reader's language, for the project's command lines (`python -m ledger`, and the
`participation` and `gateway` commands, which import this module: the ledger is below them).

argparse looks up each of its messages when it says it, through the two names it imported
from gettext (`from gettext import gettext as _, ngettext`). Python's intended route is a
process-wide text domain (`gettext.textdomain`, `bindtextdomain`) over compiled .mo files, in
the language of LANGUAGE/LC_ALL/LC_MESSAGES/LANG. That does not fit these commands: their
language is `--locale` as much as the environment (it would mean rewriting os.environ, which
the verifier's worker processes inherit); the project keeps .po files only and an outsider does
not run make; the domain stays set for the whole process (a test, or the web app, that runs a
command's `main` would be left in it); and the msgids would be argparse's English sentences
with positional `%s`, which `make i18n` rightly refuses in our catalogs. Subclassing alone does
not reach far: most usage errors are built inside `_parse_known_args`, 250 lines of private
code a subclass would have to copy for each Python version.

So :func:`speaking` gives argparse a :class:`Translations` (a `gettext.NullTranslations` over
the `ledger` catalog, keys `ledger.argparse.*`) while a command's parser is built, parses,
formats its help or reports an error, and puts gettext's own functions back afterwards. Every
message argparse looks up is reached, whatever its internals; one it does not know (a newer
Python's) stays English, and `tests/ledger/test_cli_argparse.py` lists what this Python's
argparse can say. :class:`Parser` is an ArgumentParser whose own calls do that, for a
command's whole life (`parser.error(...)` after parsing too). While one is speaking, another
thread's argparse would speak its language: the commands parse on their main thread only.
"""

from __future__ import annotations

import argparse
import functools
import gettext
import re
import threading
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any
from typing import NoReturn

from ledger.messages import LOCALES
from ledger.messages import text

# argparse's msgid (exactly as argparse.py writes it) -> our key in ledger.po. Named
# placeholders stay named; a positional one (`%s`, `%r`) is named in the catalog, as
# `make i18n` asks, and turned back into a positional one for argparse (see `gettext`).
MESSAGES: dict[str, str] = {
    "usage: ": "ledger.argparse.usage",
    "positional arguments": "ledger.argparse.positional_arguments",
    "options": "ledger.argparse.options",
    "show this help message and exit": "ledger.argparse.help",
    "subcommands": "ledger.argparse.subcommands",
    "%(prog)s: error: %(message)s\n": "ledger.argparse.error",
    "argument %(argument_name)s: %(message)s": "ledger.argparse.argument",
    "the following arguments are required: %s": "ledger.argparse.required",
    "one of the arguments %s is required": "ledger.argparse.one_required",
    "not allowed with argument %s": "ledger.argparse.not_allowed_with",
    "unrecognized arguments: %s": "ledger.argparse.unrecognized",
    "ignored explicit argument %r": "ledger.argparse.ignored_explicit",
    "ambiguous option: %(option)s could match %(matches)s": "ledger.argparse.ambiguous",
    "invalid choice: %(value)r (choose from %(choices)s)": "ledger.argparse.invalid_choice",
    "invalid %(type)s value: %(value)r": "ledger.argparse.invalid_type",
    "expected one argument": "ledger.argparse.expected_one",
    "expected at most one argument": "ledger.argparse.expected_at_most_one",
    "expected at least one argument": "ledger.argparse.expected_at_least_one",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "ledger.argparse.unknown_parser",
    "can't open '%(filename)s': %(error)s": "ledger.argparse.cannot_open",
}
# argparse's ngettext msgids (singular) -> our keys for n == 1 and for any other n
PLURALS: dict[str, tuple[str, str]] = {
    "expected %s argument": (
        "ledger.argparse.expected_count_one",
        "ledger.argparse.expected_count_other",
    ),
}
# What only a programmer meets (a parser built wrongly), or argparse says cannot happen:
# left in English on purpose.
PROGRAMMERS_ONLY: frozenset[str] = frozenset(
    {
        "expected %s arguments",  # the plural of "expected %s argument" (PLURALS)
        "conflicting subparser: %s",
        "conflicting subparser alias: %s",
        'argument "-" with mode %r',
        "cannot merge actions - two groups are named %r",
        "'required' is an invalid argument for positionals",
        "invalid option string %(option)r: must start with a character %(prefix_chars)r",
        "dest= is required for options like %r",
        "invalid conflict_resolution value: %r",
        "conflicting option string: %s",
        "conflicting option strings: %s",
        "mutually exclusive arguments must be optional",
        "cannot have multiple subparser arguments",
        "unexpected option string: %s",  # "shouldn't ever get here"
        "%r is not callable",
        ".__call__() not defined",
    }
)
_NAMED = re.compile(r"%\((\w+)\)([sr])")
_POSITIONAL = re.compile(r"%[sr]")


class Translations(gettext.NullTranslations):
    """argparse's messages in one of :data:`ledger.messages.LOCALES`; others pass through."""

    def __init__(self, locale: str) -> None:
        super().__init__()
        self.locale = locale

    def gettext(self, message: str) -> str:
        key = MESSAGES.get(message) if isinstance(message, str) else None
        return message if key is None else self._said(message, text(self.locale, key))

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        english = msgid1 if n == 1 else msgid2
        keys = PLURALS.get(msgid1)
        if keys is None:
            return english
        return self._said(english, text(self.locale, keys[0] if n == 1 else keys[1]))

    @staticmethod
    def _said(english: str, template: str) -> str:
        """Return `template` shaped as argparse formats `english`: its named placeholders,
        or positional ones in their place, and its final newline; English if it cannot be."""
        if not _NAMED.search(english):
            template = _NAMED.sub(r"%\2", template)
            if len(_POSITIONAL.findall(template)) != len(_POSITIONAL.findall(english)):
                return english
        elif {m[0] for m in _NAMED.findall(template)} != {m[0] for m in _NAMED.findall(english)}:
            return english
        return template + "\n" if english.endswith("\n") else template


def locale_of(argv: Sequence[str], default: str) -> str:
    """Return the `--locale` `argv` names (one of LOCALES), else `default`: the language to
    parse `argv` in, before it is parsed (a bad or missing value is left to the parser)."""
    early = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    early.add_argument("--locale")
    try:
        known, _ = early.parse_known_args(list(argv))
    except argparse.ArgumentError:  # `--locale` with no value
        return default
    return known.locale if known.locale in LOCALES else default


@functools.cache
def translations(locale: str) -> Translations:
    """Return argparse's messages in `locale` (English for a locale we do not have)."""
    return Translations(locale if locale in LOCALES else "en")


_LOCK = threading.RLock()


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    """Make argparse say its own messages in `locale` inside the block (re-entrant)."""
    said = translations(locale)
    names = vars(argparse)  # the module's globals, where its functions look `_` up
    with _LOCK:
        before = names["_"], names["ngettext"]
        names["_"], names["ngettext"] = said.gettext, said.ngettext
        try:
            yield
        finally:
            names["_"], names["ngettext"] = before


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that speaks `locale` in its own texts; its subparsers too."""

    def __init__(self, *args: Any, locale: str, **kwargs: Any) -> None:
        self.locale = locale
        with speaking(locale):
            super().__init__(*args, **kwargs)

    def add_subparsers(self, **kwargs: Any) -> Any:
        kwargs.setdefault("parser_class", functools.partial(type(self), locale=self.locale))
        with speaking(self.locale):
            return super().add_subparsers(**kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        with speaking(self.locale):
            return super().parse_known_args(args, namespace)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> argparse.Namespace:
        with speaking(self.locale):  # "unrecognized arguments" is said here
            parsed: argparse.Namespace = super().parse_args(args, namespace)
            return parsed

    def format_usage(self) -> str:
        with speaking(self.locale):
            return super().format_usage()

    def format_help(self) -> str:
        with speaking(self.locale):
            return super().format_help()

    def error(self, message: str) -> NoReturn:
        with speaking(self.locale):
            super().error(message)
