"""The per-person rate limit in Redis: every worker's limiter counts in one bucket and agrees
on the one refusal per burst that earns the slow-down notice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from bot import Verdict
from gateway.ratelimit import AsyncRedisRateLimiter
from gateway.ratelimit import RedisRateLimiter
from gateway.wiring import user_ref
from tests.gateway.support import RedisServer
from webhook.inbox import StreamLayout

PEPPER = b"p" * 16
A, R, F = Verdict.ALLOWED, Verdict.REFUSED, Verdict.REFUSED_FIRST


@pytest.fixture(params=["private", pytest.param("real", marks=pytest.mark.integration)])
def redis_at(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Yield (url, key prefix) of a private redis-server, or of the real one at 6379."""
    if request.param == "real":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        yield url, prefix
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()
        return
    server = RedisServer(tmp_path / "r").start()
    try:
        yield server.url, ""
    finally:
        server.kill()


def run_alternately(url: str, prefix: str, script: Any) -> Any:
    """Run `script(admit, clock)` where `admit(uid)` goes to two workers in turn: a sync limiter
    (the bot's thread) and an async one on its own client, both on a clock the script moves."""
    now = [1_000_000.0]

    async def main() -> Any:
        layout, clock = StreamLayout(1, prefix), lambda: now[0]
        sync = RedisRateLimiter(
            redis.Redis.from_url(url), layout, PEPPER, rate=1.0, burst=2, clock=clock
        )
        client = aredis.Redis.from_url(url)
        limiter = AsyncRedisRateLimiter(client, layout, PEPPER, rate=1.0, burst=2, clock=clock)
        turn = [0]

        async def admit(uid: int) -> Verdict:
            turn[0] += 1
            return await limiter.admit(uid) if turn[0] % 2 else sync.admit(uid)

        try:
            return await script(admit, now)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_the_async_limiter_counts_in_the_same_bucket_as_the_sync_one(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    try:
        sync = RedisRateLimiter(server.client(), StreamLayout(1), PEPPER, rate=0.001, burst=3)

        async def presses() -> list[Verdict]:
            client = aredis.Redis.from_url(server.url)
            try:
                limiter = AsyncRedisRateLimiter(
                    client, StreamLayout(1), PEPPER, rate=0.001, burst=3
                )
                return [await limiter.admit(7) for _ in range(3)] + [await limiter.admit(8)]
            finally:
                await client.aclose()

        assert sync.admit(7) is A
        assert asyncio.run(presses()) == [A, A, F, A]  # 8 has a bucket of its own
        assert sync.admit(7) is R  # the async worker told 7 already
    finally:
        server.kill()


def test_two_workers_notify_once_per_burst(redis_at: tuple[str, str]):
    async def flood(admit: Any, now: list[float]) -> list[list[Verdict]]:
        first = [await admit(7) for _ in range(5)]
        other = [await admit(8)]  # someone else: their own bucket and burst
        now[0] += 0.9  # not a whole token yet: the same burst
        same = [await admit(7)]
        now[0] += 0.1  # one token: allowed, which ends the burst
        second = [await admit(7) for _ in range(3)]
        now[0] += 60  # full again
        third = [await admit(7) for _ in range(4)]
        return [first, other, same, second, third]

    assert run_alternately(*redis_at, flood) == [
        [A, A, F, R, R], [A], [R], [A, F, R], [A, A, F, R]]  # fmt: skip


def test_the_told_flag_lives_in_the_bucket_under_a_pseudonymous_key(redis_at: tuple[str, str]):
    url, prefix = redis_at
    uid = 987_654_321
    client = redis.Redis.from_url(url)
    limiter = RedisRateLimiter(client, StreamLayout(1, prefix), PEPPER, rate=1.0, burst=1)
    key = f"{prefix}ratelimit:user:{user_ref(PEPPER, uid)}"
    try:
        assert [limiter.admit(uid), limiter.admit(uid)] == [A, F]
        assert [k.decode() for k in client.scan_iter(f"{prefix}*")] == [key]
        assert str(uid) not in key
        assert client.hget(key, "w") == b"1"
        assert 0 < client.pttl(key) <= 2000  # expires with the bucket (full again by then)
        client.hset(key, "n", 1)  # as if a token came back
        assert limiter.admit(uid) is A
        assert client.hget(key, "w") == b"0"
        client.delete(key)  # expired: a new burst is told again
        assert [limiter.admit(uid), limiter.admit(uid), limiter.admit(uid)] == [A, F, R]
    finally:
        client.close()


def test_a_bucket_written_before_the_told_flag_notifies(tmp_path: Path):
    """Buckets of the previous script (no `w` field) are read as not told yet."""
    server = RedisServer(tmp_path / "r").start()
    try:
        client = server.client()
        key = f"ratelimit:user:{user_ref(PEPPER, 7)}"
        client.hset(key, mapping={"t": int(time.time() * 1000), "n": 0})
        limiter = RedisRateLimiter(client, StreamLayout(1), PEPPER, rate=0.001, burst=3)
        assert [limiter.admit(7), limiter.admit(7)] == [F, R]
    finally:
        server.kill()


def test_the_limiters_fail_open_without_redis(tmp_path: Path):
    async def press() -> Verdict:
        client = aredis.Redis.from_url(f"unix://{tmp_path}/none.sock")
        try:
            return await AsyncRedisRateLimiter(client, StreamLayout(1), PEPPER).admit(7)
        finally:
            await client.aclose()

    assert asyncio.run(press()) is A
    assert RedisRateLimiter(redis.Redis.from_url(f"unix://{tmp_path}/none.sock"),
                            StreamLayout(1), PEPPER).admit(7) is A  # fmt: skip


def test_a_burst_fails_open_when_redis_goes_away(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    limiter = RedisRateLimiter(server.client(), StreamLayout(1), PEPPER, rate=0.001, burst=1)

    async def async_press() -> Verdict:
        client = aredis.Redis.from_url(server.url)
        try:
            return await AsyncRedisRateLimiter(
                client, StreamLayout(1), PEPPER, rate=0.001, burst=1
            ).admit(7)
        finally:
            await client.aclose()

    try:
        assert [limiter.admit(7), limiter.admit(7)] == [A, F]
    finally:
        server.kill()
    assert [limiter.admit(7), limiter.admit(7), asyncio.run(async_press())] == [A, A, A]


def test_the_bot_awaits_the_async_limiter_on_its_loop(tmp_path: Path, monkeypatch: Any):
    from tests.support.e2e_bot import BotWorld

    server = RedisServer(tmp_path / "r").start()
    hops: list[str] = []
    real_to_thread = asyncio.to_thread

    async def counting_to_thread(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__qualname__", repr(fn)))
        return await real_to_thread(fn, *args, **kwargs)

    def message(update_id: int, uid: int) -> dict[str, Any]:
        sender = {"id": uid, "is_bot": False, "first_name": "f", "language_code": "ko"}
        return {"update_id": update_id, "message": {
            "message_id": update_id, "date": 1, "text": "hello", "from": sender,
            "chat": {"id": uid, "type": "private"}}}  # fmt: skip

    async def flood() -> tuple[int, int, list[str]]:
        client = aredis.Redis.from_url(server.url)
        limiter = AsyncRedisRateLimiter(client, StreamLayout(1), PEPPER, rate=0.001, burst=50)
        try:
            async with BotWorld(tmp_path, limiter=limiter) as world:
                uid = world.user()
                await world.register(uid)
                key = f"ratelimit:user:{user_ref(PEPPER, uid)}"  # two presses left
                await client.hset(key, mapping={"t": int(time.time() * 1000), "n": 2})
                before = len(world.messages(uid))
                monkeypatch.setattr(asyncio, "to_thread", counting_to_thread)
                for n in range(4):
                    await world.feed(message(10_000 + n, uid))
                texts = [m["text"] for m in world.messages(uid)[before:]]
                return texts.count(world.t("bot.slow_down")), len(texts), texts
        finally:
            await client.aclose()

    try:
        notices, sent, texts = asyncio.run(flood())
    finally:
        server.kill()
    # two answered, then one notice for the two over the limit
    assert (notices, sent) == (1, 3), texts
    assert not any("admit" in name for name in hops), hops
