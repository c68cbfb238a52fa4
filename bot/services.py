"""What the handlers need, passed in once: ``BotServices`` and the ``RateLimiter`` port.

Nothing here is global (STYLE R21): ``build_application`` keeps one ``BotServices`` in
``app.bot_data`` and every handler reads it from ``context.application``.
"""

from __future__ import annotations

import enum
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


class Verdict(enum.Enum):
    """What the rate limiter decided about one update.

    A *burst* is a run of refused updates: the first refusal of a burst says "tell the
    person", the following ones stay quiet, and the next allowed update ends the burst. The
    values are what the gateway's Redis script replies. Ask ``allowed`` or ``notify``: a
    verdict has no truth value (``if limiter.admit(...)`` would let every refusal through).
    """

    REFUSED = 0  # over the limit; the person was told already in this burst
    ALLOWED = 1
    REFUSED_FIRST = 2  # over the limit, first time in this burst: tell the person, once

    def __bool__(self) -> bool:
        raise TypeError("a Verdict has no truth value: ask .allowed or .notify")

    @property
    def allowed(self) -> bool:
        return self is Verdict.ALLOWED

    @property
    def notify(self) -> bool:
        """True for the one refusal per burst that earns the slow-down notice."""
        return self is Verdict.REFUSED_FIRST


class RateLimiter(Protocol):
    """Counts a person's updates and remembers whether this burst was told; the gateway
    implements it with Redis, shared by every worker process.

    Both decisions are the limiter's state, not a worker's (STYLE R21): with several workers,
    or after a restart, a person flooding the bot still gets one notice per burst.
    A synchronous ``admit`` is called from a worker thread (``asyncio.to_thread``), so it may
    do blocking IO; an ``async def admit`` (the gateway's Redis limiter on the worker's own
    client) is awaited on the update's event loop, without a thread hop. An implementation
    that cannot reach its store fails open: ``Verdict.ALLOWED``.
    """

    def admit(self, user_id: int) -> Verdict | Awaitable[Verdict]:
        """Count one update of ``user_id`` and return the verdict on it."""
        ...


class BlockLookup(Protocol):
    """The ledger's block that sealed an entry (``ledger.Ledger.block_of(index).number``)."""

    def __call__(self, index: int) -> int | None: ...


class MemoryRateLimiter:
    """A token bucket per person, in process memory (tests and the single-process run).

    ``burst`` updates at once, then ``rate`` per second; the first refusal of a burst is
    ``Verdict.REFUSED_FIRST``. Thread-safe.
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
        self._buckets: dict[int, tuple[float, float, bool]] = {}  # user -> (tokens, at, told)
        self._lock = threading.Lock()

    def admit(self, user_id: int) -> Verdict:
        """Take one token from the person's bucket; refuse when it is empty."""
        now = self._monotonic()
        with self._lock:
            tokens, at, told = self._buckets.get(user_id, (self._burst, now, False))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            if tokens >= 1.0:
                verdict, tokens, told = Verdict.ALLOWED, tokens - 1.0, False
            else:
                verdict = Verdict.REFUSED if told else Verdict.REFUSED_FIRST
                told = True
            self._buckets[user_id] = (tokens, now, told)
            if len(self._buckets) > 100_000:  # keep memory bounded
                self._forget_full(now)
            return verdict

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that are full again by ``now``: as good as no bucket at all."""
        rate, burst = self._rate, self._burst
        full = [u for u, (n, at, _) in self._buckets.items() if n + (now - at) * rate >= burst]
        for u in full:
            del self._buckets[u]


def no_blocks(index: int) -> int | None:
    """A ``BlockLookup`` for setups without sealing: no entry is sealed yet."""
    return None


@dataclass(frozen=True, kw_only=True)
class BotServices:
    """Everything the bot's handlers use; built by the gateway (or a test) and passed in.

    ``public_base_url`` is where ``/verify`` lives (receipt links); ``bot_username`` builds
    ``t.me/<bot>?start=...`` share links; ``block_of`` names the block sealing a receipt;
    ``public_chat`` is PUBLIC_CHANNEL (``@name`` or a numeric chat id), where the digests go
    (:meth:`is_public_chat`).
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
    public_chat: str = ""

    def is_public_chat(self, chat_id: int, username: str | None) -> bool:
        """Return whether a chat is ``public_chat``: by its @name (Telegram's usernames
        ignore case) or by its numeric id, whatever its type (channel, group, supergroup)."""
        configured = self.public_chat
        if configured.startswith("@"):
            return bool(username) and username.lower() == configured[1:].lower()
        return bool(configured) and configured == str(chat_id)

    def deep_link(self, payload: str) -> str:
        """Return ``https://t.me/<bot>?start=<payload>``."""
        return f"https://t.me/{self.bot_username}?start={payload}"

    def verify_url(
        self, index: int, leaf_hash: str, block: int | None, locale: str | None = None
    ) -> str:
        """Return the public ``/verify`` link for one receipt, in the reader's ``locale``."""
        url = f"{self.public_base_url.rstrip('/')}/verify?i={index}&h={leaf_hash}"
        url = url if block is None else f"{url}&b={block}"
        return url if locale is None else f"{url}&lang={locale}"
