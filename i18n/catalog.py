"""Gettext catalogs (.po, managed with Babel) loaded into one lookup table per locale.

Catalog files live in ``i18n/locales/<locale>/LC_MESSAGES/<domain>.po``; each package owns
one domain (``participation.po``, ``bot.po``, ``sandbox.po``, ``webhook.po``, ``gateway.po``)
so that their message ids never collide in one file. Message ids are stable dotted keys and
placeholders use Python's named format, ``%(title)s``, which Babel checks as python-format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

DEFAULT_LOCALE = "ko"
LOCALES: tuple[str, ...] = ("ko", "en")
LOCALES_DIR = Path(__file__).resolve().parent / "locales"


def locale_for(language_code: str | None, saved: str | None = None) -> str:
    """Return the person's saved locale, else the one their client reports, else Korean."""
    if saved in LOCALES:
        return saved
    if language_code:
        base = language_code.lower().split("-")[0].split("_")[0]
        if base in LOCALES:
            return base
    return DEFAULT_LOCALE


def read_domain(path: Path) -> dict[str, str]:
    """Return ``{key: translation}`` for one .po file, skipping the header and empty entries."""
    with path.open("rb") as handle:
        catalog = read_po(handle)
    out: dict[str, str] = {}
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        text = message.string if isinstance(message.string, str) else ""
        if text:
            out[message.id] = text
    return out


@dataclass(frozen=True)
class Catalog:
    """All messages of all domains, per locale. Build once with :meth:`load` and share."""

    messages: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalog:
        """Read every ``<locale>/LC_MESSAGES/*.po`` under ``directory``."""
        messages: dict[str, dict[str, str]] = {}
        for locale in LOCALES:
            table: dict[str, str] = {}
            for path in sorted((directory / locale / "LC_MESSAGES").glob("*.po")):
                table.update(read_domain(path))
            messages[locale] = table
        return cls(messages)

    def has(self, key: str, locale: str = DEFAULT_LOCALE) -> bool:
        """Return whether ``key`` has a translation in ``locale``."""
        return key in self.messages.get(locale, {})

    def text(self, locale: str, key: str, /, **params: object) -> str:
        """Return the message ``key`` in ``locale`` with ``params`` filled in.

        Falls back to Korean, then to the key itself, so a missing translation shows as a
        visible key rather than a crash (the catalog tests keep that from shipping).
        """
        template = self.messages.get(locale, {}).get(key)
        if template is None:
            template = self.messages.get(DEFAULT_LOCALE, {}).get(key, key)
        if not params:
            return template
        try:
            return template % params
        except (KeyError, ValueError, TypeError):
            return template
