"""What the handlers need, passed in once: ``BotServices`` and the ``RateLimiter`` port.

Nothing here is global (STYLE R21): ``build_application`` keeps one ``BotServices`` in
``app.bot_data`` and every handler reads it from ``context.application``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Protocol

from i18n import Catalog
from participation.service import ParticipationService

CONSENT_VERSION = "2017-02"  # bump when the privacy notice (bot.privacy.*) changes


class RateLimiter(Protocol):
    """Counts a person's updates; the gateway implements it with Redis.

    A synchronous ``allow`` is called from a worker thread (``asyncio.to_thread``), so it may
    do blocking IO; an ``async def allow`` (the gateway's Redis limiter on the worker's own
    client) is awaited on the update's event loop, without a thread hop.
    """

    def allow(self, user_id: int) -> bool | Awaitable[bool]:
        """Count one update of ``user_id``; return False when they are over their limit."""
        ...


class BlockLookup(Protocol):
    """The ledger's block that sealed an entry (``ledger.Ledger.block_of(index).number``)."""

    def __call__(self, index: int) -> int | None: ...


class MemoryRateLimiter:
    """A token bucket per person, in process memory (tests and the single-process run).

    ``burst`` updates at once, then ``rate`` per second. Thread-safe.
    """

    def __init__(
        self,
        *,
        rate: float = 1.0,
        burst: int = 8,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate, self._burst, self._monotonic = rate, float(burst), monotonic
        self._buckets: dict[int, tuple[float, float]] = {}  # user -> (tokens, at)
        self._lock = threading.Lock()

    def allow(self, user_id: int) -> bool:
        """Take one token from the person's bucket; False when it is empty."""
        now = self._monotonic()
        with self._lock:
            tokens, at = self._buckets.get(user_id, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            allowed = tokens >= 1.0
            self._buckets[user_id] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > 100_000:  # forget the idle, keep memory bounded
                full = [u for u, (n, _) in self._buckets.items() if n >= self._burst - 1]
                for u in full[: len(full) // 2]:
                    del self._buckets[u]
            return allowed


def no_blocks(index: int) -> int | None:
    """A ``BlockLookup`` for setups without sealing: no entry is sealed yet."""
    return None


@dataclass(frozen=True, kw_only=True)
class BotServices:
    """Everything the bot's handlers use; built by the gateway (or a test) and passed in.

    ``public_base_url`` is where ``/verify`` lives (receipt links); ``bot_username`` builds
    ``t.me/<bot>?start=...`` share links; ``block_of`` names the block sealing a receipt.
    """

    participation: ParticipationService
    catalog: Catalog
    bot_username: str
    public_base_url: str
    rate_limiter: RateLimiter
    clock: Callable[[], datetime]
    block_of: BlockLookup = no_blocks
    consent_version: str = CONSENT_VERSION
    page_size: int = 5
    button_ttl_s: int = 24 * 3600
    extra: dict[str, object] = field(default_factory=dict)  # for later screens' collaborators

    def deep_link(self, payload: str) -> str:
        """Return ``https://t.me/<bot>?start=<payload>``."""
        return f"https://t.me/{self.bot_username}?start={payload}"

    def verify_url(self, index: int, leaf_hash: str, block: int | None) -> str:
        """Return the public ``/verify`` link for one receipt."""
        url = f"{self.public_base_url.rstrip('/')}/verify?i={index}&h={leaf_hash}"
        return url if block is None else f"{url}&b={block}"
