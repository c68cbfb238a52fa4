"""Consistency checks of the gettext catalogs, run by ``python -m i18n check`` (``make i18n``).

For every domain file ``<locale>/LC_MESSAGES/<domain>.po`` of every locale in
:data:`i18n.catalog.LOCALES` it reports, one line per problem (``make i18n`` also checks
:data:`OWN_CATALOGS`, the catalogs of packages below this one that read their own domain):

* a domain file that one locale has and another lacks;
* a message id that one locale has and another lacks, or that two domains both define
  (the :class:`~i18n.catalog.Catalog` merges domains, so one would silently win);
* a message id that is not a dotted key (``bot.start.welcome``);
* an empty or fuzzy translation;
* placeholders that differ between locales (``%(title)s`` in one, ``%(name)s`` in the other),
  a positional ``%s`` (only named placeholders are allowed), or a template that does not
  format with its own placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from babel.messages.pofile import read_po

from i18n.catalog import LOCALES
from i18n.catalog import LOCALES_DIR

KEY = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")
# Any printf-style conversion: %(name)s, %s, %d, %%...
CONVERSION = re.compile(r"%(?:\((?P<name>[^)]*)\))?[-#0 +]*\d*(?:\.\d+)?(?P<type>[a-zA-Z%])")

Messages = dict[str, tuple[str, bool]]  # id -> (translation, fuzzy)
# The ledger is the bottom layer and cannot import this package: `python -m ledger` reads its
# own `ledger` domain from ledger/locales (ledger.messages). Checked here with the others.
OWN_CATALOGS: tuple[Path, ...] = (Path(__file__).resolve().parents[1] / "ledger" / "locales",)


def read_messages(path: Path) -> Messages:
    """Return every message of one .po file, empty and fuzzy ones included, header excluded."""
    with path.open("rb") as handle:
        catalog = read_po(handle)
    out: Messages = {}
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        text = message.string if isinstance(message.string, str) else ""
        out[message.id] = (text, message.fuzzy)
    return out


def placeholders(template: str) -> tuple[set[str], list[str]]:
    """Return the named placeholders of ``template`` and its problems (positional ones)."""
    names: set[str] = set()
    problems: list[str] = []
    for match in CONVERSION.finditer(template):
        if match.group("type") == "%":
            continue
        name = match.group("name")
        if name is None:
            problems.append(f"positional placeholder {match.group()!r}")
        else:
            names.add(f"{name}:{match.group('type')}")
    return names, problems


def _domains(*directories: Path) -> dict[str, dict[str, Path]]:
    """Return {domain: {locale: path}} of every directory."""
    out: dict[str, dict[str, Path]] = {}
    for directory in directories:
        for locale in LOCALES:
            for path in sorted((directory / locale / "LC_MESSAGES").glob("*.po")):
                out.setdefault(path.stem, {})[locale] = path
    return out


def _check_message(where: str, key: str, text: str, fuzzy: bool) -> Iterator[str]:
    if not KEY.match(key):
        yield f"{where}: {key!r} is not a dotted key"
    if not text.strip():
        yield f"{where}: {key}: empty translation"
    if fuzzy:
        yield f"{where}: {key}: fuzzy translation"
    names, problems = placeholders(text)
    for problem in problems:
        yield f"{where}: {key}: {problem}"
    if not problems:
        try:
            text % {name.split(":")[0]: 0 for name in names}
        except (ValueError, TypeError, KeyError) as err:
            yield f"{where}: {key}: does not format ({err})"


def check(directory: Path = LOCALES_DIR, *more: Path) -> list[str]:
    """Return the problems of the catalogs under ``directory`` and ``more`` directories;
    an empty list means all good."""
    problems: list[str] = []
    owner: dict[str, str] = {}
    for domain, paths in sorted(_domains(directory, *more).items()):
        for locale in LOCALES:
            if locale not in paths:
                problems.append(f"{locale}/{domain}.po: missing (other locales have it)")
        tables = {locale: read_messages(path) for locale, path in paths.items()}
        all_keys = sorted(set().union(*(table.keys() for table in tables.values())))
        for key in all_keys:
            if key in owner and owner[key] != domain:
                problems.append(f"{domain}.po: {key}: also defined in {owner[key]}.po")
            owner.setdefault(key, domain)
            seen: dict[str, set[str]] = {}
            for locale, table in tables.items():
                where = f"{locale}/{domain}.po"
                if key not in table:
                    problems.append(f"{where}: {key}: missing")
                    continue
                text, fuzzy = table[key]
                problems.extend(_check_message(where, key, text, fuzzy))
                seen[locale] = placeholders(text)[0]
            if len({frozenset(names) for names in seen.values()}) > 1:
                shown = "; ".join(f"{loc} {sorted(names)}" for loc, names in sorted(seen.items()))
                problems.append(f"{domain}.po: {key}: placeholders differ: {shown}")
    return problems


def summary(directory: Path = LOCALES_DIR, *more: Path) -> str:
    """Return a one-line count of domains and messages, for the success message."""
    domains = _domains(directory, *more)
    counts = {
        locale: sum(len(read_messages(p[locale])) for p in domains.values() if locale in p)
        for locale in LOCALES
    }
    per_locale = ", ".join(f"{locale} {count}" for locale, count in counts.items())
    return f"{len(domains)} domains; messages per locale: {per_locale}"
