"""Fixtures of the gateway's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.support import RedisServer


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a redis-server of the test's own (a unix socket in its tmp_path)."""
    server = RedisServer(tmp_path / "r").start()
    try:
        yield server.url
    finally:
        server.kill()
