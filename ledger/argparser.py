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

argparse measures its help with len() and textwrap, in characters; a terminal gives a Hangul
syllable (and any East Asian wide character) two columns, so Korean help ran to nearly twice
the terminal's width. :class:`HelpFormatter`, every :class:`Parser`'s, measures in columns
(:func:`columns`). Text that is one column a character (all English) is left to argparse's
own methods, so English help is argparse's to the byte.
"""

from __future__ import annotations

import argparse
import functools
import gettext
import re
import threading
import unicodedata
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


def _column(char: str) -> int:
    code = ord(char)
    if unicodedata.combining(char) or 0x1160 <= code <= 0x11FF or 0xD7B0 <= code <= 0xD7FF:
        return 0  # combining marks, and Hangul jamo vowels and finals after a leading one
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def columns(text: str) -> int:
    """Return the terminal columns `text` takes: East Asian wide and fullwidth characters 2,
    combining marks 0, others 1."""
    return len(text) if text.isascii() else sum(map(_column, text))


def _narrow(*texts: str) -> bool:
    """Whether each character of `texts` takes one column (len() measures them right)."""
    return all(text.isascii() or all(_column(c) == 1 for c in text) for text in texts)


def _cut(word: str, width: int) -> list[str]:
    """Return `word` cut in pieces of at most `width` columns (one character at least)."""
    pieces, piece, used = [], "", 0
    for char in word:
        if piece and used + _column(char) > width:
            pieces.append(piece)
            piece, used = "", 0
        piece, used = piece + char, used + _column(char)
    return [*pieces, piece]


def wrap(text: str, width: int) -> list[str]:
    """Return `text` (its whitespace runs already single spaces) in lines of at most `width`
    columns, broken at spaces; a word wider than a line is cut where the columns run out
    (as textwrap cuts one in characters)."""
    width = max(width, 1)
    lines: list[str] = []
    line, used = "", 0
    for word in text.split():
        wide = columns(word)
        if line and used + 1 + wide <= width:
            line, used = f"{line} {word}", used + 1 + wide
            continue
        if line:
            lines.append(line)
        *whole, line = _cut(word, width)
        lines.extend(whole)
        used = columns(line)
    return [*lines, line] if line else lines


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter measuring in terminal columns (:func:`columns`).

    argparse measures in four places: the help and the descriptions it wraps (`_split_lines`,
    `_fill_text`), the widest invocation (`add_argument`), the padding of an invocation before
    its help (`_format_action`), and the wrapping of the usage (`_format_usage`). Each is
    argparse's own (Python 3.11's) for one-column text, and its logic in columns otherwise."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        if _narrow(text):
            return super()._split_lines(text, width)
        return wrap(self._whitespace_matcher.sub(" ", text).strip(), width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if _narrow(text, indent):
            return super()._fill_text(text, width, indent)
        text = self._whitespace_matcher.sub(" ", text).strip()
        return "\n".join(indent + line for line in wrap(text, width - columns(indent)))

    def add_argument(self, action: argparse.Action) -> None:
        widest = self._action_max_length
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS:
            invocations = [self._format_action_invocation(action)]
            invocations += map(self._format_action_invocation,
                               self._iter_indented_subactions(action))  # fmt: skip
            if not _narrow(*invocations):
                length = max(map(columns, invocations)) + self._current_indent
                self._action_max_length = max(widest, length)

    def _format_action(self, action: argparse.Action) -> str:
        header = self._format_action_invocation(action)
        if _narrow(header):
            return super()._format_action(action)
        help_position = min(self._action_max_length + 2, self._max_help_position)
        help_width = max(self._width - help_position, 11)
        action_width = help_position - self._current_indent - 2
        indent = " " * self._current_indent
        if not action.help:  # no help: the invocation alone
            parts = [f"{indent}{header}\n"]
        elif columns(header) <= action_width:  # short: the help follows on its line
            parts = [indent + header + " " * (action_width - columns(header) + 2)]
            indent_first = 0
        else:  # long: the help starts on the next line
            parts = [f"{indent}{header}\n"]
            indent_first = help_position
        if action.help and action.help.strip():
            help_text = self._expand_help(action)
            if help_text:
                first, *more = self._split_lines(help_text, help_width)
                parts.append(" " * indent_first + first + "\n")
                parts += [" " * help_position + line + "\n" for line in more]
        elif not parts[0].endswith("\n"):
            parts.append("\n")
        for subaction in self._iter_indented_subactions(action):
            parts.append(self._format_action(subaction))
        return self._join_parts(parts)

    def _format_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any) -> str:
        prefix = vars(argparse)["_"]("usage: ") if prefix is None else prefix  # as argparse
        prog = str(self._prog)  # argparse: "%(prog)s" % dict(prog=self._prog)
        if usage is not None or not actions:
            return super()._format_usage(usage, actions, groups, prefix)
        optionals = [action for action in actions if action.option_strings]
        positionals = [action for action in actions if not action.option_strings]
        opt_usage = self._format_actions_usage(optionals, groups)
        pos_usage = self._format_actions_usage(positionals, groups)
        whole = self._format_actions_usage(optionals + positionals, groups)
        if _narrow(prefix, prog, whole):
            return super()._format_usage(usage, actions, groups, prefix)
        said = " ".join(s for s in (prog, whole) if s)
        text_width = self._width - self._current_indent
        if columns(prefix) + columns(said) > text_width:
            said = "\n".join(self._usage_lines(prefix, prog, opt_usage, pos_usage, text_width))
        return f"{prefix}{said}\n\n"

    @staticmethod
    def _usage_lines(
        prefix: str, prog: str, opt_usage: str, pos_usage: str, text_width: int
    ) -> list[str]:
        """argparse's wrapping of a usage (HelpFormatter._format_usage), in columns."""
        part_regexp = r"\(.*?\)+(?=\s|$)|\[.*?\]+(?=\s|$)|\S+"
        opt_parts = re.findall(part_regexp, opt_usage)
        pos_parts = re.findall(part_regexp, pos_usage)

        def get_lines(parts: list[str], indent: str, prefix: str | None = None) -> list[str]:
            lines: list[str] = []
            line: list[str] = []
            line_len = columns(indent if prefix is None else prefix) - 1
            for part in parts:
                if line_len + 1 + columns(part) > text_width and line:
                    lines.append(indent + " ".join(line))
                    line = []
                    line_len = columns(indent) - 1
                line.append(part)
                line_len += columns(part) + 1
            if line:
                lines.append(indent + " ".join(line))
            if prefix is not None:
                lines[0] = lines[0][len(indent) :]
            return lines

        if columns(prefix) + columns(prog) <= 0.75 * text_width:  # prog, then the parts
            indent = " " * (columns(prefix) + columns(prog) + 1)
            if opt_parts:
                return get_lines([prog, *opt_parts], indent, prefix) + get_lines(pos_parts, indent)
            if pos_parts:
                return get_lines([prog, *pos_parts], indent, prefix)
            return [prog]
        indent = " " * columns(prefix)  # a long prog on its own line
        lines = get_lines(opt_parts + pos_parts, indent)
        if len(lines) > 1:
            lines = get_lines(opt_parts, indent) + get_lines(pos_parts, indent)
        return [prog, *lines]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that speaks `locale` in its own texts; its subparsers too. Its help
    is measured in terminal columns (:class:`HelpFormatter`)."""

    def __init__(self, *args: Any, locale: str, **kwargs: Any) -> None:
        self.locale = locale
        kwargs.setdefault("formatter_class", HelpFormatter)
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
