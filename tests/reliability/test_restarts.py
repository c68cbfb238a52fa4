"""Redis and PostgreSQL crash and come back under load; the system recovers by itself.

Both are PRIVATE servers (never the machine's shared ones): redis-server with AOF on a unix
socket, killed with SIGKILL; a PostgreSQL cluster in a temporary directory, stopped in
immediate mode (no checkpoint: recovery replays the WAL). Nobody restarts our processes:
ingress answers 503 while Redis is down (Telegram retries), workers pause the partition and
retry in order, the clock's jobs run again. Nothing accepted is lost or applied twice.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest

from tests.reliability.load import endorsement_day
from tests.reliability.services import PrivatePostgres
from tests.reliability.services import RedisServer
from tests.reliability.stack import SEED
from tests.reliability.stack import Stack


@pytest.mark.slow
def test_redis_and_postgresql_restarted_under_load(tmp_path: Path):
    pg = PrivatePostgres().init()
    server = RedisServer(tmp_path / "redis").start()
    stack = Stack(tmp_path, pg.url, server.url)
    rng = random.Random(SEED + 2)

    def restart_redis() -> None:
        server.kill()
        time.sleep(rng.uniform(0.3, 1.5))
        server.start()

    def restart_postgres() -> None:
        pg.crash()
        time.sleep(rng.uniform(0.3, 1.5))
        pg.start()

    try:
        endorsement_day(
            stack, rng, [("restart redis", restart_redis), ("restart postgres", restart_postgres)],
            outages=True,
        )  # fmt: skip
        stack.check_alive()  # nobody was restarted: every process recovered by itself
        ready = httpx.get(f"{stack.web_url}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
    finally:
        stack.stop()
        server.kill()
        pg.stop()
