"""The clock: one digest per block in the channel, leader lease, catch-up after downtime."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from telegram import Bot

from gateway import store
from gateway.clock import Clock
from gateway.clock import Leadership
from gateway.clock import seal_block
from gateway.digest import DigestPublisher
from gateway.settings import SANDBOX_TOKEN
from gateway.store import DigestLog
from gateway.store import JobRuns
from i18n.catalog import Catalog
from ledger import Ledger
from ledger import LedgerKey
from ledger.checkpoint import open_checkpoint
from tests.gateway.support import RedisServer

KEY = LedgerKey.generate("gg-ledger")
BASE = "https://ttabok.example"


@pytest.fixture
def sandbox() -> Iterator[Any]:
    from sandbox.server import SandboxServer

    server = SandboxServer("127.0.0.1", 0).start()
    yield server
    server.stop()


def digest_scenario(db_url: str, sandbox: Any) -> None:
    """Seal three times (once with nothing new) and check the channel holds one post a block."""
    log = Ledger.open(db_url, KEY, "ttabok.example/ledger")
    store.metadata.create_all(log.engine)
    runs, digests = JobRuns(log.engine), DigestLog(log.engine)

    async def scenario() -> None:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            publisher = DigestPublisher(log, digests, bot, Catalog.load(), channel="@gg_ledger",
                                        base_url=BASE)  # fmt: skip
            for n in range(3):
                log.append("test.noted", "r:1", "round-1", {"n": n})
            await seal_block(log, publisher, runs)
            await seal_block(log, publisher, runs)  # an empty period seals nothing
            for n in range(4):
                log.append("test.noted", "r:1", "round-1", {"n": n})
            await seal_block(log, publisher, runs)

    try:
        asyncio.run(scenario())
        posts = sandbox.channel_posts("@gg_ledger")
        blocks = log.blocks()
        assert [b.number for b in blocks] == [1, 2]
        assert len(posts) == 2, "exactly one message per block"
        for post, block in zip(posts, blocks, strict=True):
            check_digest(post, block)
        assert digests.posted_numbers() == {1, 2}
        assert runs.last_run("seal_block") is not None
    finally:
        log.close()


def check_digest(post: dict[str, Any], block: Any) -> None:
    """The digest's own contents verify: the signed checkpoint, root and range agree."""
    text = post["text"]
    pre = next(e for e in post["entities"] if e["type"] == "pre")
    checkpoint = utf16_slice(text, pre["offset"], pre["length"]) + "\n"
    opened = open_checkpoint(checkpoint, KEY.verifier)
    assert opened.size == block.end and opened.root == block.root
    assert f"블록 {block.number}번이 봉인되었습니다" in text
    assert f"{block.start}번 ~ {block.end - 1}번 ({block.end - block.start}건)" in text
    assert block.root.hex() in text
    assert re.search(r"\d{4}년 \d{1,2}월 \d{1,2}일", text)
    link = next(e for e in post["entities"] if e["type"] == "text_link")
    assert link["url"] == f"{BASE}/verify?b={block.number}"


def utf16_slice(text: str, offset: int, length: int) -> str:
    raw = text.encode("utf-16-le")
    return raw[offset * 2 : (offset + length) * 2].decode("utf-16-le")


def test_digest_job_posts_exactly_one_verifiable_message_per_block(tmp_path: Path, sandbox):
    digest_scenario(f"sqlite:///{tmp_path}/l.db", sandbox)


@pytest.mark.integration
def test_digest_job_on_postgresql(pg_url: str, sandbox):
    digest_scenario(pg_url, sandbox)


def test_digest_marked_posting_is_posted_again_after_a_crash(tmp_path: Path, sandbox):
    log = Ledger.open(f"sqlite:///{tmp_path}/l.db", KEY, "ttabok.example/ledger")
    store.metadata.create_all(log.engine)
    digests = DigestLog(log.engine)
    log.append("test.noted", "r:1", None, {"n": 1})
    log.seal()
    digests.mark(1, "posting")  # the process died between marking and sending

    async def publish() -> list[int]:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            publisher = DigestPublisher(log, digests, bot, Catalog.load(), channel="@gg_ledger",
                                        base_url=BASE)  # fmt: skip
            return await publisher.publish_pending() + await publisher.publish_pending()

    try:
        assert asyncio.run(publish()) == [1]
        assert len(sandbox.channel_posts("@gg_ledger")) == 1
    finally:
        log.close()


# ------------------------------------------------------------------ leadership and catch-up


def run_clocks(clocks: list[Clock], body: Any) -> None:
    async def main() -> None:
        tasks = [asyncio.create_task(c.run()) for c in clocks]
        try:
            await body()
        finally:
            for c in clocks:
                c.stop()
            await asyncio.gather(*tasks)

    asyncio.run(main())


