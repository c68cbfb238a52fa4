"""Fixtures for the participation service: a real ledger on a temporary SQLite file."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from ledger import Ledger
from ledger import LedgerKey
from participation.domain.events import KINDS
from participation.domain.round import Deadlines
from participation.domain.round import RoundRules
from participation.service import ParticipationService

KST = dt.timezone(dt.timedelta(hours=9))
START = dt.datetime(2017, 2, 1, 9, 0, tzinfo=KST)
PEPPER = b"test-pepper-0123456789abcdef"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now.astimezone(dt.UTC)

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)

    def set(self, when: dt.datetime) -> None:
        self.now = when


def deadlines() -> Deadlines:
    """Submission until 10 Feb, endorsement until 17 Feb, review until 23 Feb 18:00 KST."""
    return Deadlines(
        submission_ends=int(dt.datetime(2017, 2, 10, 18, tzinfo=KST).timestamp()),
        endorsement_ends=int(dt.datetime(2017, 2, 17, 18, tzinfo=KST).timestamp()),
        review_ends=int(dt.datetime(2017, 2, 23, 18, tzinfo=KST).timestamp()),
    )


def simple_rules(**changes: object) -> RoundRules:
    """Return open-eligibility rules for tests, with ``changes``."""
    base = RoundRules(title="test round", deadlines=deadlines(), budget_cap=30_000_000)
    return base.with_changes(**changes)


def open_ledger(url: str, clock: Clock) -> Ledger:
    key = LedgerKey.from_seed("test-ledger", bytes(range(32)))
    return Ledger.open(url, key, origin="test.example/ledger", kinds=KINDS, clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    log = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", clock)
    yield log
    log.close()


@pytest.fixture
def service(ledger: Ledger, clock: Clock) -> ParticipationService:
    svc = ParticipationService(ledger, pepper=PEPPER, clock=clock)
    svc.create_tables()
    return svc


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ParticipationService]:
    """A service on a SQLite file, then on PostgreSQL (integration), with its tables and the
    first official ``1``; its clock is ``svc._clock`` (a :class:`Clock` at START)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    clock = Clock(START)
    log = open_ledger(url, clock)
    try:
        svc = ParticipationService(log, pepper=PEPPER, clock=clock)
        svc.create_tables()
        svc.grant_first_official(1)
        yield svc
    finally:
        log.close()


@contextlib.contextmanager
def statements(svc: ParticipationService) -> Iterator[list[str]]:
    """Collect the SQL statements the service's engine runs inside the block."""
    seen: list[str] = []
    engine: sa.Engine = svc._engine  # type: ignore[attr-defined]

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
