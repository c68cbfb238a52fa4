"""Fixtures for ledger tests: one database per test, on SQLite and (integration) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from ledger import Ledger
from ledger import LedgerKey

ORIGIN = "test.example/ledger"
SEED = bytes(range(32))


class TickingClock:
    """A clock that advances one second per call, from the 2017 KINTEX pilot's morning."""

    def __init__(self) -> None:
        self.now = datetime(2017, 2, 23, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def key() -> LedgerKey:
    return LedgerKey.from_seed(ORIGIN, SEED)


@pytest.fixture
def log(db_url: str, key: LedgerKey) -> Iterator[Ledger]:
    ledger = Ledger.open(db_url, key, ORIGIN, clock=TickingClock())
    yield ledger
    ledger.close()
