"""Deliver the participation outbox (notices and broadcasts) within Telegram's limits.

At most `per_second` messages per second overall (30, Telegram's bulk limit) and one per
second per chat; a `RetryAfter` pauses all sending for the time Telegram asks. Sends follow an
absolute schedule (slot k at start + k/per_second), so the time spent on each send's commits
is not added to the spacing; a sender that fell behind catches up by at most `CATCH_UP_S`
worth of slots, and never sends more than `per_second` messages within any 1-s window. Rows are
claimed from the persistent outbox and finished after the send.

At most once (a crash never messages anyone twice), with a `DeliveryJournal`:
- a row moves `claimed -> sending` in its own committed UPDATE (conditional on `claimed`)
  right before its sendMessage, and to `sent`/`blocked`/`failed` right after; only the
  sender that won that flip may send the row, so two senders never both send it;
- a 429, a refused chat or a connection that never opened are certain non-deliveries: the
  row goes back to `claimed` (retried) or to its final state;
- on every drain, rows left `claimed` by a dead sender go back to `pending` (they were never
  attempted), and rows left `sending` for `unsure_after_s` become `unsure`: the request may
  have reached Telegram (a crash between sendMessage and the commit of "sent", or a read
  timeout). The Bot API cannot tell whether a message was delivered, so they are never sent
  again; the official's final count names them. What remains: a person whose request was in
  flight at the crash may miss the message (reported as unsure), never get it twice.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import structlog
from telegram import Bot
from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest
from telegram.error import Forbidden
from telegram.error import NetworkError
from telegram.error import RetryAfter

from bot import transport
from bot.router import not_modified
from gateway.store import notice_subjects
from i18n.catalog import Catalog
from ledger.store import write_transaction
from participation.report import withheld_notice
from participation.views import NoticeTitle

log = structlog.get_logger("gateway.broadcast")

IN_FLIGHT = ("pending", "claimed", "sending")  # a broadcast is done when none is left
CLAIMED_STALE_S = 30  # a claimed row nobody started sending for this long goes back to pending
UNSURE_AFTER_S = 60  # a row "sending" for this long belonged to a dead sender: never resent
NOTICE_RECHECK_S = 300  # a delivered notice's proposal is looked at this long (notice_edits)
CATCH_UP_S = 0.2  # a late sender may send this many seconds' worth of slots back to back
WINDOW_S = 1.02  # per_second sends per this window: 1 s plus a margin for network jitter
# Notices that carry one button: key -> (label key, the bot's action). The token is issued at
# delivery, for the person the row is for; it lasts as long as a review may (30 days).
NOTICE_BUTTONS = {
    "participation.notice.judging_open": ("bot.menu.judge", "judge.open"),
    "participation.notice.judge_assigned": ("bot.menu.judge", "judge.open"),
    "participation.notice.judge_assigned_all": ("bot.menu.judge", "judge.open"),
}
NOTICE_BUTTON_TTL_S = 30 * 86400
TITLE = "title"  # what a delivered notice showed of its proposal: its title (else the withheld)


def notice_text(
    catalog: Catalog, locale: str, key: str, params: Mapping[str, Any], seen: NoticeTitle | None
) -> str:
    """Return a notice's text, naming its proposal as `seen` (`service.notice_title`) allows:
    the withheld variant (`report.withheld_notice`, built from the proposal's id, its round's
    public title and the reason alone) or the key's text with the title; `seen` None: not
    about a proposal."""
    if seen is None:
        return catalog.text(locale, key, **params)
    if seen.withheld is not None:
        proposal = str(params["proposal"])
        return withheld_notice(catalog, locale, key, proposal, seen.withheld, seen.round)
    return catalog.text(locale, key, **{**params, "title": seen.title})


def shown_of(seen: NoticeTitle) -> str:
    """What a notice written with `seen` shows of its proposal: TITLE or why it is withheld."""
    return seen.withheld if seen.withheld is not None else TITLE


class DeliveryJournal:
    """Per-message attempt marks on the participation outbox (`pt_outbox.state`).

    Every method is one short committed transaction, so a mark survives a crash right after
    it. `begin` is the only way to `sending` and is conditional, so exactly one sender wins a
    row. States beside the service's: `sending` (an attempt is in flight) and `unsure` (an
    attempt may have been delivered; final, never resent).
    """

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        from participation.store import tables

        self._engine, self._clock, self._o = engine, clock, tables.outbox

    def begin(self, outbox_id: int) -> bool:
        """Mark the row `sending`; False when it is not ours to send (taken or finished)."""
        o = self._o.c
        with write_transaction(self._engine) as conn:
            done = conn.execute(
                sa.update(self._o)
                .where(o.id == outbox_id, o.state == "claimed")
                .values(state="sending", claimed_at=int(self._clock()))
            )
        return done.rowcount == 1

    def release(self, outbox_id: int) -> None:
        """Put a row whose attempt certainly failed (429, no connection) back to `claimed`."""
        o = self._o.c
        with write_transaction(self._engine) as conn:
            conn.execute(
                sa.update(self._o)
                .where(o.id == outbox_id, o.state == "sending")
                .values(state="claimed")
            )

    def settle(
        self, *, claimed_stale_s: float = CLAIMED_STALE_S, unsure_after_s: float = UNSURE_AFTER_S
    ) -> tuple[int, int]:
        """Recover a dead sender's rows; return (released to pending, marked unsure).

        A `claimed` row was never attempted (attempts start with `begin`), so offering it
        again is safe; a `sending` row may have been delivered, so it becomes `unsure`.
        """
        o, now = self._o.c, self._clock()
        with write_transaction(self._engine) as conn:
            released = conn.execute(
                sa.update(self._o)
                .where(o.state == "claimed", o.claimed_at <= int(now - claimed_stale_s))
                .values(state="pending")
            ).rowcount
            unsure = conn.execute(
                sa.update(self._o)
                .where(o.state == "sending", o.claimed_at <= int(now - unsure_after_s))
                .values(state="unsure")
            ).rowcount
        if unsure:
            log.warning("outbox_unsure", rows=unsure)
        return int(released or 0), int(unsure or 0)

    def delivered(self, outbox_id: int, proposal: str, message_id: int, shown: str) -> None:
        """Record the message a notice about `proposal` was delivered as, and what its text
        showed of it (`shown_of`), for the clock's edits (gateway.notice_edits); and have the
        clock look at the proposal's notices for `NOTICE_RECHECK_S` more if it keeps one for
        it: a proposal restored and hidden again between two runs reads as it did, and the
        notice delivered with its title meanwhile would be left showing it."""
        c, until = notice_subjects.c, int(self._clock() + NOTICE_RECHECK_S)
        with write_transaction(self._engine) as conn:
            conn.execute(
                sa.update(self._o)
                .where(self._o.c.id == outbox_id)
                .values(proposal=proposal, message_id=message_id, shown=shown)
            )
            conn.execute(
                notice_subjects.update()
                .where(c.proposal_id == proposal, c.recheck_until < until)
                .values(recheck_until=until)
            )


class SendWindow:
    """Telegram's overall limit on one bot's requests, shared by what sends or edits through
    that bot in one process (the clock's outbox sender and notice editor): never
    `per_second` + 1 requests within `WINDOW_S`, and none while a 429's pause lasts, whoever
    got it. Without it an official's hiding during a broadcast added the editor's edits to
    the sender's 30/s, and a 429 answered to one did not hold the other."""

    def __init__(self, per_second: float = 30.0) -> None:
        self._recent: deque[float] = deque(maxlen=max(1, math.floor(per_second)))
        self._paused_until = 0.0  # monotonic

    def pause(self, seconds: float) -> None:
        """Hold every request for `seconds` (a 429's retry_after)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def paused_for(self) -> float:
        """Return how long the last 429's pause still lasts (0 when none)."""
        return max(0.0, self._paused_until - time.monotonic())

    async def take(self) -> None:
        """Wait for a slot (the pause over, and room in the window), then use it."""
        while True:
            now = time.monotonic()
            wait = self._paused_until - now
            if len(self._recent) == self._recent.maxlen:
                wait = max(wait, self._recent[0] + WINDOW_S - now)
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        self._recent.append(time.monotonic())


class OutboxSender:
    """Drain `service.claim_outbox` through `bot`, politely and at most once per message."""

    def __init__(
        self,
        service: Any,
        bot: Bot,
        catalog: Catalog,
        *,
        per_second: float = 30.0,
        per_chat_interval: float = 1.0,
        batch: int = 30,
        official_of: Callable[[int], int | None] | None = None,
        progress_every_s: float = 5.0,
        journal: DeliveryJournal | None = None,
        claimed_stale_s: float = CLAIMED_STALE_S,
        unsure_after_s: float = UNSURE_AFTER_S,
        window: SendWindow | None = None,
    ) -> None:
        """`window`: the bot's limit shared with others sending through it (the clock's
        notice editor), else one of the sender's own."""
        self._service, self._bot, self._catalog = service, bot, catalog
        self._interval = 1.0 / per_second
        self._per_chat = per_chat_interval
        self._batch = batch
        self._next_send = 0.0
        self.window = window or SendWindow(per_second)
        self._last_by_chat: dict[int, float] = {}
        self.sent = 0
        self.backlog = False
        self.active_broadcasts: set[int] = set()
        self._official_of = official_of
        self._progress_every = progress_every_s
        self._progress: dict[int, tuple[int, float, str]] = {}  # bid -> (message_id, at, text)
        self._journal = journal
        self._stale = (claimed_stale_s, unsure_after_s)

    async def drain(self, budget_s: float = 50.0) -> int:
        """Send until the outbox is empty or `budget_s` has passed; return how many were sent.

        `backlog` tells afterwards whether the budget ran out first (work may be left).
        """
        deadline = time.monotonic() + budget_s
        sent = 0
        if self._journal is not None:
            claimed_stale_s, unsure_after_s = self._stale
            await asyncio.to_thread(
                self._journal.settle,
                claimed_stale_s=claimed_stale_s,
                unsure_after_s=unsure_after_s,
            )
        self.backlog = False
        while True:
            if time.monotonic() >= deadline:
                self.backlog = True  # out of time, maybe not out of work: drain again at once
                break
            rows = await asyncio.to_thread(self._service.claim_outbox, self._batch)
            if not rows:
                break
            pending = list(rows)
            while pending:
                # The row whose chat may be written to soonest: no head-of-line blocking
                # behind one chat's 1/s limit; min() keeps each chat's rows in outbox order.
                row = pending.pop(min(range(len(pending)), key=lambda k: self._ready(pending[k])))
                if row.broadcast_id is not None:
                    self.active_broadcasts.add(int(row.broadcast_id))
                outcome = await self._deliver(row)
                if outcome is None:
                    continue  # another sender has it, or it is unsure: not ours to finish
                await asyncio.to_thread(self._service.finish_outbox, row.id, outcome)
                sent += outcome == "sent"
            await self.report_progress()
        self.sent += sent
        if sent:
            log.info("outbox_drained", sent=sent)
        await self.report_progress()
        return sent

    async def report_progress(self, *, force: bool = False) -> None:
        """Keep one progress message per broadcast up to date for the official who started it."""
        for bid in sorted(self.active_broadcasts):
            counts = await asyncio.to_thread(self._service.broadcast_progress, bid)
            done = not any(counts.get(state) for state in IN_FLIGHT)
            official = None
            if self._official_of is not None:
                official = await asyncio.to_thread(self._official_of, bid)
            if official is not None:
                await self._show_progress(bid, official, counts, done, force=force)
            if done:
                self.active_broadcasts.discard(bid)
                self._progress.pop(bid, None)
                log.info("broadcast_finished", broadcast_id=bid, **counts)

    async def _show_progress(
        self, bid: int, official: int, counts: dict[str, int], done: bool, *, force: bool
    ) -> None:
        resident = await asyncio.to_thread(self._service.resident, official)
        locale = getattr(resident, "locale", None) or "ko"
        key = "gateway.broadcast.done" if done else "gateway.broadcast.progress"
        if done and counts.get("unsure"):
            key = "gateway.broadcast.done_unsure"
        figures = ("total", "sent", "blocked", "failed", "unsure")
        text = self._catalog.text(locale, key, **{k: f"{counts.get(k, 0):,}" for k in figures})
        shown = self._progress.get(bid)
        now = time.monotonic()
        if shown is not None and (
            shown[2] == text or (now - shown[1] < self._progress_every and not done and not force)
        ):
            return  # fmt: skip
        try:
            if shown is None:
                message = await self._bot.send_message(official, text)
                self._progress[bid] = (message.message_id, now, text)
            else:
                await self._bot.edit_message_text(text, chat_id=official, message_id=shown[0])
                self._progress[bid] = (shown[0], now, text)
        except BadRequest as err:
            if shown is not None and not_modified(err):  # an earlier edit's lost reply: shown
                self._progress[bid] = (shown[0], now, text)
            else:
                log.warning("progress_not_shown", broadcast_id=bid, error=type(err).__name__)
        except (Forbidden, NetworkError, RetryAfter) as err:
            log.warning("progress_not_shown", broadcast_id=bid, error=type(err).__name__)

    def _ready(self, row: Any) -> float:
        """Return when `row`'s chat may next be written to (monotonic seconds)."""
        return self._last_by_chat.get(row.user_id, -1e9) + self._per_chat

    async def _pace(self, chat_id: int) -> None:
        """Wait for the next send slot and the chat's interval (`_window` checks the window)."""
        now = time.monotonic()
        slot = max(self._next_send, now - CATCH_UP_S)  # behind schedule: bounded catch-up
        at = max(slot, self._last_by_chat.get(chat_id, -1e9) + self._per_chat)
        if at > now:
            await asyncio.sleep(at - now)
        now = time.monotonic()
        self._next_send = slot + self._interval
        self._last_by_chat[chat_id] = now
        if len(self._last_by_chat) > 10_000:
            cutoff = now - self._per_chat
            self._last_by_chat = {c: t for c, t in self._last_by_chat.items() if t > cutoff}

    async def _window(self) -> None:
        """Right before a request: never per_second + 1 requests within one window, counting
        the others' that share it, and none during a 429's pause (`SendWindow`)."""
        await self.window.take()

    async def _begin(self, row: Any) -> bool:
        if self._journal is None:
            return True
        return await asyncio.to_thread(self._journal.begin, row.id)

    async def _release(self, row: Any) -> None:
        if self._journal is not None:
            await asyncio.to_thread(self._journal.release, row.id)

    async def _markup(self, row: Any) -> InlineKeyboardMarkup | None:
        """The button of a notice in NOTICE_BUTTONS (None for every other row)."""
        button = NOTICE_BUTTONS.get(row.key)
        if button is None:
            return None
        label, action = button
        token = await asyncio.to_thread(
            self._service.issue_button, row.user_id, action, {}, NOTICE_BUTTON_TTL_S
        )
        text = self._catalog.text(row.locale, label)
        return InlineKeyboardMarkup([[InlineKeyboardButton(text, callback_data=token)]])

    async def _text(self, row: Any) -> tuple[str, NoticeTitle | None]:
        """Return the row's text as it may be read now.

        A notice about a proposal names it as `service.notice_title` has it at this attempt,
        whatever the row was queued or claimed with: once the proposal is hidden (to everyone
        but its author) or erased, the notice's variant for a withheld title
        (`report.withheld_notice`: what happened to proposal "#3", and why its title is not
        shown), built from the proposal's id and the reason alone, never from the row's
        params (a row queued before 6c7cb5a may still hold the title). Read at every attempt,
        after the pacing's waits, so a hiding during a 429's pause counts; what was delivered
        before is edited by the clock (gateway.notice_edits), from what `_deliver` recorded.
        Returns the text and what it was written with (None: not about a proposal).
        """
        params = {k: v for k, v in row.params.items() if k != "title"}
        if "proposal" not in params:
            return self._catalog.text(row.locale, row.key, **row.params), None
        proposal = str(params["proposal"])
        seen = await asyncio.to_thread(self._service.notice_title, proposal, row.user_id)
        return notice_text(self._catalog, row.locale, row.key, params, seen), seen

    async def _deliver(self, row: Any) -> str | None:
        """Send one row; return its final state, or None when it must not be finished here."""
        markup = await self._markup(row)
        for _attempt in range(5):
            await self._pace(row.user_id)
            text, seen = await self._text(row)  # before begin: a failed read leaves it claimed
            if not await self._begin(row):
                log.info("outbox_row_taken", outbox_id=row.id)
                return None
            await self._window()
            try:
                if markup is None:
                    message = await self._bot.send_message(row.user_id, text)
                else:
                    message = await self._bot.send_message(row.user_id, text, reply_markup=markup)
            except RetryAfter as err:
                pause = transport.retry_after_s(err)
                log.warning("send_throttled", retry_after=pause)
                self._next_send = time.monotonic() + pause
                self.window.pause(pause)  # the editor's edits wait too
                await self._release(row)  # a 429 delivered nothing
            except Forbidden:
                return "blocked"  # the person blocked the bot: finish_outbox marks them
            except BadRequest as err:
                log.warning("send_refused", outbox_id=row.id, error=type(err).__name__)
                return "blocked" if "chat not found" in str(err).lower() else "failed"
            except NetworkError as err:
                log.warning("send_failed", outbox_id=row.id, error=type(err).__name__)
                if self._journal is None or transport.surely_unsent(err):
                    await self._release(row)
                    return "failed"
                return None  # maybe delivered: left "sending", settled as unsure, never resent
            else:
                await self._delivered(row, seen, message, markup is not None)
                return "sent"
        return "failed"

    async def _delivered(
        self, row: Any, seen: NoticeTitle | None, message: Any, with_markup: bool
    ) -> None:
        """Record a delivered notice about a proposal (its message, what it showed) so the
        clock can edit it; a notice with a button (NOTICE_BUTTONS, never about a proposal)
        is not recorded: an edit without its keyboard would remove the button."""
        message_id = getattr(message, "message_id", None)
        if self._journal is None or seen is None or with_markup or message_id is None:
            return
        proposal = str(row.params["proposal"])
        await asyncio.to_thread(
            self._journal.delivered, row.id, proposal, int(message_id), shown_of(seen)
        )
