"""The per-person rate limit in Redis: the synchronous and the asyncio limiter share a bucket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis

from gateway.ratelimit import AsyncRedisRateLimiter
from gateway.ratelimit import RedisRateLimiter
from gateway.wiring import user_ref
from tests.gateway.support import RedisServer
from webhook.inbox import StreamLayout

PEPPER = b"p" * 16


def test_the_async_limiter_counts_in_the_same_bucket_as_the_sync_one(tmp_path: Path):
    server = RedisServer(tmp_path / "r").start()
    try:
        sync = RedisRateLimiter(server.client(), StreamLayout(1), PEPPER, rate=0.001, burst=3)

        async def presses() -> list[bool]:
            client = aredis.Redis.from_url(server.url)
            try:
                limiter = AsyncRedisRateLimiter(
                    client, StreamLayout(1), PEPPER, rate=0.001, burst=3
                )
                return [await limiter.allow(7) for _ in range(3)] + [await limiter.allow(8)]
            finally:
                await client.aclose()

        assert sync.allow(7)
        assert asyncio.run(presses()) == [True, True, False, True]  # 8 has a bucket of its own
        assert not sync.allow(7)
    finally:
        server.kill()


def test_the_async_limiter_fails_open_without_redis(tmp_path: Path):
    async def press() -> bool:
        client = aredis.Redis.from_url(f"unix://{tmp_path}/none.sock")
        try:
            return await AsyncRedisRateLimiter(client, StreamLayout(1), PEPPER).allow(7)
        finally:
            await client.aclose()

    assert asyncio.run(press())
    assert RedisRateLimiter(redis.Redis.from_url(f"unix://{tmp_path}/none.sock"),
                            StreamLayout(1), PEPPER).allow(7)  # fmt: skip


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
    assert not any("allow" in name for name in hops), hops
