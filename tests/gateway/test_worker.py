"""Workers: order per chat, at most once in effect, takeover after kill -9, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
import sqlalchemy as sa
from telegram import Update
from telegram.ext import Application
from telegram.ext import MessageHandler
from telegram.ext import filters

from gateway import store
from gateway.store import ProcessedUpdates
from gateway.worker import UpdateWorker
from gateway.worker import WorkerConfig
from tests.gateway import worker_proc
from tests.gateway.support import OfflineRequest
from tests.gateway.support import RedisServer
from tests.gateway.support import message_update
from webhook.inbox import Inbox
from webhook.inbox import StreamLayout

ROOT = Path(__file__).resolve().parents[2]
FAST = WorkerConfig(lease_ms=1500, block_ms=100, backoff_s=0.02, max_backoff_s=0.2)


def updates_for(chats: int, per_chat: int, first_id: int = 1000) -> list[dict[str, Any]]:
    """Interleave `per_chat` numbered messages of each chat, as a hall of people would."""
    out, update_id = [], first_id
    for seq in range(1, per_chat + 1):
        for chat in range(chats):
            chat_id = 500_000 + chat * 7919
            out.append(message_update(update_id, chat_id, text=f"{chat_id}:{seq}"))
            update_id += 1
    return out


def prepare_db(url: str) -> sa.Engine:
    engine = worker_proc.make_engine(url)
    worker_proc.meta.create_all(engine)
    store.metadata.create_all(engine)
    return engine


def applied_rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(worker_proc.applied)))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def assert_exactly_once_in_order(engine: sa.Engine, updates: list[dict[str, Any]]) -> list[Any]:
    rows = applied_rows(engine)
    ids = sorted(r.update_id for r in rows)
    assert ids == sorted(u["update_id"] for u in updates), "lost or doubled updates"
    assert all(r.in_order for r in rows), "a chat's updates were applied out of order"
    return rows


LOG_DIR: list[Path] = []  # set by the autouse fixture below: the test's own tmp_path


@pytest.fixture(autouse=True)
def _worker_logs(tmp_path: Path) -> None:
    LOG_DIR[:] = [tmp_path]


def start_worker(redis_url: str, db_url: str, prefix: str, partitions: int) -> subprocess.Popen:
    """Start a worker process; its output goes to a file in the test's tmp_path."""
    with open(LOG_DIR[0] / f"worker-{time.time_ns()}.log", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.worker_proc", redis_url, db_url, prefix,
             str(partitions), "1500"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def feed(inbox: Inbox, updates: list[dict[str, Any]], pause: float = 0.0) -> None:
    for update in updates:
        while True:
            try:
                inbox.put_once(update)
                break
            except redis.RedisError:  # Telegram would retry; so do we
                time.sleep(0.05)
        if pause:
            time.sleep(pause)


# ------------------------------------------------------------------ in one event loop


def recording_app(log: list[tuple[int, str]], fail: Callable[[int], Exception | None]) -> Any:
    async def record(update: Update, _context: Any) -> None:
        assert update.message is not None
        error = fail(update.update_id)
        if error is not None:
            raise error
        log.append((update.update_id, update.message.text or ""))

    app = Application.builder().token("1:T").request(OfflineRequest()).updater(None).build()
    app.add_handler(MessageHandler(filters.TEXT, record))
    return app


async def run_workers(workers: list[UpdateWorker], until: Callable[[], bool]) -> None:
    tasks = [asyncio.create_task(w.run()) for w in workers]
    deadline = time.monotonic() + 20
    while not until() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    for w in workers:
        w.stop()
    try:
        await asyncio.gather(*tasks)
    finally:
        for w in workers:
            await w.client.aclose()


def test_two_workers_share_partitions_and_keep_each_chat_in_order(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    try:
        engine = prepare_db(f"sqlite:///{tmp_path}/db.sqlite")
        layout = StreamLayout(8)
        updates = updates_for(chats=12, per_chat=10)
        feed(Inbox(server.client(), layout), updates)
        seen: list[tuple[int, str]] = []
        workers = [
            UpdateWorker(aredis.Redis.from_url(server.url), layout,
                         recording_app(seen, lambda _i: None), ProcessedUpdates(engine),
                         name=f"w{i}", config=FAST)
            for i in range(2)
        ]  # fmt: skip
        asyncio.run(run_workers(workers, lambda: len(seen) >= len(updates)))
        assert sorted(i for i, _t in seen) == [u["update_id"] for u in updates]
        by_chat: dict[str, list[int]] = {}
        for _i, text in seen:
            chat, seq = text.split(":")
            by_chat.setdefault(chat, []).append(int(seq))
        assert all(seqs == sorted(seqs) for seqs in by_chat.values())
        assert int(server.client().get("metrics:updates_processed")) == len(updates)
        assert sum(server.client().xlen(s) for s in layout.streams()) == 0  # acked and deleted
        engine.dispose()
    finally:
        server.kill()


def test_an_update_ptb_cannot_parse_is_dead_lettered_and_the_chat_goes_on(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    try:
        engine = prepare_db(f"sqlite:///{tmp_path}/db.sqlite")
        layout = StreamLayout(1)
        updates = updates_for(chats=1, per_chat=3)
        bad = updates[1]["update_id"]
        updates[1]["message"]["entities"] = [{"type": "bold"}]  # no offset/length: TypeError
        feed(Inbox(server.client(), layout), updates)
        # a dead letter from long ago (past dead_letter_keep_s): trimmed when the next one comes
        server.client().xadd("updates:dead", {"u": b'{"update_id": 1}'}, id="1-0")
        seen: list[tuple[int, str]] = []
        worker = UpdateWorker(aredis.Redis.from_url(server.url), layout,
                              recording_app(seen, lambda _i: None), ProcessedUpdates(engine),
                              name="w", config=FAST)  # fmt: skip
        asyncio.run(run_workers([worker], lambda: len(seen) >= 2))
        assert [i for i, _t in seen] == [u["update_id"] for u in updates if u["update_id"] != bad]
        dead = server.client().xrange("updates:dead")
        assert len(dead) == 1 and b'"update_id": %d' % bad in dead[0][1][b"u"]
        engine.dispose()
    finally:
        server.kill()


def test_infrastructure_error_is_retried_in_order_and_poison_goes_to_dead_letters(
    tmp_path: Path,
):
    from sqlalchemy.exc import OperationalError

    server = RedisServer(tmp_path / "r").start()
    try:
        engine = prepare_db(f"sqlite:///{tmp_path}/db.sqlite")
        layout = StreamLayout(1)
        updates = updates_for(chats=1, per_chat=4)
        feed(Inbox(server.client(), layout), updates)
        flaky, poison = updates[1]["update_id"], updates[2]["update_id"]
        tries: dict[int, int] = {}

        def fail(update_id: int) -> Exception | None:
            tries[update_id] = tries.get(update_id, 0) + 1
            if (update_id == flaky and tries[update_id] < 3) or update_id == poison:
                return OperationalError("SELECT 1", {}, Exception("database is down"))
            return None

        seen: list[tuple[int, str]] = []
        worker = UpdateWorker(aredis.Redis.from_url(server.url), layout,
                              recording_app(seen, fail), ProcessedUpdates(engine),
                              name="w", config=FAST)  # fmt: skip
        asyncio.run(run_workers([worker], lambda: len(seen) >= 3))
        assert [i for i, _t in seen] == [
            u["update_id"] for u in updates if u["update_id"] != poison
        ]
        assert tries[flaky] == 3 and tries[poison] == FAST.max_attempts
        dead = server.client().xrange("updates:dead")
        assert len(dead) == 1 and b'"update_id": %d' % poison in dead[0][1][b"u"]
        engine.dispose()
    finally:
        server.kill()


def test_domain_error_counts_as_processed(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    try:
        engine = prepare_db(f"sqlite:///{tmp_path}/db.sqlite")
        layout = StreamLayout(1)
        feed(Inbox(server.client(), layout), updates_for(chats=1, per_chat=2))
        seen: list[tuple[int, str]] = []
        worker = UpdateWorker(aredis.Redis.from_url(server.url), layout,
                              recording_app(seen, lambda i: ValueError() if i == 1000 else None),
                              ProcessedUpdates(engine), name="w", config=FAST)  # fmt: skip
        asyncio.run(run_workers([worker], lambda: len(seen) >= 1))
        assert [i for i, _t in seen] == [1001]
        client = server.client()
        assert int(client.get("metrics:updates_processed")) == 2  # both acknowledged
        assert (
            client.xlen("updates:0") == 0
            and client.xpending("updates:0", "workers")["pending"] == 0
        )
        engine.dispose()
    finally:
        server.kill()


class CountingProcessed(ProcessedUpdates):
    """The SQL markers, counting lookups and records."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.calls: list[tuple[str, int]] = []

    def contains(self, update_id: int) -> bool:
        self.calls.append(("contains", update_id))
        return super().contains(update_id)

    def add(self, update_id: int) -> None:
        self.calls.append(("add", update_id))
        super().add(update_id)


def test_new_entries_cost_no_sql_bookkeeping(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    try:
        engine = prepare_db(f"sqlite:///{tmp_path}/db.sqlite")
        layout = StreamLayout(2)
        updates = updates_for(chats=3, per_chat=3)
        seen: list[tuple[int, str]] = []
        processed = CountingProcessed(engine)
        worker = UpdateWorker(aredis.Redis.from_url(server.url), layout,
                              recording_app(seen, lambda _i: None), processed,
                              name="w", config=FAST)  # fmt: skip

        async def scenario() -> None:
            task = asyncio.create_task(run_workers([worker], lambda: len(seen) >= len(updates)))
            await asyncio.sleep(0.3)  # the worker reads new entries (`>`) by now
            feed(Inbox(server.client(), layout), updates)
            await task

        asyncio.run(scenario())
        assert sorted(i for i, _t in seen) == [u["update_id"] for u in updates]
        assert processed.calls == []  # acknowledged in Redis only
        assert int(server.client().get("metrics:updates_processed")) == len(updates)
        engine.dispose()
    finally:
        server.kill()


class FlakyAck(UpdateWorker):
    """A worker whose first acknowledgement after a handler fails as if Redis went away."""

    failed = False

    async def _ack(self, stream: str, entry_id: bytes, *, processed: bool) -> None:
        if processed and not self.failed:
            self.failed = True
            raise redis.ConnectionError("Redis went away")
        await super()._ack(stream, entry_id, processed=processed)


def test_an_update_whose_ack_failed_is_not_run_again(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    try:
        engine = prepare_db(f"sqlite:///{tmp_path}/db.sqlite")
        layout = StreamLayout(1)
        updates = updates_for(chats=1, per_chat=3)
        feed(Inbox(server.client(), layout), updates)
        seen: list[tuple[int, str]] = []
        processed = CountingProcessed(engine)
        worker = FlakyAck(aredis.Redis.from_url(server.url), layout,
                          recording_app(seen, lambda _i: None), processed,
                          name="w", config=FAST)  # fmt: skip
        client = server.client()
        asyncio.run(run_workers([worker], lambda: client.get("metrics:updates_processed") == b"3"))
        assert worker.failed
        assert [i for i, _t in seen] == [1000, 1001, 1002]  # 1000 ran once, not twice
        assert ("add", 1000) in processed.calls and processed.contains(1000)
        assert client.xlen("updates:0") == 0
        engine.dispose()
    finally:
        server.kill()


def test_non_blocking_handlers_are_refused(tmp_path: Path):
    app = Application.builder().token("1:T").request(OfflineRequest()).updater(None).build()
    app.add_handler(MessageHandler(filters.TEXT, lambda u, c: None, block=False))  # type: ignore
    engine = sa.create_engine("sqlite://")
    worker = UpdateWorker(aredis.Redis(), StreamLayout(1), app, ProcessedUpdates(engine), name="w")
    with pytest.raises(ValueError, match="block=False"):
        asyncio.run(worker.run())
    asyncio.run(worker.client.aclose())


# ------------------------------------------------------------------ separate processes


def split_between(client: redis.Redis, layout: StreamLayout, procs: list[Any]) -> bool:
    """Return whether every process holds at least one partition lease."""
    holders = {client.get(layout.key(f"lease:updates:{p}")) for p in range(layout.partitions)}
    return all(f"w{proc.pid}".encode() in holders for proc in procs)


def kill_scenario(redis_url: str, db_url: str, prefix: str, *, restart: RedisServer | None):
    """Feed updates to two worker processes; kill -9 one of them (and maybe Redis) midway."""
    engine = prepare_db(db_url)
    partitions = 6
    layout = StreamLayout(partitions, prefix)
    updates = updates_for(chats=10, per_chat=25)
    workers = [start_worker(redis_url, db_url, prefix, partitions) for _ in range(2)]
    client = redis.Redis.from_url(redis_url)
    try:
        wait_until(lambda: split_between(client, layout, workers), 20, "leases split")
        feeder = threading.Thread(
            target=feed, args=(Inbox(redis.Redis.from_url(redis_url), layout), updates, 0.002)
        )
        feeder.start()
        wait_until(lambda: len(applied_rows(engine)) >= 60, 30, "first updates")
        workers[0].send_signal(signal.SIGKILL)  # kill -9 while updates flow
        if restart is not None:
            restart.kill()
            time.sleep(0.3)
            restart.start()
        workers.append(start_worker(redis_url, db_url, prefix, partitions))
        feeder.join(60)
        wait_until(lambda: len(applied_rows(engine)) >= len(updates), 60, "all updates")
        time.sleep(0.5)  # anything applied twice would show up now
        rows = assert_exactly_once_in_order(engine, updates)
        assert {r.worker for r in rows} >= {f"w{workers[0].pid}", f"w{workers[1].pid}"}
        for proc in workers[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc in workers[1:]:
            assert proc.wait(15) == 0
        assert not any(client.exists(layout.key(f"lease:updates:{p}")) for p in range(partitions))
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        client.close()
        engine.dispose()


@pytest.mark.slow
def test_kill_9_of_a_worker_loses_nothing_and_applies_nothing_twice(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    try:
        kill_scenario(server.url, f"sqlite:///{tmp_path}/db.sqlite", "", restart=None)
    finally:
        server.kill()


@pytest.mark.slow
def test_redis_restarted_mid_run_loses_nothing(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    try:
        kill_scenario(server.url, f"sqlite:///{tmp_path}/db.sqlite", "", restart=server)
    finally:
        server.kill()


@pytest.mark.integration
@pytest.mark.slow
def test_kill_9_on_postgresql_and_real_redis(pg_url: str, redis_url: str, redis_prefix: str):
    try:
        kill_scenario(redis_url, pg_url, redis_prefix, restart=None)
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.delete(*[f"{redis_prefix}updates:seen:{i}" for i in range(1000, 1250)])


def test_sigterm_drains_and_releases_leases(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    db_url = f"sqlite:///{tmp_path}/db.sqlite"
    prepare_db(db_url).dispose()
    proc = start_worker(server.url, db_url, "", 2)
    try:
        client = server.client()
        wait_until(lambda: client.exists("lease:updates:0", "lease:updates:1") == 2, 10, "leases")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - started < 5
        assert client.exists("lease:updates:0", "lease:updates:1") == 0
        assert client.zcard("workers:alive") == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        server.kill()
    assert os.path.exists(tmp_path / "db.sqlite")


def test_a_worker_has_a_thread_for_every_partition_it_may_hold():
    from gateway.processes import worker_threads

    default = min(32, (os.cpu_count() or 1) + 4)  # asyncio's own default executor
    assert worker_threads(1) == default
    assert worker_threads(48) == 48
    assert worker_threads(1024) == 64


def test_a_partition_handed_back_is_taken_over_at_once(tmp_path: Path):
    """A rebalance leaves no chat without a worker for long: the worker under its share looks
    again every 0.2 s while another holds a surplus (it used to wait a whole lease round, 5 s,
    which was the p99 tail of the end-to-end bench)."""
    server = RedisServer(tmp_path / "r").start()
    try:
        engine = prepare_db(f"sqlite:///{tmp_path}/db.sqlite")
        layout = StreamLayout(8)
        config = WorkerConfig(lease_ms=15_000, block_ms=100)  # lease rounds every 5 s
        sync = server.client()
        keys = [layout.key(f"lease:updates:{p}") for p in range(layout.partitions)]
        free_since: dict[int, float] = {}
        longest_free = [0.0]

        def owners() -> list[bytes | None]:
            return list(sync.mget(keys))

        async def scenario() -> None:
            seen: list[tuple[int, str]] = []
            first = UpdateWorker(aredis.Redis.from_url(server.url), layout,
                                 recording_app(seen, lambda _i: None), ProcessedUpdates(engine),
                                 name="first", config=config)  # fmt: skip
            second = UpdateWorker(aredis.Redis.from_url(server.url), layout,
                                  recording_app(seen, lambda _i: None), ProcessedUpdates(engine),
                                  name="second", config=config)  # fmt: skip
            tasks = [asyncio.create_task(first.run())]
            deadline = time.monotonic() + 10
            while owners().count(b"first") < 8 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            tasks.append(asyncio.create_task(second.run()))
            deadline = time.monotonic() + 12
            while time.monotonic() < deadline:
                now, held = time.monotonic(), owners()
                for p, holder in enumerate(held):
                    if holder is None:
                        free_since.setdefault(p, now)
                    elif p in free_since:
                        longest_free[0] = max(longest_free[0], now - free_since.pop(p))
                if held.count(b"first") == 4 and held.count(b"second") == 4:
                    break
                await asyncio.sleep(0.01)
            for w in (first, second):
                w.stop()
            await asyncio.gather(*tasks)
            for w in (first, second):
                await w.client.aclose()
            assert held.count(b"second") == 4, held

        asyncio.run(scenario())
        assert not free_since, "a partition was left without a worker"
        assert longest_free[0] < 1.0, f"a partition waited {longest_free[0]:.1f} s for a worker"
        engine.dispose()
    finally:
        server.kill()
