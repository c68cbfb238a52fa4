"""BotServices helpers and the in-memory rate limiter."""

from __future__ import annotations

import threading

import pytest

from bot import MemoryRateLimiter


def test_memory_rate_limiter_allows_a_burst_then_refills() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(rate=2.0, burst=3, monotonic=lambda: now[0])
    assert [limiter.allow(1) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow(2)  # another person has their own bucket
    now[0] += 0.5  # one token back at 2 per second
    assert [limiter.allow(1), limiter.allow(1)] == [True, False]
    now[0] += 100  # never more than the burst
    assert [limiter.allow(1) for _ in range(4)] == [True, True, True, False]


def test_memory_rate_limiter_counts_exactly_under_threads() -> None:
    limiter = MemoryRateLimiter(rate=1e-9, burst=50)
    results: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(20):
            allowed = limiter.allow(7)
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 50


@pytest.mark.parametrize("rate,burst", [(0, 5), (-1, 5), (1, 0)])
def test_memory_rate_limiter_rejects_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        MemoryRateLimiter(rate=rate, burst=burst)
