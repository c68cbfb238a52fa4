"""Operators' commands for dead letters: the updates the workers gave up on.

```
python -m gateway deadletters list [--raw ID]
python -m gateway deadletters replay ID... | --all
python -m gateway deadletters drop ID... | --all
```
A dead letter is an entry of the `updates:dead` stream (gateway/worker.py): field `u` the
raw update as Telegram sent it, field `r` why it died (`unparsable:TypeError`,
`attempts:5:OperationalError`; entries written before the field existed have none), field `t`
when ingress first received it (epoch ms; none in entries written before it existed). Entries
are trimmed 30 days after they were written.

- `list` prints one line per dead letter: its stream id, when it died (KST), the update_id,
  the update's kind (message, callback_query, ...), the reason and when ingress first
  received it (`t`, KST; '-' for an entry without it), and nothing else: no name, no
  Telegram id, no text, since the list is read on shared terminals and pasted in tickets.
  `list --raw ID` prints that entry's raw JSON (personal data!) after a warning line.
- `replay` puts each update back at the end of its chat's partition stream (the partition
  ingress would choose now: `StreamLayout.partition_of(chat_id_of(update))`), where a worker
  applies it again, and removes it from the dead stream. Both happen in one Lua script per
  entry (REPLAY), so a crash leaves it in the dead stream or in its partition, never in both
  or neither. The replayed entry carries the dead letter's `t` (and is listed in
  `updates:replayed` while it waits, so the clock sees it at that time), and the worker
  judges it at that moment, not at the replay (clamped to the last 15 minutes,
  `rules.judged_at`, as any update): an endorsement received before the deadline and
  replayed while the clock still waits for it (it waits for dead letters received in the
  last 15 minutes, at most 10 minutes after the deadline; gateway.clock.advance_phases)
  counts in its phase. Replayed after the round moved on, it is refused as out of phase (the
  round's state decides), never applied in the next one. An entry without `t` is judged at
  its replay, as before. Replaying is safe even for an update that half-applied before it
  died (the service committed, then something after it failed): the bot passes
  `tg:<update_id>` as the `request_id` of every state-changing call, and the service stores
  a request's outcome in the transaction of its ledger entry, so applying the update again
  returns the first outcome and writes nothing; only its reply is sent again. An update
  replayed twice is still applied once. It comes after the chat's later updates; the
  handlers check a press against the current state, so an outdated one is refused politely,
  not applied blindly.
- `drop` deletes entries for good and says how many.

A person who erases their data (the bot's settings) loses their dead letters too
(`DeadLetters.forget`, given to the bot as `extra["forget_dead_letters"]` by gateway.wiring):
every entry whose raw update names their Telegram id anywhere (as its sender or chat, a
forwarded or replied-to author, a mention, a shared contact), parsable or not. Otherwise
their messages would stay in Redis for 30 days, readable with `list --raw`, and a replay
would apply them after the erasure.

Output is Korean, then English; the help and usage errors are in the language of `--locale`
or the environment (gateway/rounds.py). Exit status 0 when every ID was found, 1 when one
was not (each is named), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

import redis

from gateway.rounds import command
from gateway.rounds import operators
from gateway.rounds import say
from i18n.catalog import DEFAULT_LOCALE
from i18n.catalog import LOCALES
from i18n.catalog import Catalog
from i18n.format import to_kst
from ledger.argparser import Parser
from ledger.argparser import locale_of
from ledger.messages import locale_from_environment
from webhook.inbox import DEAD_STREAM
from webhook.inbox import REPLAYED
from webhook.inbox import StreamLayout
from webhook.inbox import chat_id_of
from webhook.inbox import ensure_groups

# Move one dead letter back to a partition: KEYS[1] the dead stream, KEYS[2] the partition
# stream, KEYS[3] the index of replayed entries (webhook.inbox.REPLAYED), ARGV[1] the entry's
# id. Its `t` (when ingress first received it, epoch ms; digits only) goes with it and the new
# entry is indexed at that time; an entry without one (dead before the field existed) is
# judged at its replay, as before. Returns the new entry's id, or false when the entry is gone.
# All checks come before the first write (a script is not rolled back on an error).
REPLAY = """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local fields = found[1][2]
local update, received = false, false
for i = 1, #fields, 2 do
  if fields[i] == 'u' then update = fields[i + 1] end
  if fields[i] == 't' and string.match(fields[i + 1], '^%d+$') then received = fields[i + 1] end
end
if not update then return false end
local id
if received then
  id = redis.call('XADD', KEYS[2], '*', 'u', update, 't', received)
  redis.call('ZADD', KEYS[3], received, KEYS[2] .. ' ' .. id)
else
  id = redis.call('XADD', KEYS[2], '*', 'u', update)
