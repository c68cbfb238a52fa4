"""Gettext catalogs (.po, managed with Babel) loaded into one lookup table per locale.

Catalog files live in ``i18n/locales/<locale>/LC_MESSAGES/<domain>.po``; each package owns
one domain (``participation.po``, ``bot.po``, ``sandbox.po``, ``webhook.po``, ``gateway.po``)
so that their message ids never collide in one file. Message ids are stable dotted keys and
placeholders use Python's named format, ``%(title)s``, which Babel checks as python-format.

A Korean particle after a placeholder is written as a marker, ``'%(round)s'(은)는``,
``%(reason)s(으)로``, ``%(session)s(을)를``, ``(이)가``, ``(과)와``; :meth:`Catalog.text`
replaces it with the particle that follows the filled-in text (:func:`i18n.format.particle`:
``'주민 공모'는``, ``'주민제안'은``, ``중복으로``, ``서울로``), where a literal particle would
be wrong for every other value.

An English noun after a number is written ``{total:proposal|proposals}``: the first form when
the parameter ``total`` is 1 (``1,000`` and ``"1"`` are read as numbers), the second otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

from i18n.format import particle

DEFAULT_LOCALE = "ko"
LOCALES: tuple[str, ...] = ("ko", "en")
LOCALES_DIR = Path(__file__).resolve().parent / "locales"

# A particle marker in a template, and the pair of :data:`i18n.format.PARTICLES` it stands for.
_MARKER = re.compile(r"\((은|이|을|과|으)\)(는|가|를|와|로)")
_PAIR = {"은": "은/는", "이": "이/가", "을": "을/를", "과": "과/와", "으": "으로/로"}


_PLURAL = re.compile(r"\{(\w+):([^|{}]*)\|([^{}]*)\}")


def choose_plurals(template: str, params: Mapping[str, object]) -> str:
    """Replace every ``{name:one|other}`` by ``one`` when ``params[name]`` is 1, else ``other``."""
    if "{" not in template:
        return template

    def form(m: re.Match[str]) -> str:
        value = str(params.get(m.group(1), "")).replace(",", "").strip()
        return m.group(2) if value in ("1", "-1") else m.group(3)

    return _PLURAL.sub(form, template)


def attach_particles(text: str) -> str:
    """Replace every particle marker (``(은)는``...) by the particle the text before it takes."""
    if "(" not in text:
        return text
    return _MARKER.sub(lambda m: particle(text[: m.start()], _PAIR[m.group(1)]), text)


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
            return attach_particles(choose_plurals(template, params) % params)
        except (KeyError, ValueError, TypeError):
            return template
