"""Broadcasts on the real outbox: audience by 시·군, blocked people, and crashes mid-broadcast.

The sender runs against the sandbox with Telegram's flood limits on; a "crash" is a
`Crash` (BaseException, like SystemExit) raised from inside the bot at a chosen moment, after
which the sender object is dropped and a fresh one resumes from the database alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from telegram import Bot

from gateway.broadcast import DeliveryJournal
from gateway.broadcast import OutboxSender
from gateway.settings import SANDBOX_TOKEN
from i18n.catalog import Catalog
from ledger import Ledger
from ledger import LedgerKey
from participation.domain.events import KINDS
from participation.service import ParticipationService
from participation.store import tables

OFFICIAL = 7_100_000_001
KEY = "participation.notice.results"
PARAMS = {"title": "2017 따복공동체", "count": 3, "channel": "@gg_ledger"}


class Crash(BaseException):
    """The process dies here (nothing below the raise runs, no except clause catches it)."""


class CrashingBot(Bot):
    """A Bot that dies once, before or after its `after`-th successful sendMessage."""

    def __init__(self, *args: Any, after: int, when: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._countdown, self._when = after, when

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if self._countdown == 0 and self._when == "before":
            raise Crash()
        message = await super().send_message(*args, **kwargs)
        self._countdown -= 1
        if self._countdown == 0 and self._when == "after":
            raise Crash()  # delivered, but "sent" is never recorded
        return message


@pytest.fixture
def sandbox() -> Iterator[Any]:
    from sandbox.server import SandboxServer

    server = SandboxServer("127.0.0.1", 0, flood_limits=True, personas=False).start()
    server.users.create("official", user_id=OFFICIAL)
    yield server
    server.stop()


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ParticipationService]:
    key = LedgerKey.from_seed("test-ledger", bytes(range(32)))
    log = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", key, origin="t.example/l", kinds=KINDS)
    service = ParticipationService(
        log, pepper=b"broadcast-pepper-0123", clock=lambda: dt.datetime.now(dt.UTC)
    )
    service.create_tables()
    service.grant_first_official(OFFICIAL)
    yield service
    log.close()


def people(sandbox: Any, svc: ParticipationService, regions: list[str]) -> list[int]:
    """Create sandbox users who started the bot and registered in the given 시·군."""
    out = []
    for n, region in enumerate(regions):
        uid = int(sandbox.users.create(f"r{n}")["id"])
        sandbox.send_text(uid, "/start")
        svc.register(uid, region=region, consent_version="2017-02")
        out.append(uid)
    return out


def received(sandbox: Any, uid: int) -> int:
    text = Catalog.load().text("ko", KEY, **PARAMS)
    return [m["text"] for m in sandbox.messages(uid)].count(text)


def states(svc: ParticipationService, bid: int) -> dict[int, str]:
    o = tables.outbox.c
    with svc._engine.connect() as conn:
        rows = conn.execute(sa.select(o.user_id, o.state).where(o.broadcast_id == bid)).all()
    return {int(u): str(s) for u, s in rows}


async def run_sender(
    sandbox: Any, svc: ParticipationService, *, bot_class: type[Bot] = Bot, **bot_kwargs: Any
) -> OutboxSender:
    journal = DeliveryJournal(svc._engine)
    async with bot_class(SANDBOX_TOKEN, base_url=sandbox.api_base_url, **bot_kwargs) as bot:
        sender = OutboxSender(
            svc, bot, Catalog.load(), journal=journal, official_of=lambda _b: OFFICIAL,
            progress_every_s=0.2, claimed_stale_s=0, unsure_after_s=0,
        )  # fmt: skip
        await sender.drain(budget_s=30)
    return sender


def test_broadcast_by_region_reaches_only_that_region_and_unsubscribes_blockers(sandbox, svc):
    suwon = people(sandbox, svc, ["suwon"] * 5)
    others = people(sandbox, svc, ["yeoncheon"] * 3)
    sandbox.send_text(OFFICIAL, "/start")
    sandbox.block_bot(suwon[0])
    bid = svc.enqueue_broadcast(OFFICIAL, KEY, PARAMS, region="suwon")

    asyncio.run(run_sender(sandbox, svc))

    assert [received(sandbox, u) for u in suwon] == [0, 1, 1, 1, 1]
    assert [received(sandbox, u) for u in others] == [0, 0, 0]
    resident = svc.resident(suwon[0])
    assert resident is not None and not resident.subscribed
    counts = svc.broadcast_progress(bid)
    assert (counts["total"], counts["sent"], counts["blocked"]) == (5, 4, 1)
    (progress,) = sandbox.messages(OFFICIAL)
    assert progress["text"] == Catalog.load().text(
        "ko", "gateway.broadcast.done", total="5", sent="4", blocked="1", failed="0"
    )


@pytest.mark.parametrize("crash_after", [1, 12])
def test_a_crash_after_a_send_resumes_without_messaging_anyone_twice(sandbox, svc, crash_after):
    everyone = people(sandbox, svc, ["suwon", "yeoncheon"] * 10)
    sandbox.send_text(OFFICIAL, "/start")
    bid = svc.enqueue_broadcast(OFFICIAL, KEY, PARAMS)
    sandbox.inject_429(2, retry_after=1)

    with pytest.raises(Crash):
        asyncio.run(run_sender(sandbox, svc, bot_class=CrashingBot, after=crash_after,
                               when="after"))  # fmt: skip
    assert sum(received(sandbox, u) for u in everyone) == crash_after
    asyncio.run(run_sender(sandbox, svc))  # a new process, from the database alone

    assert [received(sandbox, u) for u in everyone] == [1] * len(everyone)
    final = states(svc, bid)
    assert sorted(final.values()).count("unsure") == 1  # the one the crash cut off
    assert set(final.values()) == {"sent", "unsure"}
    stats = sandbox.stats()
    assert stats["rate_limited"] == 2  # only the injected 429s: the limits were never hit


def test_a_crash_before_a_send_leaves_that_person_unsure_never_twice(sandbox, svc):
    everyone = people(sandbox, svc, ["suwon"] * 6)
    sandbox.send_text(OFFICIAL, "/start")
    bid = svc.enqueue_broadcast(OFFICIAL, KEY, PARAMS)

    with pytest.raises(Crash):
        asyncio.run(run_sender(sandbox, svc, bot_class=CrashingBot, after=3, when="before"))
    asyncio.run(run_sender(sandbox, svc))

    got = [received(sandbox, u) for u in everyone]
    assert got == [1, 1, 1, 0, 1, 1]  # the 4th was "sending" at the crash: at most once
    assert states(svc, bid)[everyone[3]] == "unsure"
    progress = sandbox.messages(OFFICIAL)[-1]
    assert progress["text"] == Catalog.load().text(
        "ko", "gateway.broadcast.done_unsure",
        total="6", sent="5", blocked="0", failed="0", unsure="1",
    )  # fmt: skip


def test_only_one_of_two_senders_may_send_a_row(svc):
    uid = 7_100_000_100
    svc.register(uid, region="suwon", consent_version="2017-02")
    svc.enqueue_broadcast(OFFICIAL, KEY, PARAMS)
    (row,) = svc.claim_outbox(10)
    first, second = DeliveryJournal(svc._engine), DeliveryJournal(svc._engine)
    assert first.begin(row.id) is True
    assert second.begin(row.id) is False
    first.release(row.id)  # a 429: nothing was delivered, it may be tried again
    assert second.begin(row.id) is True