def test_second_clock_stays_idle_and_takes_over_when_the_first_stops(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    engine = sa.create_engine(f"sqlite:///{tmp_path}/c.db")
    store.metadata.create_all(engine)
    calls: list[str] = []

    async def tick(who: str) -> None:
        calls.append(who)

    def clock(name: str) -> Clock:
        lease = Leadership(server.client(), "clock:leader", name, ttl_ms=600)
        return Clock(lease, JobRuns(engine), [(f"tick-{name}", tick, 0.05, [name])])

    first, second = clock("a"), clock("b")

    async def body() -> None:
        await asyncio.sleep(0.4)
        assert first.leading != second.leading, "exactly one clock leads"
        leader, follower = (first, second) if first.leading else (second, first)
        before = set(calls)
        leader.stop()
        for _ in range(40):
            await asyncio.sleep(0.1)
            if follower.leading:
                break
        assert follower.leading
        assert len(before) == 1

    try:
        run_clocks([first, second], body)
        assert set(calls) == {"a", "b"}
    finally:
        engine.dispose()
        server.kill()


def test_missed_runs_catch_up_once_and_recent_runs_keep_their_rhythm(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    engine = sa.create_engine(f"sqlite:///{tmp_path}/c.db")
    store.metadata.create_all(engine)
    runs = JobRuns(engine)
    now = datetime.now(UTC)
    runs.record("overdue", now - timedelta(hours=1))  # six 10-minute periods missed
    runs.record("recent", now - timedelta(seconds=30))
    calls: list[str] = []

    async def job(name: str) -> None:
        calls.append(name)
        runs.record(name)

    lease = Leadership(server.client(), "clock:leader", "only", ttl_ms=3000)
    clock = Clock(lease, runs, [("overdue", job, 600, ["overdue"]), ("recent", job, 600,
                                                                      ["recent"])])  # fmt: skip

    async def body() -> None:
        await asyncio.sleep(0.6)

    try:
        run_clocks([clock], body)
        assert calls == ["overdue"]
    finally:
        engine.dispose()
        server.kill()


def test_judges_are_reminded_once_per_threshold(tmp_path: Path, sandbox):
    import time
    from types import SimpleNamespace

    from gateway.clock import remind_judges

    judge, done_judge = (int(sandbox.users.create(n)["id"]) for n in ("심사위원", "끝낸 위원"))
    for uid in (judge, done_judge):
        sandbox.send_text(uid, "/start")
    deadline = int(time.time()) + 3600 * 20  # inside the 24 h window, outside the 1 h one
    view = SimpleNamespace(round_id="gg2017", title="2017 따복공동체", phase="review",
                           deadline=deadline)  # fmt: skip
    service = SimpleNamespace(
        rounds=lambda: [view, SimpleNamespace(round_id="x", title="x", phase="endorsement",
                                              deadline=deadline)],
        judges_to_remind=lambda round_id: [judge],
        resident=lambda uid: SimpleNamespace(locale="ko"),
    )  # fmt: skip
    engine = sa.create_engine(f"sqlite:///{tmp_path}/c.db")
    store.metadata.create_all(engine)
    runs = JobRuns(engine)

    async def remind(times: int) -> None:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            for _ in range(times):
                await remind_judges(service, bot, Catalog.load(), runs)

    try:
        asyncio.run(remind(3))
        assert len(sandbox.messages(judge)) == 1 and sandbox.messages(done_judge) == []
        assert "2017 따복공동체" in sandbox.messages(judge)[0]["text"]
        view.deadline = int(time.time()) + 3600 * 2  # two hours before: still outside 1 h
        asyncio.run(remind(1))
        assert len(sandbox.messages(judge)) == 1
        view.deadline = int(time.time()) + 3000  # under an hour before: one more reminder
        asyncio.run(remind(2))
        assert len(sandbox.messages(judge)) == 2
    finally:
        engine.dispose()


def test_a_clock_that_wins_the_lease_while_the_database_is_down_leads_once_it_is_back(
    tmp_path: Path,
):
    """Taking the lead reads every job's last run from the database. With the database down
    at that moment (Redis came back first after both restarted: the reliability suite's
    restarts) the read failed and the clock process exited. It now waits and leads when the
    database answers again."""
    server = RedisServer(tmp_path / "r").start()
    engine = sa.create_engine(f"sqlite:///{tmp_path}/c.db")
    store.metadata.create_all(engine)
    runs = JobRuns(engine)
    down = {"reads": 2}  # the first two reads of last runs fail as a refused connection does
    real_last_run = runs.last_run

    def last_run(job_id: str) -> datetime | None:
        if down["reads"] > 0:
            down["reads"] -= 1
            raise sa.exc.OperationalError("SELECT", {}, ConnectionRefusedError("refused"))
        return real_last_run(job_id)

    runs.last_run = last_run  # type: ignore[method-assign]
    calls: list[str] = []

    async def tick() -> None:
        calls.append("tick")

    lease = Leadership(server.client(), "clock:leader", "only", ttl_ms=600)
    clock = Clock(lease, runs, [("tick", tick, 0.05, [])])

    async def body() -> None:
        for _ in range(100):
            if calls:
                return
            await asyncio.sleep(0.05)

    try:
        run_clocks([clock], body)
        assert down["reads"] == 0 and calls, "the clock never led after the database came back"
    finally:
        engine.dispose()
        server.kill()
