"""Telegram's flood control, when switched on, and a record of every send for rate assertions.

Telegram's FAQ (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
about 30 messages per second overall, about one per second in one chat ("short bursts" are
tolerated), and no more than 20 per minute in one group. Each limit is a token bucket: it refills
at the documented rate and holds a small burst. A refused send answers 429 with
``retry_after`` = whole seconds until the bucket has a token again, as Telegram does.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from dataclasses import field

from sandbox.errors import too_many_requests


@dataclass(frozen=True)
class FloodLimits:
    """Rates (per second) and bursts of the three buckets."""

    overall_rate: float = 30.0
    overall_burst: float = 30.0
    chat_rate: float = 1.0
    chat_burst: float = 3.0
    group_rate: float = 20.0 / 60.0
    group_burst: float = 20.0


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    def wait_time(self, now: float) -> float:
        """Refill to ``now``; return 0 when a token is available, else seconds until one is."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class FloodControl:
    """Decides whether a send may go out now; remembers what went out. Not thread-safe itself."""

    enabled: bool = False
    limits: FloodLimits = field(default_factory=FloodLimits)
    history_per_chat: int = 1000
    _overall: dict[int, _Bucket] = field(default_factory=dict)
    _chats: dict[tuple[int, int], _Bucket] = field(default_factory=dict)
    _injected: deque[int] = field(default_factory=deque)
    _sends: dict[int, deque[float]] = field(default_factory=dict)
    _total: int = 0
    _refused: int = 0

    def inject_429(self, count: int, retry_after: int) -> None:
        """Make the next ``count`` sends answer 429 with ``retry_after``."""
        self._injected.extend([retry_after] * count)

    def admit(self, bot_id: int, chat_id: int, private: bool, now: float | None = None) -> None:
        """Take a token for one send, or raise the 429 Telegram would send.

        Raises:
            ApiError: 429 Too Many Requests with ``retry_after``.
        """
        now = time.monotonic() if now is None else now
        if self._injected:
            self._refused += 1
            raise too_many_requests(self._injected.popleft())
        if not self.enabled:
            return
        limits = self.limits
        overall = self._overall.setdefault(
            bot_id, _Bucket(limits.overall_rate, limits.overall_burst, limits.overall_burst, now)
        )
        rate, burst = (
            (limits.chat_rate, limits.chat_burst)
            if private
            else (limits.group_rate, limits.group_burst)
        )
        chat = self._chats.setdefault((bot_id, chat_id), _Bucket(rate, burst, burst, now))
        wait = max(overall.wait_time(now), chat.wait_time(now))
        if wait > 0:
            self._refused += 1
            raise too_many_requests(max(1, math.ceil(wait)))
        overall.tokens -= 1.0
        chat.tokens -= 1.0

    def record(self, chat_id: int, now: float | None = None) -> None:
        """Remember one successful send to ``chat_id``."""
        stamps = self._sends.setdefault(chat_id, deque(maxlen=self.history_per_chat))
        stamps.append(time.monotonic() if now is None else now)
        self._total += 1

    def stats(self) -> dict[str, object]:
        """Return sends per chat (monotonic timestamps), the total and the 429s answered."""
        return {
            "per_chat": {chat: list(stamps) for chat, stamps in self._sends.items()},
            "total": self._total,
            "rate_limited": self._refused,
            "flood_limits": self.enabled,
        }
