"""The per-person rate limit (bot.services.RateLimiter) in Redis, shared by every worker.

Its own module so that the web process, which imports `gateway.wiring` but never the bot,
does not load python-telegram-bot for it (`bot.services.Verdict` brings the `bot` package).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
import redis.asyncio as aredis

from bot.services import Verdict
from gateway.wiring import user_ref
from webhook.inbox import StreamLayout


class _TokenBucket:
    """Per-person token bucket in Redis, one Lua script (EVALSHA) per update.

    The hash holds the tokens `n` at time `t` (ms) and `w`, 1 once this burst's refusal was
    told: the script counts the update and decides whether to tell in the same atomic call, so
    every worker agrees (bot.services.Verdict). An allowed update clears `w`; so does expiry,
    when the bucket would be full again. Replies 1 allowed, 0 refused (told already), 2 refused
    and the first refusal of the burst.
    """

    SCRIPT = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 't', 'n', 'w')
local t, n = tonumber(s[1]) or now, tonumber(s[2]) or burst
n = math.min(burst, n + (now - t) / 1000.0 * rate)
local verdict, told = 1, 0
if n >= 1 then n = n - 1
elseif s[3] == '1' then verdict, told = 0, 1
else verdict, told = 2, 1 end
redis.call('HSET', KEYS[1], 't', now, 'n', n, 'w', told)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return verdict
"""

    def __init__(
        self, layout: StreamLayout, pepper: bytes, rate: float, burst: int,
        clock: Callable[[], float],
    ) -> None:  # fmt: skip
        self._layout, self._pepper, self._rate, self._burst = layout, pepper, rate, burst
        self._clock = clock

    def _keys_args(self, user_id: int) -> tuple[list[str], list[float | int]]:
        key = self._layout.key(f"ratelimit:user:{user_ref(self._pepper, user_id)}")
        return [key], [self._rate, self._burst, int(self._clock() * 1000)]


class RedisRateLimiter(_TokenBucket):
    """The bucket (bot.services.RateLimiter) on a synchronous client, shared by all workers;
    the bot calls `admit` in a thread. `clock` (epoch seconds) is for tests."""

    def __init__(
        self, client: redis.Redis, layout: StreamLayout, pepper: bytes, *, rate: float = 1.0,
        burst: int = 8, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        super().__init__(layout, pepper, rate, burst, clock)
        self._script = client.register_script(self.SCRIPT)

    def admit(self, user_id: int) -> Verdict:
        """Count one update of `user_id` and return the verdict (fails open on outage)."""
        keys, args = self._keys_args(user_id)
        try:
            return Verdict(self._script(keys=keys, args=args))
        except redis.RedisError:
            return Verdict.ALLOWED


class AsyncRedisRateLimiter(_TokenBucket):
    """The same bucket on a worker's asyncio client: the bot awaits `admit` on the worker's
    loop, without a thread hop per update."""

    def __init__(
        self, client: aredis.Redis, layout: StreamLayout, pepper: bytes, *, rate: float = 1.0,
        burst: int = 8, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        super().__init__(layout, pepper, rate, burst, clock)
        self._script = client.register_script(self.SCRIPT)

    async def admit(self, user_id: int) -> Verdict:
        """Count one update of `user_id` and return the verdict (fails open on outage)."""
        keys, args = self._keys_args(user_id)
        try:
            return Verdict(await self._script(keys=keys, args=args))
        except redis.RedisError:
            return Verdict.ALLOWED
