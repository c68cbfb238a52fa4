"""Edit delivered notices whose proposal was hidden or erased since (or shown again).

A notice about a proposal (in_review, answered, selected, ...) names it by its title when it
goes out (`OutboxSender._text`); one delivered before an official hid the proposal (often for
personal data or abuse in the title) or before its author had its content erased would keep
showing the title in people's chats. The sender records, on the outbox row, the message
Telegram answered with and what its text showed (`broadcast.shown_of`: "title",
"hidden:<reason>", "erased"); `NoticeEditor.refresh`, run by the clock
(`refresh_notices`, every 30 s), edits those messages (editMessageText) to what `_text` would
send now, with the same rule (a hidden title is withheld from everyone but its author).

Cheap when nothing changed: one query for the proposals withheld now
(`service.withheld_proposals`) and one for what the last run found
(`gateway_notice_subjects`). A proposal whose state differs is looked at, through the
outbox's index on the proposal, for `RECHECK_S` after the change was noticed (a notice whose
text was read before the change and whose send returned after the run is found by a later
run), and for as long as some of its messages are left to edit (`UNTIL_DONE`: however long
the clock was down meanwhile), then `RECHECK_S` more. At most `MAX_EDITS` edits per
run, spaced `EDIT_GAP_S` apart and one second apart in a chat, within the bot's 30 requests
a second that the clock's outbox sender shares (`broadcast.SendWindow`: a 429 either gets
holds both).

State-based, as `gateway.results_edits`: an edit is recorded after Telegram's answer
("message is not modified" counts as done; a crash in between edits again); a deleted message
("message to edit not found") is recorded "gone" and never edited again, as is one Telegram
will never let us edit (the reader blocked the bot or deleted their account: 403; "chat not
found", "message can't be edited"); any other refusal puts that message off (30 s, doubling,
at most an hour); a 429 pauses every edit for what it asks. Notices with a button
(broadcast.NOTICE_BUTTONS) are never recorded, so never edited (an edit without reply_markup
would remove it). Rows delivered before migration 0010 have no message recorded and cannot be
edited. The log names outbox rows and counts, never a chat, a person or a title.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from telegram import Bot
from telegram.error import BadRequest
from telegram.error import Forbidden
from telegram.error import RetryAfter
from telegram.error import TelegramError

from bot.router import not_modified
from bot.transport import retry_after_s
from gateway.broadcast import NOTICE_RECHECK_S
from gateway.broadcast import TITLE
from gateway.broadcast import SendWindow
from gateway.broadcast import notice_text
from gateway.broadcast import shown_of
from gateway.results_edits import FIRST_RETRY_S
from gateway.results_edits import GONE
from gateway.results_edits import LAST_RETRY_S
from gateway.store import JobRuns
from gateway.store import notice_subjects
from gateway.store import put
from i18n.catalog import Catalog
from ledger.store import write_transaction

log = structlog.get_logger("gateway.notice_edits")

RECHECK_S = NOTICE_RECHECK_S  # a changed or notified proposal's notices are looked at this long
UNTIL_DONE = 2**62  # recheck_until of a proposal with notices left: looked at until none is
MAX_EDITS = 20  # per run (every 30 s): the outbox's own sends keep most of the 30/s
MAX_ROWS = 500  # delivered notices read per run, beside those put off after a refusal
EDIT_GAP_S = 0.1  # between two edits
CHAT_GAP_S = 1.0  # between two edits in one chat
GONE_SHOWN = "gone"  # recorded for a message found deleted: never edited again
# Refusals Telegram will repeat for good, also recorded "gone" (with a private chat's 403: the
# reader blocked the bot or deleted their account): put off, they kept their proposal looked
# at for ever, an attempt an hour.
NEVER_EDITABLE = ("message can't be edited", "chat not found")


@dataclass(frozen=True, slots=True)
class Delivered:
    """One delivered notice about a proposal, as recorded by the sender."""

    id: int
    user_id: int
    locale: str
    key: str
    params: dict[str, Any]
    proposal: str
    message_id: int
    shown: str


class DeliveredNotices:
    """The outbox rows of delivered notices and the clock's `gateway_notice_subjects`."""

    def __init__(self, engine: sa.Engine) -> None:
        from participation.store import tables

        self._engine, self._t = engine, tables

    def subjects(self) -> dict[str, tuple[str, int]]:
        """Return proposal -> (withheld as last found, "" for shown; look again until)."""
        c = notice_subjects.c
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(c.proposal_id, c.withheld, c.recheck_until)).all()
        return {str(p): (str(w), int(u)) for p, w, u in rows}

    def mark(self, proposal: str, withheld: str, recheck_until: int) -> None:
        """Record what was found of `proposal` and until when to look at its notices."""
        values = {"withheld": withheld, "recheck_until": recheck_until}
        put(self._engine, notice_subjects, {"proposal_id": proposal}, values)

    def forget(self, proposals: Collection[str]) -> None:
        """Drop settled proposals shown again (nothing left to look at)."""
        c = notice_subjects.c
        with write_transaction(self._engine) as conn:
            conn.execute(notice_subjects.delete().where(c.proposal_id.in_(sorted(proposals))))

    def of(self, expected: Mapping[str, str], limit: int) -> list[Delivered]:
        """Return up to `limit` delivered notices about the proposals of `expected` that do
        not show what a notice to someone else than the author should (`expected`): the ones
        to edit, and their authors' (few; `_seen` tells them apart)."""
        o, r = self._t.outbox.c, self._t.residents.c
        differ = [
            sa.and_(o.proposal == p, o.shown != shown) for p, shown in sorted(expected.items())
        ]
        query = (
            sa.select(
                o.id, o.user_id, r.locale, o.key, o.params, o.proposal, o.message_id, o.shown
            )  # fmt: skip
            .outerjoin(self._t.residents, r.user_id == o.user_id)
            .where(
                o.proposal.in_(sorted(expected)),
                sa.or_(*differ),
                o.message_id.is_not(None),
                o.shown != GONE_SHOWN,
            )
            .order_by(o.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Delivered(
                row.id,
                row.user_id,
                row.locale or "ko",
                row.key,
                dict(row.params),
                row.proposal,
                int(row.message_id),
                row.shown,
            )  # fmt: skip
            for row in rows
        ]

    def shown(self, row: Delivered, shown: str) -> None:
        """Record that `row`'s message shows `shown` now (edited, or found so / deleted)."""
        o = self._t.outbox.c
        with write_transaction(self._engine) as conn:
            conn.execute(
                sa.update(self._t.outbox)
                .where(o.id == row.id, o.message_id == row.message_id)
                .values(shown=shown)
            )


class NoticeEditor:
    """Edit the delivered notices that show another title than they may now."""

    def __init__(
        self,
        bot: Bot,
        catalog: Catalog,
        notices: DeliveredNotices,
        service: Any,
        *,
        clock: Callable[[], float] = time.time,
        max_edits: int = MAX_EDITS,
        edit_gap_s: float = EDIT_GAP_S,
        chat_gap_s: float = CHAT_GAP_S,
        window: SendWindow | None = None,
    ) -> None:
        """`window`: the bot's limit shared with the outbox sender (the clock gives both
        the same): an edit takes a slot of the 30/s, and a 429 either got holds both."""
        self._bot, self._catalog, self._notices, self._svc = bot, catalog, notices, service
        self._clock, self._max, self._gaps = clock, max_edits, (edit_gap_s, chat_gap_s)
        self._retry: dict[int, tuple[float, float]] = {}  # outbox id -> (not before, delay)
        self._paused_until = 0.0  # a 429: no edit before
        self._window = window or SendWindow()
        self._last_edit = -1e9
        self._last_in_chat: dict[int, float] = {}

    async def refresh(self) -> dict[str, int]:
        """Edit what needs it (within this run's bounds); return the outcomes' counts."""
        now = self._clock()
        withheld = await asyncio.to_thread(self._svc.withheld_proposals)
        found = await asyncio.to_thread(self._notices.subjects)
        looking: dict[str, int] = {}  # proposal -> its recheck_until as recorded now
        for proposal in sorted(set(withheld) | set(found)):
            state = withheld.get(proposal, "")
            last, until = found.get(proposal, (None, 0))
            if last != state:
                until = int(now + RECHECK_S)
                await asyncio.to_thread(self._notices.mark, proposal, state, until)
                looking[proposal] = until
            elif until >= now:
                looking[proposal] = until
        settled = [p for p, (w, u) in found.items() if w == "" and u < now and p not in withheld]
        if settled:
            await asyncio.to_thread(self._notices.forget, settled)
        counts = {"edited": 0, "unchanged": 0, "gone": 0, "refused": 0, "left": 0}
        if not looking:
            return counts
        expected = {p: withheld.get(p) or TITLE for p in looking}
        left = await self._edit_all(expected, now, counts)
        for proposal, until in sorted(looking.items()):
            # notices left: looked at until done, however long until the next run (a clock
            # down for a while); done: for RECHECK_S more (sends in flight), then no longer
            if (proposal in left) == (until == UNTIL_DONE):
                continue
            state = withheld.get(proposal, "")
            until = UNTIL_DONE if proposal in left else int(now + RECHECK_S)
            await asyncio.to_thread(self._notices.mark, proposal, state, until)
        if any(counts.values()):
            log.info("notices_refreshed", **counts)
        return counts

    async def _edit_all(
        self, expected: dict[str, str], now: float, counts: dict[str, int]
    ) -> set[str]:
        """Edit the notices of `expected`'s proposals that need it; return the proposals with
        some left."""
        # the rows put off (a refusal's delay) are read beside MAX_ROWS others, not instead:
        # as many waiting first by id would keep every notice after them from being reached
        limit = MAX_ROWS + sum(1 for not_before, _delay in self._retry.values() if not_before > now)
        rows = await asyncio.to_thread(self._notices.of, expected, limit)
        left: set[str] = {row.proposal for row in rows} if len(rows) == limit else set()
        if not rows:
            return left
        wanted = {(row.proposal, row.user_id) for row in rows}
        seen = await asyncio.to_thread(self._svc.notice_titles, wanted)
        edits = 0
        for row in rows:
            now_seen = seen[(row.proposal, row.user_id)]
            shown = shown_of(now_seen)
            if row.shown == shown:
                continue
            waiting = max(self._paused_until, self._retry.get(row.id, (0.0, 0.0))[0])
            if edits >= self._max or now < waiting or self._window.paused_for() > 0:
                counts["left"] += 1
                left.add(row.proposal)
                continue
            edits += 1
            text = notice_text(self._catalog, row.locale, row.key, row.params, now_seen)
            outcome = await self._edit(row, text)
            counts[outcome] += 1
            if outcome == "refused":
                left.add(row.proposal)
                continue
            await asyncio.to_thread(
                self._notices.shown, row, GONE_SHOWN if outcome == "gone" else shown
            )
        return left

    async def _pace(self, chat_id: int) -> None:
        edit_gap, chat_gap = self._gaps
        at = max(self._last_edit + edit_gap, self._last_in_chat.get(chat_id, -1e9) + chat_gap)
        wait = at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_edit = self._last_in_chat[chat_id] = time.monotonic()
        if len(self._last_in_chat) > 1000:
            self._last_in_chat = {}

    async def _edit(self, row: Delivered, text: str) -> str:
        """Edit one message; return "edited", "unchanged" (not modified), "gone" (deleted)
        or "refused" (put off: a growing delay, or a 429's pause for every edit)."""
        await self._pace(row.user_id)
        await self._window.take()
        try:
            await self._bot.edit_message_text(text, chat_id=row.user_id, message_id=row.message_id)
            outcome = "edited"
        except BadRequest as err:
            if not_modified(err):
                outcome = "unchanged"
            elif any(phrase in err.message.lower() for phrase in (*GONE, *NEVER_EDITABLE)):
                outcome = "gone"
            else:
                outcome = self._refused(row, err)
        except Forbidden:  # the reader blocked the bot, or deleted their account
            outcome = "gone"
        except TelegramError as err:  # RetryAfter, TimedOut, NetworkError...
            outcome = self._refused(row, err)
        if outcome != "refused":
            self._retry.pop(row.id, None)
        return outcome

    def _refused(self, row: Delivered, err: TelegramError) -> str:
        delay = self._retry.get(row.id, (0.0, 0.0))[1]
        wait = min(LAST_RETRY_S, max(FIRST_RETRY_S, delay * 2))
        if isinstance(err, RetryAfter):
            self._paused_until = self._clock() + retry_after_s(err)
            self._window.pause(retry_after_s(err))  # the outbox sender's sends wait too
            wait = max(wait, retry_after_s(err))
        self._retry[row.id] = (self._clock() + wait, wait)
        log.warning("notice_not_edited", outbox_id=row.id, error=type(err).__name__,
                    retry_in_s=int(wait))  # fmt: skip
        return "refused"


async def refresh_notices(editor: NoticeEditor, runs: JobRuns) -> None:
    """The clock's job: edit the delivered notices whose proposal was hidden or erased (or
    shown again) since they went out; see `NoticeEditor`."""
    await editor.refresh()
    await asyncio.to_thread(runs.record, "refresh_notices")
