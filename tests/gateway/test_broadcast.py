"""The outbox sender against the sandbox with Telegram's flood limits switched on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pytest
from telegram import Bot

from gateway.broadcast import WINDOW_S
from gateway.broadcast import OutboxSender
from gateway.settings import SANDBOX_TOKEN
from i18n.catalog import Catalog


@dataclass
class Row:
    id: int
    user_id: int
    locale: str
    key: str
    params: dict[str, Any]
    broadcast_id: int | None = 7


@dataclass
class FakeOutbox:
    rows: list[Row]
    finished: dict[int, str] = field(default_factory=dict)

    def claim_outbox(self, limit: int) -> list[Row]:
        claimed = [r for r in self.rows if r.id not in self.finished][:limit]
        for r in claimed:
            self.finished[r.id] = "claimed"
        return claimed

    def finish_outbox(self, id: int, state: str) -> None:
        self.finished[id] = state

    def broadcast_progress(self, broadcast_id: int) -> dict[str, int]:
        mine = [r for r in self.rows if r.broadcast_id == broadcast_id]
        counts = {"total": len(mine), "pending": 0}
        for r in mine:
            state = self.finished.get(r.id, "pending")
            counts[state] = counts.get(state, 0) + 1
        return counts

    def resident(self, user_id: int) -> None:
        return None


@pytest.fixture
def sandbox() -> Iterator[Any]:
    from sandbox.server import SandboxServer

    server = SandboxServer("127.0.0.1", 0, flood_limits=True, personas=False).start()
    yield server
    server.stop()


def test_outbox_is_delivered_within_limits_honoring_retry_after(sandbox):
    users = [sandbox.users.create(f"u{n}")["id"] for n in range(40)]
    blocked = sandbox.users.create("blocker")["id"]
    for user in [*users, blocked]:
        sandbox.send_text(user, "/start")  # a private chat exists once the person wrote
    sandbox.block_bot(blocked)
    rows = [Row(n, user, "ko", "gateway.run.stop", {}) for n, user in enumerate(users * 2)]
    rows.append(Row(len(rows), blocked, "en", "gateway.run.stop", {}))
    outbox = FakeOutbox(rows)
    official = sandbox.users.create("official")["id"]
    sandbox.send_text(official, "/start")
    sandbox.inject_429(1, retry_after=1)

    async def drain() -> int:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            sender = OutboxSender(outbox, bot, Catalog.load(), batch=20,
                                  official_of={7: official}.get, progress_every_s=0.5)  # fmt: skip
            return await sender.drain(budget_s=30)

    assert asyncio.run(drain()) == 80
    assert list(outbox.finished.values()).count("sent") == 80
    assert outbox.finished[len(rows) - 1] == "blocked"
    (progress,) = sandbox.messages(official)  # one message, edited as the broadcast went on
    done = Catalog.load().text("ko", "gateway.broadcast.done", total="81", sent="80",
                               blocked="1", failed="0")  # fmt: skip
    assert progress["text"] == done and progress["edited"]
    stats = sandbox.stats()
    assert stats["rate_limited"] == 1  # only the injected 429: we never tripped the limits
    for user in users:
        texts = [m["text"] for m in sandbox.messages(user)]
        assert texts.count(Catalog.load().text("ko", "gateway.run.stop")) == 2
        first, second = stats["per_chat"][user][-2:]
        assert second - first >= 1.0 - 0.25  # one a second per chat, less receipt jitter
    stamps = sorted(t for chat in users for t in stats["per_chat"][chat][-2:])
    # 30 a second: the sender spaces any 31 sends WINDOW_S (1.02 s) apart before each request;
    # the sandbox stamps them on receipt, after the HTTP round trip, whose delay varies under
    # load (CI once saw 31 receipts in 0.897 s against the old bound of 0.95 s, the sandbox's
    # own 30/s flood limit untripped). Allowed: 0.25 s of that jitter.
    for i in range(len(stamps) - 30):
        assert stamps[i + 30] - stamps[i] >= WINDOW_S - 0.25


@dataclass
class SlowOutbox(FakeOutbox):
    """Each finish commit takes 15 ms, as a loaded database does."""

    def finish_outbox(self, id: int, state: str) -> None:
        import time

        time.sleep(0.015)
        super().finish_outbox(id, state)


class StampingBot:
    def __init__(self) -> None:
        self.stamps: list[float] = []

    async def send_message(self, chat_id: int, text: str) -> None:
        import time

        self.stamps.append(time.monotonic())


def test_per_send_overhead_is_not_lost_and_no_window_holds_more_than_thirty():
    rows = [Row(n, 1000 + n, "ko", "gateway.run.stop", {}, None) for n in range(120)]
    bot = StampingBot()
    sender = OutboxSender(SlowOutbox(rows), bot, Catalog.load())  # type: ignore[arg-type]
    assert asyncio.run(sender.drain(budget_s=30)) == 120
    stamps = bot.stamps
    for i in range(len(stamps) - 30):
        assert stamps[i + 30] - stamps[i] >= 1.0  # never 31 sends within one second
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate >= 27  # the 15 ms per send is absorbed (spacing each send from the last: 20/s)


class LosingBot:
    """A Bot API whose first edit is applied but its reply lost (a network error), as happens
    on a flaky line; an edit to the text already shown is refused as Telegram does."""

    def __init__(self) -> None:
        self.shown = ""
        self.edits = 0

    async def send_message(self, chat_id: int, text: str) -> Any:
        from types import SimpleNamespace

        self.shown = text
        return SimpleNamespace(message_id=1)

    async def edit_message_text(self, text: str, *, chat_id: int, message_id: int) -> None:
        from telegram.error import BadRequest
        from telegram.error import NetworkError

        self.edits += 1
        if text == self.shown:
            raise BadRequest("Message is not modified: specified new message content and reply"
                             " markup are exactly the same as a current content and reply markup"
                             " of the message")  # fmt: skip
        self.shown = text
        if self.edits == 1:
            raise NetworkError("the reply was lost")


def test_a_progress_edit_whose_reply_was_lost_is_not_tried_again_and_again():
    """After a lost reply the next tick edits to the same text; Telegram's 'message is not
    modified' says it is shown: no warning, and no edit of the same text after that."""
    import structlog.testing

    rows = [Row(n, 1000 + n, "ko", "gateway.run.stop", {}) for n in range(2)]
    outbox = FakeOutbox(rows)
    bot = LosingBot()
    sender = OutboxSender(outbox, bot, Catalog.load(), official_of={7: 99}.get,  # type: ignore[arg-type]
                          progress_every_s=0.0)  # fmt: skip

    async def run() -> None:
        await sender.report_progress()  # the first message: 0 of 2
        outbox.finished[0] = "sent"
        sender.active_broadcasts.add(7)
        await sender.report_progress()  # edited, reply lost
        for _ in range(3):
            await sender.report_progress()  # the same text: 'not modified' once, then nothing

    sender.active_broadcasts.add(7)
    with structlog.testing.capture_logs() as logs:
        asyncio.run(run())
    assert bot.edits == 2
    warned = [entry for entry in logs if entry["event"] == "progress_not_shown"]
    assert [w["error"] for w in warned] == ["NetworkError"]
