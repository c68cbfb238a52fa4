"""kill -9 of a worker, of the clock and of the web process at random points under load.

Residents press 공감 buttons (`tests.reliability.load`); while the presses flow, a worker,
the clock and the web process are each killed with SIGKILL at a random (seeded) point and
replaced. Afterwards every accepted update is applied exactly once, every press was
answered, `python -m ledger verify` passes on the export, and the public channel shows the
digest of every block exactly once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.gateway.support import RedisServer
from tests.reliability.load import endorsement_day
from tests.reliability.stack import SEED
from tests.reliability.stack import Stack


def kills(stack: Stack, rng: random.Random) -> list[tuple[str, Callable[[], None]]]:
    def worker() -> None:
        stack.replace(rng.choice(stack.live("worker")))

    def clock() -> None:
        (proc,) = stack.live("clock")
        stack.replace(proc)

    def web() -> None:
        (proc,) = stack.live("web")
        stack.replace(proc)  # Telegram (the sandbox) retries until the new one answers

    return [("kill -9 worker", worker), ("kill -9 clock", clock), ("kill -9 web", web)]


@pytest.mark.slow
def test_kill_9_of_worker_clock_and_web_under_load(tmp_path: Path):
    server = RedisServer(tmp_path / "redis").start()
    stack = Stack(tmp_path, f"sqlite:///{tmp_path}/db.sqlite", server.url)
    try:
        rng = random.Random(SEED)
        endorsement_day(stack, rng, kills(stack, rng))
        assert {p.role for p in stack.procs if p.popen.returncode == -9} == {
            "worker", "clock", "web"
        }  # fmt: skip
    finally:
        stack.stop()
        server.kill()


@pytest.mark.integration
@pytest.mark.slow
def test_kill_9_on_postgresql_and_the_shared_redis(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
):
    stack = Stack(tmp_path, pg_url, redis_url, prefix=redis_prefix)
    try:
        rng = random.Random(SEED + 1)
        endorsement_day(stack, rng, kills(stack, rng))
    finally:
        stack.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
