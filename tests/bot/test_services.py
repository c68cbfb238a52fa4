"""BotServices helpers and the in-memory rate limiter."""

from __future__ import annotations

import threading
from datetime import UTC
from datetime import datetime

import pytest

from bot import BotServices
from bot import MemoryRateLimiter
from bot import Verdict

A, R, F = Verdict.ALLOWED, Verdict.REFUSED, Verdict.REFUSED_FIRST


def test_memory_rate_limiter_allows_a_burst_then_refills() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(rate=2.0, burst=3, monotonic=lambda: now[0])
    assert [limiter.admit(1) for _ in range(4)] == [A, A, A, F]
    assert limiter.admit(2) is A  # another person has their own bucket
    now[0] += 0.5  # one token back at 2 per second
    assert [limiter.admit(1), limiter.admit(1)] == [A, F]
    now[0] += 100  # never more than the burst
    assert [limiter.admit(1) for _ in range(4)] == [A, A, A, F]


def test_memory_rate_limiter_notifies_once_per_burst_of_refusals() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(rate=1.0, burst=2, monotonic=lambda: now[0])
    assert [limiter.admit(1) for _ in range(5)] == [A, A, F, R, R]
    assert limiter.admit(2) is A  # the other person's burst is theirs
    now[0] += 0.9  # not yet a whole token: still the same burst
    assert limiter.admit(1) is R
    now[0] += 0.1  # a token: that update is allowed and ends the burst
    assert [limiter.admit(1), limiter.admit(1), limiter.admit(1)] == [A, F, R]
    now[0] += 100  # full again: a new burst is told again
    assert [limiter.admit(1) for _ in range(4)] == [A, A, F, R]


def test_a_verdict_has_no_truth_value() -> None:
    assert (A.allowed, A.notify, F.allowed, F.notify, R.allowed, R.notify) == (
        True, False, False, True, False, False)  # fmt: skip
    with pytest.raises(TypeError):
        bool(F)  # `if limiter.admit(uid):` would let every first refusal through


def test_memory_rate_limiter_counts_exactly_under_threads() -> None:
    limiter = MemoryRateLimiter(rate=1e-9, burst=50)
    results: list[Verdict] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(20):
            verdict = limiter.admit(7)
            with lock:
                results.append(verdict)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (results.count(A), results.count(F), results.count(R)) == (50, 1, 160 - 51)


def test_memory_rate_limiter_forgets_only_full_buckets() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(rate=1.0, burst=1, monotonic=lambda: now[0])
    for uid in range(100_001):
        limiter.admit(uid)  # everyone's bucket is empty
    assert limiter.admit(0) is F  # over 100,000 buckets, but none full: none forgotten
    now[0] += 1.0
    limiter.admit(100_001)  # everyone else is full again: forgotten
    assert len(limiter._buckets) == 1
    assert [limiter.admit(0), limiter.admit(0), limiter.admit(0)] == [A, F, R]


@pytest.mark.parametrize("rate,burst", [(0, 5), (-1, 5), (1, 0)])
def test_memory_rate_limiter_rejects_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        MemoryRateLimiter(rate=rate, burst=burst)


def test_a_receipt_link_carries_the_readers_language() -> None:
    """verify_url never added `lang`, so an English resident landed on the Korean page."""
    services = BotServices(
        participation=None,  # type: ignore[arg-type]
        catalog=None,  # type: ignore[arg-type]
        bot_username="b",
        public_base_url="https://v.example/",
        rate_limiter=MemoryRateLimiter(),
        clock=lambda: datetime.now(UTC),
    )
    assert services.verify_url(4, "ab", 2, "en") == "https://v.example/verify?i=4&h=ab&b=2&lang=en"
    assert services.verify_url(4, "ab", None, "ko") == "https://v.example/verify?i=4&h=ab&lang=ko"
    assert services.verify_url(4, "ab", None) == "https://v.example/verify?i=4&h=ab"