end
redis.call('XDEL', KEYS[1], ARGV[1])
return id
"""
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
KIND = re.compile(r"[a-z_]{1,40}")
REASON = re.compile(r"[A-Za-z0-9_:.]{1,80}")

Entry = tuple[str, dict[bytes, bytes]]


def parser(locale: str = DEFAULT_LOCALE, catalog: Catalog | None = None) -> Parser:
    """Return the parser of `deadletters list|replay|drop`, speaking `locale`."""
    top, groups, cat, t = operators(locale, catalog)
    dead = command(groups, "deadletters", t("deadletters"), locale, cat)
    verbs = dead.add_subparsers(dest="verb", required=True)
    show = command(verbs, "list", t("deadletters_list"), locale, cat)
    show.add_argument("--raw", metavar="ID", help=t("raw"))
    for verb in ("replay", "drop"):
        cmd = command(verbs, verb, t(f"deadletters_{verb}"), locale, cat)
        cmd.add_argument("ids", nargs="*", metavar="ID", help=t("ids"))
        cmd.add_argument("--all", action="store_true", help=t("all"))
        # IDs or --all, one of them: said by this command's parser, in its language
        cmd.set_defaults(parser=cmd, ids_or_all=cat.text(locale, "gateway.cli.ids_or_all"))
    return top


class DeadLetters:
    """The `updates:dead` stream of one deployment (its layout's prefix)."""

    def __init__(self, client: redis.Redis, layout: StreamLayout) -> None:
        self.client, self.layout = client, layout
        self.key = layout.key(DEAD_STREAM)
        self._replay = client.register_script(REPLAY)

    def entries(self) -> Iterator[Entry]:
        """Yield every entry, oldest first, a hundred per read."""
        start = "-"
        while batch := self.client.xrange(self.key, start, "+", count=100):
            for entry_id, fields in batch:
                yield _text(entry_id), fields
            start = "(" + _text(batch[-1][0])

    def get(self, entry_id: str) -> dict[bytes, bytes] | None:
        """Return the fields of one entry, or None (unknown, or not a stream id)."""
        if not STREAM_ID.fullmatch(entry_id):
            return None
        found = self.client.xrange(self.key, entry_id, entry_id)
        return dict(found[0][1]) if found else None

    def replay(self, entry_id: str, fields: dict[bytes, bytes]) -> int | None:
        """Move the entry to its chat's partition; return the partition, or None when the
        entry went meanwhile. Raises ValueError when its `u` is not an update."""
        update = _update(fields)
        if update is None:
            raise ValueError("not an update")
        partition = self.layout.partition_of(chat_id_of(update))
        keys = [self.key, self.layout.stream(partition), self.layout.key(REPLAYED)]
        moved = self._replay(keys=keys, args=[entry_id])
        return None if moved is None else partition

    def drop(self, entry_id: str) -> bool:
        """Delete one entry; return whether it was there."""
        return (
            STREAM_ID.fullmatch(entry_id) is not None and self.client.xdel(self.key, entry_id) == 1
        )

    def drop_all(self) -> int:
        """Delete every entry (one XTRIM); return how many."""
        return int(self.client.xtrim(self.key, maxlen=0, approximate=False))

    def forget(self, user_id: int) -> int:
        """Delete every entry that names Telegram id ``user_id`` (a person's erasure);
        return how many. The raw update is searched, not parsed: an object's ``"id"`` equal
        to it anywhere (the sender, the private chat, a forwarded or replied-to author, a
        mentioned user) or a shared contact's ``"user_id"`` (with their phone number) counts,
        in an unparsable update too; message, update and file ids have keys of their own,
        and a callback query's id is a string."""
        pattern = re.compile(rb'"(?:user_)?id"\s*:\s*%d(?![0-9])' % user_id)
        found = [i for i, fields in self.entries() if pattern.search(fields.get(b"u", b""))]
        deleted = 0
        for start in range(0, len(found), 100):
            deleted += int(self.client.xdel(self.key, *found[start : start + 100]))
        return deleted


def forgetter(client: redis.Redis, layout: StreamLayout) -> Callable[[int], Awaitable[int]]:
    """Return the bot's ``extra["forget_dead_letters"]``: an ``async (user_id) -> int`` that
    deletes the person's dead letters (:meth:`DeadLetters.forget`) in a thread."""
    dead = DeadLetters(client, layout)

    async def forget(user_id: int) -> int:
        return await asyncio.to_thread(dead.forget, user_id)

    return forget


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _update(fields: dict[bytes, bytes]) -> dict[str, Any] | None:
    """Return the raw update of an entry as a dict with an int update_id, or None."""
    try:
        update = json.loads(fields[b"u"])
    except (KeyError, ValueError):
        return None
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return None
    return update


def kst(ms: int) -> str:
    """Return epoch milliseconds as `list` shows a time: `2017-02-17 17:43:20 KST`."""
    return to_kst(ms // 1000).strftime("%Y-%m-%d %H:%M:%S KST")


def summary(entry_id: str, fields: dict[bytes, bytes]) -> dict[str, str]:
    """Return what `list` shows of an entry: id, KST time it died, update_id, kind, reason,
    KST time ingress first received it (`t`; '-' when the entry has none). Nothing the person
    wrote or is named by; a kind, reason or `t` of an unexpected shape shows as '?' (a `t`
    that is not digits, or later than the death: ingress never writes one)."""
    ms = int(entry_id.split("-")[0])
    when = kst(ms)
    first = fields.get(b"t")
    if first is None:
        received = "-"
    elif first.isdigit() and int(first) <= ms:
        received = kst(int(first))
    else:
        received = "?"
    update = _update(fields)
    if update is None:
        update_id, kind = "?", "?"
    else:
        update_id = str(update["update_id"])
        kinds = [k for k, v in update.items() if k != "update_id" and isinstance(v, dict)]
        kind = kinds[0] if kinds and KIND.fullmatch(kinds[0]) else "?"
    reason = _text(fields[b"r"]) if b"r" in fields else "-"
    if reason != "-" and not REASON.fullmatch(reason):
        reason = "?"
    return {"id": entry_id, "when": when, "update_id": update_id, "kind": kind, "reason": reason,
            "received": received}  # fmt: skip


def list_entries(catalog: Catalog, dead: DeadLetters) -> int:
    """Print one line per dead letter (Korean, then English) and the count."""
    rows = [summary(entry_id, fields) for entry_id, fields in dead.entries()]
    if not rows:
        say(catalog, "gateway.deadletters.none")
        return 0
    for locale in LOCALES:
        for row in rows:
            print(catalog.text(locale, "gateway.deadletters.row", **row))
        print(catalog.text(locale, "gateway.deadletters.count", count=len(rows)))
    return 0


def show_raw(catalog: Catalog, dead: DeadLetters, entry_id: str) -> int:
    """Print one entry's raw update after the personal-data warning (on stderr)."""
    fields = dead.get(entry_id)
    if fields is None:
        say(catalog, "gateway.deadletters.not_found", stream=sys.stderr, id=entry_id)
        return 1
    say(catalog, "gateway.deadletters.raw_warning", stream=sys.stderr)
    print(_text(fields.get(b"u", b"")))
    return 0


def chosen(dead: DeadLetters, args: argparse.Namespace) -> list[str]:
    """Return the ids a replay or drop names: the given ones, or with --all every entry's."""
    if args.all == bool(args.ids):
        args.parser.error(args.ids_or_all)  # exit status 2
    return [entry_id for entry_id, _f in dead.entries()] if args.all else list(args.ids)


def replay(catalog: Catalog, dead: DeadLetters, ids: list[str]) -> int:
    """Replay each entry; name those not found or not replayable; return the exit status."""
    ensure_groups(dead.client, dead.layout)  # a partition read by no worker yet
    status = done = 0
    for entry_id in ids:
        fields = dead.get(entry_id)
        try:
            partition = None if fields is None else dead.replay(entry_id, fields)
        except ValueError:
            say(catalog, "gateway.deadletters.unreadable", stream=sys.stderr, id=entry_id)
            status = 1
            continue
        if fields is None or partition is None:
            say(catalog, "gateway.deadletters.not_found", stream=sys.stderr, id=entry_id)
            status = 1
            continue
        done += 1
        update_id = summary(entry_id, fields)["update_id"]
        say(catalog, "gateway.deadletters.replayed", id=entry_id, update_id=update_id,
            partition=partition)  # fmt: skip
    say(catalog, "gateway.deadletters.replayed_total", count=done)
    return status


def drop(catalog: Catalog, dead: DeadLetters, args: argparse.Namespace) -> int:
    """Delete the given entries (or all); name those not found; return the exit status."""
    if args.all and not args.ids:
        say(catalog, "gateway.deadletters.dropped", count=dead.drop_all())
        return 0
    status = done = 0
    for entry_id in chosen(dead, args):
        if dead.drop(entry_id):
            done += 1
        else:
            say(catalog, "gateway.deadletters.not_found", stream=sys.stderr, id=entry_id)
            status = 1
    say(catalog, "gateway.deadletters.dropped", count=done)
    return status


def run(args: argparse.Namespace, runtime: Any) -> int:
    """Execute one parsed command against `runtime` (gateway.wiring.Runtime); return status."""
    catalog, dead = runtime.catalog, DeadLetters(runtime.redis, runtime.layout)
    if args.verb == "list":
        return (
            list_entries(catalog, dead) if args.raw is None else show_raw(catalog, dead, args.raw)
        )
    if args.verb == "replay":
        return replay(catalog, dead, chosen(dead, args))
    return drop(catalog, dead, args)


def main(argv: Sequence[str], runtime: Any, locale: str | None = None) -> int:
    """Parse `argv` (starting with deadletters) in `locale` (by default the one `--locale` or
    the environment names) and run it."""
    locale = locale or locale_of(argv, locale_from_environment())
    return run(parser(locale, runtime.catalog).parse_args(list(argv)), runtime)
