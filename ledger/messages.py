"""The ledger's own texts for people: the `ledger` gettext domain, Korean first, English second.

`python -m ledger` is what an outsider runs to check the public ledger, so what it prints comes
from catalogs, `ledger/locales/<locale>/LC_MESSAGES/ledger.po` (ids are dotted keys, placeholders
`%(name)s`; `make i18n` checks them with the project's other domains). The ledger is the bottom
layer and imports nothing of ours, so it reads its catalogs itself (Babel's .po reader, as
`i18n.catalog` does; the project commits no compiled .mo files and an outsider does not run make).

A :class:`Message` is a key and its parameters; a parameter that is itself a Message is put in
the same language. `str(message)` is the English text, for logs and existing callers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES: tuple[str, ...] = ("ko", "en")
DEFAULT_LOCALE = "ko"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "ledger"


@functools.cache
def catalog(locale: str) -> Mapping[str, str]:
    """Return ``{key: template}`` of the `ledger` domain in `locale` (empty if it has none)."""
    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale not in LOCALES or not path.is_file():
        return {}
    with path.open("rb") as handle:
        po = read_po(handle)
    out: dict[str, str] = {}
    for message in po:
        if message.id and isinstance(message.id, str) and isinstance(message.string, str):
            if message.string:
                out[message.id] = message.string
    return out


def text(locale: str, key: str, /, **params: object) -> str:
    """Return message `key` in `locale` with `params` filled in (Messages in the same locale).

    A key missing from `locale` falls back to English, then to the key itself (tests keep
    both catalogs complete)."""
    template = catalog(locale).get(key) or catalog("en").get(key) or key
    if not params:
        return template
    values = {k: v.text(locale) if isinstance(v, Message) else v for k, v in params.items()}
    try:
        return template % values
    except (KeyError, ValueError, TypeError):
        return f"{template} {values}"


@dataclass(frozen=True, slots=True)
class Message:
    """A text for people, not yet put in a language: a catalog key and its parameters."""

    key: str
    params: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, key: str, /, **params: object) -> Message:
        """Return the message `key` with `params`."""
        return cls(key, tuple(sorted(params.items())))

    def text(self, locale: str) -> str:
        """Return this message in `locale`."""
        return text(locale, self.key, **dict(self.params))

    def __str__(self) -> str:
        return self.text("en")


def locale_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """Return `en` when the first set of LC_ALL, LC_MESSAGES, LANG names English, else `ko`."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            base = value.lower().split(".")[0].split("_")[0].split("-")[0]
            return base if base in LOCALES else DEFAULT_LOCALE
    return DEFAULT_LOCALE
