"""The per-person rate limit (bot.services.RateLimiter) in Redis, shared by every worker."""

from __future__ import annotations

import time

import redis
import redis.asyncio as aredis

from gateway.wiring import user_ref
from webhook.inbox import StreamLayout


class _TokenBucket:
    """Per-person token bucket in Redis, one Lua script (EVALSHA) per update."""

    SCRIPT = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 't', 'n')
local t, n = tonumber(s[1]) or now, tonumber(s[2]) or burst
n = math.min(burst, n + (now - t) / 1000.0 * rate)
local ok = 0
if n >= 1 then n = n - 1; ok = 1 end
redis.call('HSET', KEYS[1], 't', now, 'n', n)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return ok
"""

    def __init__(self, layout: StreamLayout, pepper: bytes, rate: float, burst: int) -> None:
        self._layout, self._pepper, self._rate, self._burst = layout, pepper, rate, burst

    def _keys_args(self, user_id: int) -> tuple[list[str], list[float | int]]:
        key = self._layout.key(f"ratelimit:user:{user_ref(self._pepper, user_id)}")
        return [key], [self._rate, self._burst, int(time.time() * 1000)]


class RedisRateLimiter(_TokenBucket):
    """The bucket (bot.services.RateLimiter) on a synchronous client, shared by all workers;
    the bot calls `allow` in a thread."""

    def __init__(
        self, client: redis.Redis, layout: StreamLayout, pepper: bytes, *, rate: float = 1.0,
        burst: int = 8,
    ) -> None:  # fmt: skip
        super().__init__(layout, pepper, rate, burst)
        self._script = client.register_script(self.SCRIPT)

    def allow(self, user_id: int) -> bool:
        """Count one update of `user_id`; False when over the limit (fails open on outage)."""
        keys, args = self._keys_args(user_id)
        try:
            return bool(self._script(keys=keys, args=args))
        except redis.RedisError:
            return True


class AsyncRedisRateLimiter(_TokenBucket):
    """The same bucket on a worker's asyncio client: the bot awaits `allow` on the worker's
    loop, without a thread hop per update."""

    def __init__(
        self, client: aredis.Redis, layout: StreamLayout, pepper: bytes, *, rate: float = 1.0,
        burst: int = 8,
    ) -> None:  # fmt: skip
        super().__init__(layout, pepper, rate, burst)
        self._script = client.register_script(self.SCRIPT)

    async def allow(self, user_id: int) -> bool:
        """Count one update of `user_id`; False when over the limit (fails open on outage)."""
        keys, args = self._keys_args(user_id)
        try:
            return bool(await self._script(keys=keys, args=args))
        except redis.RedisError:
            return True
