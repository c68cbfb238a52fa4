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
printed), 2 for a file that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from i18n.catalog import LOCALES
from i18n.catalog import Catalog
from i18n.format import format_datetime
from participation.domain.errors import ParticipationError
from participation.domain.round import RoundRules


def parser() -> argparse.ArgumentParser:
    """Return the parser of the operators' commands."""
    top = argparse.ArgumentParser(prog="python -m gateway")
    groups = top.add_subparsers(dest="group", required=True)
    rnd = groups.add_parser("round", help="create, list and advance rounds")
    verbs = rnd.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser("create", help="create a round from a TOML rules file")
    create.add_argument("file", type=Path)
    create.add_argument("--id", dest="round_id", help="round id (default: generated)")
    create.add_argument("--open", action="store_true", help="also open it for submissions")
    create.add_argument("--official", type=int, help="acting official's Telegram id")
    verbs.add_parser("list", help="list rounds with phase and deadline")
    advance = verbs.add_parser("advance", help="move a round to its next phase")
    advance.add_argument("round_id")
    advance.add_argument("--official", type=int, help="acting official's Telegram id")
    official = groups.add_parser("official", help="appoint the first official")
    grant = official.add_subparsers(dest="verb", required=True).add_parser("grant")
    grant.add_argument("--user-id", type=int, required=True, help="Telegram user id")
    onsite = groups.add_parser("onsite", help="the signed projector link of a session")
    url = onsite.add_subparsers(dest="verb", required=True).add_parser("url")
    url.add_argument("session")
    url.add_argument("--bot", required=True, help="the bot's username, without @")
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


def main(argv: Sequence[str], runtime: Any) -> int:
    """Parse `argv` (starting with round|official|onsite) and run it."""
    return run(parser().parse_args(list(argv)), runtime)
