"""Deliver the participation outbox (notices and broadcasts) within Telegram's limits.

At most `per_second` messages per second overall (30, Telegram's bulk limit) and one per
second per chat; a `RetryAfter` pauses all sending for the time Telegram asks. Rows are
claimed from the persistent outbox and finished after the send, so a crashed sender's rows
are claimed again by the next run (the service re-offers rows left claimed for 5 minutes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from telegram import Bot
from telegram.error import BadRequest
from telegram.error import Forbidden
from telegram.error import NetworkError
from telegram.error import RetryAfter

from i18n.catalog import Catalog

log = structlog.get_logger("gateway.broadcast")


def _seconds(value: Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)


class OutboxSender:
    """Drain `service.claim_outbox` through `bot`, politely."""

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
    ) -> None:
        self._service, self._bot, self._catalog = service, bot, catalog
        self._interval = 1.0 / per_second
        self._per_chat = per_chat_interval
        self._batch = batch
        self._next_send = 0.0
        self._last_by_chat: dict[int, float] = {}
        self.sent = 0
        self.active_broadcasts: set[int] = set()
        self._official_of = official_of
        self._progress_every = progress_every_s
        self._progress: dict[int, tuple[int, float, str]] = {}  # bid -> (message_id, at, text)

    async def drain(self, budget_s: float = 50.0) -> int:
        """Send until the outbox is empty or `budget_s` has passed; return how many were sent."""
        deadline = time.monotonic() + budget_s
        sent = 0
        while time.monotonic() < deadline:
            rows = await asyncio.to_thread(self._service.claim_outbox, self._batch)
            if not rows:
                break
            for row in rows:
                outcome = await self._deliver(row)
                await asyncio.to_thread(self._service.finish_outbox, row.id, outcome)
                sent += outcome == "sent"
                if row.broadcast_id is not None:
                    self.active_broadcasts.add(int(row.broadcast_id))
            await self.report_progress()
        self.sent += sent
        if sent:
            log.info("outbox_drained", sent=sent)
        await self.report_progress()
        return sent

    async def report_progress(self, *, force: bool = False) -> None:
        """Keep one progress message per broadcast up to date for the official who started it."""
        if self._official_of is None:
            return
        for bid in sorted(self.active_broadcasts):
            counts = await asyncio.to_thread(self._service.broadcast_progress, bid)
            done = not counts.get("pending") and not counts.get("claimed")
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
        text = self._catalog.text(
            locale, key, **{k: f"{counts.get(k, 0):,}" for k in ("total", "sent", "blocked",
                                                                  "failed")}
        )  # fmt: skip
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
        except (BadRequest, Forbidden, NetworkError, RetryAfter) as err:
            log.warning("progress_not_shown", broadcast_id=bid, error=type(err).__name__)

    async def _pace(self, chat_id: int) -> None:
        now = time.monotonic()
        wait = max(
            self._next_send - now, self._last_by_chat.get(chat_id, -1e9) + self._per_chat - now
        )
        if wait > 0:
            await asyncio.sleep(wait)
        now = time.monotonic()
        self._next_send = now + self._interval
        self._last_by_chat[chat_id] = now
        if len(self._last_by_chat) > 10_000:
            cutoff = now - self._per_chat
            self._last_by_chat = {c: t for c, t in self._last_by_chat.items() if t > cutoff}

    async def _deliver(self, row: Any) -> str:
        text = self._catalog.text(row.locale, row.key, **dict(row.params))
        for _attempt in range(5):
            await self._pace(row.user_id)
            try:
                await self._bot.send_message(row.user_id, text)
                return "sent"
            except RetryAfter as err:
                pause = _seconds(err.retry_after)
                log.warning("send_throttled", retry_after=pause)
                self._next_send = time.monotonic() + pause
            except Forbidden:
                return "blocked"  # the person blocked the bot: finish_outbox marks them
            except BadRequest as err:
                log.warning("send_refused", outbox_id=row.id, error=type(err).__name__)
                return "blocked" if "chat not found" in str(err).lower() else "failed"
            except NetworkError as err:
                log.warning("send_failed", outbox_id=row.id, error=type(err).__name__)
                return "failed"
        return "failed"
