"""Fixtures for the participation service: a real ledger on a temporary SQLite file."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable
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


def review_round(
    svc: ParticipationService, rules: RoundRules, round_id: str, author: int, *others: int,
    proposals: int,
) -> None:  # fmt: skip
    """Open round ``round_id`` (the first official ``1``), register ``author`` and ``others``,
    let ``author`` submit ``proposals`` proposals and move the round to its review phase (its
    clock is ``svc._clock``)."""
    clock = svc._clock  # type: ignore[attr-defined]
    svc.create_round(1, rules, round_id=round_id)
    svc.open_round(1, round_id)
    for uid in (author, *others):
        svc.register(uid, region="suwon", consent_version="v1")
    for i in range(proposals):
        svc.submit_proposal(
            author, round_id, title=f"t{i}", body="b", category="community", region="suwon",
            budget=1_000_000,
        )  # fmt: skip
    clock.set(dt.datetime(2017, 2, 12, 9, tzinfo=KST))
    svc.advance_round(1, round_id)
    clock.set(dt.datetime(2017, 2, 20, 9, tzinfo=KST))
    svc.advance_round(1, round_id)


def assert_one_read_then_the_claim(seen: list[str], table: str) -> None:
    """``seen`` (from :func:`statements`) is a press decided before the writer: one statement
    (reading ``table`` and the request) and the ballot's cards, no BEGIN before the writer,
    no SAVEPOINT and no SELECT but the log head's in it, nothing after its commit."""
    start = next(i for i, s in enumerate(seen) if "FROM ledger_logs" in s)  # the writer's first
    before, writer = seen[:start], seen[start:]
    if before[-1].startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE (PostgreSQL's is no statement)
        before.pop()
    assert len(before) == 2 and table in before[0] and "pt_request" in before[0]
    assert not any(s.startswith("BEGIN") for s in before)
    assert not any("SAVEPOINT" in s for s in writer)
    assert [s for s in writer if s.startswith("SELECT")] == [
        s for s in writer if "FROM ledger_logs" in s and s.startswith("SELECT")
    ]
    assert seen[-1].startswith("UPDATE ledger_logs")  # nothing read after the commit


def race(svc: ParticipationService, presses: dict[Any, Callable[[], object]]) -> dict[Any, object]:
    """Run ``presses`` from one thread each, every one decided before any reaches the writer
    (they meet at a barrier before the writer's early-decided write); return each one's
    outcome, its result or its exception. The ledger's write is as it was afterwards."""
    ledger: Any = svc._ledger  # type: ignore[attr-defined]
    original = ledger.write
    all_decided = threading.Barrier(len(presses), timeout=10)

    def write(fn: Any, *, savepoint: bool = True) -> Any:
        if not savepoint and threading.current_thread().name.startswith("press-"):
            all_decided.wait()
        return original(fn, savepoint=savepoint)

    outcomes: dict[Any, object] = {}

    def run(key: Any) -> None:
        try:
            outcomes[key] = presses[key]()
        except Exception as err:  # noqa: BLE001 - the outcome under test
            outcomes[key] = err

    ledger.write = write
    try:
        threads = [threading.Thread(target=run, args=(k,), name=f"press-{k}") for k in presses]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
    finally:
        ledger.write = original
    return outcomes
