"""Shared fixtures: hypothesis profiles and real PostgreSQL / Redis when they answer.

Integration tests (`@pytest.mark.integration`) use `pg_url` and `redis_url`. Each `pg_url`
is a fresh database created for the test and dropped after it, so parallel sessions and
helpers never see each other's tables. When a service is unreachable the test is skipped
with the reason, except under REQUIRE_SERVICES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck
from hypothesis import settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (REQUIRE_SERVICES=1: CI must run integration tests)")
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """Yield the URL of a fresh, empty PostgreSQL database; drop it afterwards."""
    if not _answers("127.0.0.1", 5432):
        _unavailable("PostgreSQL at 127.0.0.1:5432")
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Yield the URL of the real Redis; keys written by a test must use `redis_prefix`."""
    if not _answers("127.0.0.1", 6379):
        _unavailable("Redis at 127.0.0.1:6379")
    yield REDIS_TEST_URL


@pytest.fixture
def redis_prefix() -> str:
    """Return a key prefix unique to this test, so tests sharing the real Redis never collide."""
    return f"t{uuid.uuid4().hex[:12]}:"
