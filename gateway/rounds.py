"""Operators' commands: rounds from TOML files, the first official, projector links.

```
python -m gateway round create FILE [--id ROUND] [--open] [--official USER_ID]
python -m gateway round list
python -m gateway round advance ROUND [--official USER_ID]
python -m gateway official grant --user-id USER_ID
python -m gateway onsite url SESSION --bot BOT_USERNAME
```
FILE is a TOML table read by `RoundRules.from_dict` (deadlines as TOML datetimes with an
offset, e.g. `2017-02-10T18:00:00+09:00`). Every change goes through the participation
service, so it is a ledger entry signed in the name of an official: `--official`, or by
default the first admin official (`official grant` appoints that one, once). Output is
Korean, then English; exit status 0 on success, 1 when the service refuses (the reason is
printed), 2 for a file that cannot be read or a usage error.

The help (lines `gateway.cli.help.*`) and argparse's own texts (`ledger.argparser`) are in
one language: `--locale ko|en`, before the command or after it, else English when LC_ALL,
LC_MESSAGES or LANG names it, else Korean.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tomllib
from collections.abc import Callable
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from i18n.catalog import DEFAULT_LOCALE
from i18n.catalog import LOCALES
from i18n.catalog import Catalog
from i18n.format import format_datetime
from ledger.argparser import Parser
from ledger.argparser import locale_of
from ledger.messages import locale_from_environment
from participation.domain.errors import ParticipationError
from participation.domain.round import RoundRules


@functools.cache
def _loaded() -> Catalog:
    return Catalog.load()


def texts(catalog: Catalog | None = None) -> Catalog:
    """Return `catalog`, or the catalogs read once (a command's help comes before a runtime)."""
    return catalog if catalog is not None else _loaded()


def command(group: Any, name: str, what: str, locale: str, catalog: Catalog) -> Any:
    """Add the command `name` (its help and description `what`, its own `--locale`)."""
    added = group.add_parser(name, help=what, description=what)
    with_locale(added, locale, catalog)
    return added


def with_locale(parser: argparse.ArgumentParser, locale: str, catalog: Catalog) -> None:
    """Accept `--locale` at this level too (as `python -m ledger` does before and after its
    command); the parser already speaks `locale` (`ledger.argparser.locale_of` found it)."""
    parser.add_argument("--locale", choices=LOCALES, default=locale,
                        help=catalog.text(locale, "gateway.cli.help.locale"))  # fmt: skip


def operators(
    locale: str, catalog: Catalog | None = None, *, dest: str = "group", **group: Any
) -> tuple[Parser, Any, Catalog, Callable[[str], str]]:
    """Return what a `python -m gateway` parser is built from, speaking `locale`: the top
    parser (with its `--locale`), its group of commands (`dest`; `group`: more arguments of
    `add_subparsers`), the catalogs, and the help text of a key (`gateway.cli.help.<key>`).
    The operators' commands and the roles (gateway/__main__.py) are built on it."""
    cat = texts(catalog)

    def t(key: str) -> str:
        return cat.text(locale, f"gateway.cli.help.{key}")

    top = Parser(prog="python -m gateway", locale=locale)
    with_locale(top, locale, cat)
    return top, top.add_subparsers(dest=dest, required=True, **group), cat, t


def parser(locale: str = DEFAULT_LOCALE, catalog: Catalog | None = None) -> Parser:
    """Return the parser of the operators' commands, speaking `locale`."""
    top, groups, cat, t = operators(locale, catalog)
    rnd = command(groups, "round", t("round"), locale, cat)
    verbs = rnd.add_subparsers(dest="verb", required=True)
    create = command(verbs, "create", t("round_create"), locale, cat)
    create.add_argument("file", type=Path, help=t("file"))
    create.add_argument("--id", dest="round_id", help=t("round_id"))
    create.add_argument("--open", action="store_true", help=t("open"))
    create.add_argument("--official", type=int, metavar="USER_ID", help=t("official"))
    command(verbs, "list", t("round_list"), locale, cat)
    advance = command(verbs, "advance", t("round_advance"), locale, cat)
    advance.add_argument("round_id", help=t("advanced"))
    advance.add_argument("--official", type=int, metavar="USER_ID", help=t("official"))
    official = command(groups, "official", t("official_group"), locale, cat)
    grant = command(official.add_subparsers(dest="verb", required=True), "grant",
                    t("official_grant"), locale, cat)  # fmt: skip
    grant.add_argument("--user-id", type=int, required=True, help=t("user_id"))
    onsite = command(groups, "onsite", t("onsite"), locale, cat)
    url = command(onsite.add_subparsers(dest="verb", required=True), "url", t("onsite_url"),
                  locale, cat)  # fmt: skip
    url.add_argument("session", help=t("session"))
    url.add_argument("--bot", required=True, help=t("bot"))
    return top


def say(catalog: Catalog, key: str, *, stream: Any = None, **params: object) -> None:
    """Print `key` in Korean, then in English; a `phase` param is shown by its name."""
    for locale in LOCALES:
        shown = dict(params)
        if "phase" in shown:
            shown["phase"] = catalog.text(locale, f"participation.phase.{shown['phase']}")
        print(catalog.text(locale, key, **shown), file=stream or sys.stdout)


def first_official(service: Any) -> int | None:
    """Return the Telegram id of the earliest admin official, or None (an official who erased
    their data is named by a negative tombstone and is left out)."""
    from participation.store import erasure
    from participation.store import tables

    o = tables.officials.c
    with service._engine.connect() as conn:
        found = conn.execute(
            sa.select(o.user_id)
            .where(o.role == "admin", erasure.has_chat(o.user_id))
            .order_by(o.granted_at, o.user_id)
        ).first()
    return None if found is None else int(found[0])


def refused(catalog: Catalog, err: ParticipationError) -> int:
    """Print why the service refused; return exit status 1."""
    for locale in LOCALES:
        moment = partial(format_datetime, locale=locale)  # a deadline as dates are written
        reason = catalog.text(locale, err.key, **err.shown(moment))
        print(catalog.text(locale, "gateway.round.refused", reason=reason), file=sys.stderr)
    return 1


def run(args: argparse.Namespace, runtime: Any) -> int:
    """Execute one parsed command against `runtime` (gateway.wiring.Runtime); return status."""
    catalog, svc = runtime.catalog, runtime.service
    svc.create_tables()  # no-op on a migrated database; the embedded default needs it
    try:
        if args.group == "official":
            receipt = svc.grant_first_official(args.user_id)
            say(catalog, "gateway.official.granted", index=f"{receipt.index:,}")
            return 0
        if args.group == "onsite":
            from webhook.onsite import onsite_url
            from webhook.onsite import view_key

            s = runtime.settings
            link = onsite_url(s.public_base_url, view_key(s.pseudonym_pepper), args.session,
                              args.bot.lstrip("@"))  # fmt: skip
            say(catalog, "gateway.onsite.url", url=link)
            return 0
        if args.verb == "list":
            return list_rounds(catalog, svc)
        official = args.official or first_official(svc)
        if official is None:
            say(catalog, "gateway.round.no_official", stream=sys.stderr)
            return 1
        if args.verb == "create":
            return create(catalog, svc, official, args)
        receipt = svc.advance_round(official, args.round_id)
        phase = svc.round(args.round_id).phase
        say(catalog, "gateway.round.advanced", round=args.round_id, phase=phase)
        return 0 if receipt is not None else 1
    except ParticipationError as err:
        if type(err).__name__ == "OfficialExists":
            say(catalog, "gateway.official.exists", stream=sys.stderr)
            return 1
        return refused(catalog, err)


def create(catalog: Catalog, svc: Any, official: int, args: argparse.Namespace) -> int:
    """Create (and with --open, open) a round from a TOML file."""
    try:
        data = tomllib.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        say(catalog, "gateway.round.bad_file", path=str(args.file), reason=str(err),
            stream=sys.stderr)  # fmt: skip
        return 2
    rules = RoundRules.from_dict(data)  # InvalidRules names every problem
    view = svc.create_round(official, rules, round_id=args.round_id)
    say(catalog, "gateway.round.created", round=view.round_id, title=view.title, phase=view.phase)
    if args.open:
        svc.open_round(official, view.round_id)
        phase = svc.round(view.round_id).phase
        say(catalog, "gateway.round.opened", round=view.round_id, phase=phase)
    return 0


def list_rounds(catalog: Catalog, svc: Any) -> int:
    """Print every round: id, phase, title and the current phase's deadline (KST)."""
    views = svc.rounds()
    if not views:
        say(catalog, "gateway.round.none")
        return 0
    for locale in LOCALES:
        for view in views:
            deadline = view.deadline
            when = format_datetime(deadline, locale) if deadline else "-"
            phase = catalog.text(locale, f"participation.phase.{view.phase}")
            print(catalog.text(locale, "gateway.round.row", round=view.round_id, phase=phase,
                               title=view.title, deadline=when))  # fmt: skip
    return 0


def main(argv: Sequence[str], runtime: Any, locale: str | None = None) -> int:
    """Parse `argv` (starting with round|official|onsite) in `locale` (by default the one
    `--locale` or the environment names) and run it."""
    locale = locale or locale_of(argv, locale_from_environment())
    return run(parser(locale, runtime.catalog).parse_args(list(argv)), runtime)
