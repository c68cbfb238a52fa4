"""The clock's outbox sender and notice editor share the bot's limit (`SendWindow`).

Both send through one bot in the clock process: the sender at Telegram's 30 messages a second,
the editor (edits of delivered notices after a hiding) up to 10 a second beside it. Each kept
its own window, so an official's hiding during a broadcast went over the limit, and a 429
answered to one did not hold the other, which sent on into more 429s.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from gateway import broadcast
from gateway.broadcast import OutboxSender
from gateway.broadcast import SendWindow
from gateway.notice_edits import NoticeEditor
from gateway.settings import SANDBOX_TOKEN


class Edits:
    """A bot whose edits are timed (or refused with `refuse`)."""

    def __init__(self, refuse: Exception | None = None) -> None:
        self.at: list[float] = []
        self.refuse = refuse

    async def edit_message_text(self, *args: Any, **kwargs: Any) -> bool:
        self.at.append(time.monotonic())
        if self.refuse is not None:
            raise self.refuse
        return True


def row(n: int) -> Any:
    return SimpleNamespace(id=n, user_id=1000 + n, message_id=n)


def pair(window: SendWindow, bot: Edits) -> tuple[OutboxSender, NoticeEditor]:
    sender = OutboxSender(None, None, None, per_second=3, window=window)  # type: ignore[arg-type]
    editor = NoticeEditor(bot, None, None, None, edit_gap_s=0, chat_gap_s=0, window=window)  # type: ignore[arg-type]
    return sender, editor


@pytest.mark.asyncio
async def test_sends_and_edits_together_stay_within_the_bots_limit(monkeypatch):
    monkeypatch.setattr(broadcast, "WINDOW_S", 0.3)
    bot = Edits()
    sender, editor = pair(SendWindow(per_second=3), bot)
    sent: list[float] = []

    async def send(n: int) -> None:
        for _ in range(n):
            await sender._window()
            sent.append(time.monotonic())

    async def edit(n: int) -> None:
        for k in range(n):
            assert await editor._edit(row(k), "text") == "edited"

    await asyncio.gather(send(5), edit(5))
    requests = sorted(sent + bot.at)
    assert len(requests) == 10
    # never 4 requests (per_second + 1) within one window, sends and edits counted together
    assert all(
        later - first >= 0.3 - 0.01 for first, later in zip(requests, requests[3:], strict=False)
    )


@pytest.mark.asyncio
async def test_a_429_answered_to_an_edit_holds_the_outbox_senders_next_send():
    window = SendWindow()
    sender, editor = pair(window, Edits(refuse=RetryAfter(1)))
    assert await editor._edit(row(1), "text") == "refused"
    assert 0.9 < window.paused_for() <= 1.0
    started = time.monotonic()
    await sender._window()
    assert time.monotonic() - started >= 0.9


@pytest.mark.asyncio
async def test_an_edit_waits_out_a_429_answered_to_the_outbox_sender():
    window = SendWindow()
    bot = Edits()
    _sender, editor = pair(window, bot)
    window.pause(0.5)  # as OutboxSender._deliver does on its RetryAfter
    started = time.monotonic()
    assert await editor._edit(row(1), "text") == "edited"
    assert bot.at[0] - started >= 0.45


def test_the_clock_gives_the_sender_and_the_editor_one_window(tmp_path: Path):
    from gateway.processes import clock_jobs
    from gateway.settings import Settings
    from gateway.wiring import Runtime

    rt = Runtime(Settings.from_env({"VAR_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:1"}))
    try:
        jobs = {name: args for name, _job, _period, args in
                clock_jobs(rt, Bot(SANDBOX_TOKEN, base_url="http://127.0.0.1:1/bot"))}  # fmt: skip
    finally:
        rt.close()
    [sender], [editor, _runs] = jobs["drive_broadcasts"], jobs["refresh_notices"]
    assert isinstance(sender, OutboxSender) and isinstance(editor, NoticeEditor)
    assert sender.window is editor._window
