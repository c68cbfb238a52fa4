"""A 공감 decided before the ledger's writer: only a claim and the writes run under the lock,
and a state that changed in between is decided again under the lock (Base._run ahead=)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from participation.domain import errors as e
from participation.service import ParticipationService
from participation.store import tables as t
from tests.participation.conftest import Clock
from tests.participation.conftest import simple_rules
from tests.participation.test_service_rules import ADMIN
from tests.participation.test_service_rules import AUTHOR
from tests.participation.test_service_rules import OTHER
from tests.participation.test_service_rules import THIRD
from tests.participation.test_service_rules import R
from tests.participation.test_service_rules import World


@pytest.fixture
def world(service: ParticipationService, clock: Clock) -> World:
    """An open round, a proposal by AUTHOR that OTHER endorsed, THIRD registered."""
    service.grant_first_official(ADMIN)
    service.create_round(ADMIN, simple_rules(endorsement_threshold=1), round_id=R)
    service.open_round(ADMIN, R)
    for uid in (AUTHOR, OTHER, THIRD):
        service.register(uid, region="suwon", consent_version="v1")
    card = service.submit_proposal(
        AUTHOR, R, title="t", body="b", category="community", region="suwon", budget=1_000_000
    )
    service.endorse(OTHER, card.proposal_id)
    return World(service, clock, card.proposal_id)


def before_fast_write(w: World, meanwhile: Callable[[], object]) -> None:
    """Run ``meanwhile`` (committed) just before the first early-decided write reaches the
    writer: between the early decision and its claim."""
    ledger: Any = w.svc._ledger  # type: ignore[attr-defined]
    original = ledger.write
    pending = [meanwhile]

    def write(fn: Any, *, savepoint: bool = True) -> Any:
        if not savepoint and pending:
            pending.pop()()
        return original(fn, savepoint=savepoint)

    ledger.write = write


def endorsements(w: World, user_id: int) -> int:
    en = t.endorsements.c
    with w.svc._engine.connect() as conn:  # type: ignore[attr-defined]
        q = sa.select(sa.func.count()).where(en.proposal_id == w.pid, en.user_id == user_id)
        return int(conn.execute(q).scalar_one())


def test_the_writer_runs_only_the_claim_and_the_writes(world: World) -> None:
    statements: list[str] = []
    engine = world.svc._engine  # type: ignore[attr-defined]

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    receipt = world.svc.endorse(THIRD, world.pid, request_id="tg:1")
    event.remove(engine, "before_cursor_execute", seen)
    writer = statements[statements.index("BEGIN IMMEDIATE") :]
    assert not any("SAVEPOINT" in s or "FROM pt_round WHERE pt_round" in s for s in writer)
    assert world.svc.proposal(world.pid).endorsements == 2
    again = world.svc.endorse(THIRD, world.pid, request_id="tg:1")  # a retry: same receipt
    assert (again.index, again.leaf_hash) == (receipt.index, receipt.leaf_hash)
    assert world.svc.proposal(world.pid).endorsements == 2


def test_a_hidden_proposal_between_decision_and_claim_is_refused(world: World) -> None:
    size = world.svc._ledger.size()  # type: ignore[attr-defined]
    before_fast_write(world, lambda: world.svc.hide_proposal(ADMIN, world.pid, "spam"))
    with pytest.raises(e.ProposalIsHidden):
        world.svc.endorse(THIRD, world.pid)
    assert endorsements(world, THIRD) == 0
    assert world.svc._ledger.size() == size + 1  # type: ignore[attr-defined]  # the hiding
    assert world.svc.proposal(world.pid).endorsements == 1


def test_an_endorsement_between_decision_and_claim_makes_a_duplicate(world: World) -> None:
    before_fast_write(world, lambda: world.svc.endorse(THIRD, world.pid, request_id="a"))
    with pytest.raises(e.DuplicateEndorsement):
        world.svc.endorse(THIRD, world.pid, request_id="b")
    assert world.svc.proposal(world.pid).endorsements == 2 and endorsements(world, THIRD) == 1


def test_a_withdrawal_between_decision_and_claim_is_not_counted_twice(world: World) -> None:
    before_fast_write(world, lambda: world.svc.withdraw_endorsement(OTHER, world.pid))
    with pytest.raises(e.NotEndorsed):
        world.svc.withdraw_endorsement(OTHER, world.pid)
    assert world.svc.proposal(world.pid).endorsements == 0 and endorsements(world, OTHER) == 0


def test_a_button_used_between_decision_and_claim_undoes_the_claim(world: World) -> None:
    token = world.svc.issue_button(THIRD, "endorse", {"p": world.pid})
    before_fast_write(world, lambda: world.svc.redeem_button(THIRD, token, consume=True))
    with pytest.raises(e.ButtonExpired):
        world.svc.toggle_endorsement(THIRD, world.pid, button=token, request_id="tg:2")
    assert endorsements(world, THIRD) == 0 and world.svc.proposal(world.pid).endorsements == 1
    other = world.svc.issue_button(OTHER, "endorse", {"p": world.pid})
    before_fast_write(world, lambda: world.svc.redeem_button(OTHER, other, consume=True))
    with pytest.raises(e.ButtonExpired):
        world.svc.toggle_endorsement(OTHER, world.pid, button=other, request_id="tg:3")
    assert endorsements(world, OTHER) == 1 and world.svc.proposal(world.pid).endorsements == 1


def test_the_same_request_recorded_between_decision_and_claim_returns_its_receipt(
    world: World,
) -> None:
    first: list[Any] = []
    before_fast_write(
        world, lambda: first.append(world.svc.endorse(THIRD, world.pid, request_id="tg:4"))
    )
    again = world.svc.endorse(THIRD, world.pid, request_id="tg:4")  # decided before it committed
    assert (again.index, again.leaf_hash) == (first[0].index, first[0].leaf_hash)
    assert world.svc.proposal(world.pid).endorsements == 2 and endorsements(world, THIRD) == 1


@pytest.mark.parametrize("endorsed", [False, True])
def test_a_press_is_read_in_one_statement_before_the_writer(world: World, endorsed: bool) -> None:
    """The request, the proposal with its round, the person's endorsement and the button:
    one statement before the writer, no BEGIN (a statement is its own snapshot); the card
    comes back from the writer's count (no read after the commit)."""
    if endorsed:
        world.svc.endorse(THIRD, world.pid)
    token = world.svc.issue_button(THIRD, "browse.endorse", {"proposal": world.pid})
    statements: list[str] = []
    engine = world.svc._engine  # type: ignore[attr-defined]

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    done = world.svc.toggle_endorsement(
        THIRD, world.pid, button=token, issue=[("browse.endorse", {})], request_id="tg:9"
    )
    event.remove(engine, "before_cursor_execute", seen)
    before = statements[: statements.index("BEGIN IMMEDIATE")]
    assert len(before) == 1 and "pt_button" in before[0] and "pt_request" in before[0]
    after = statements[statements.index("BEGIN IMMEDIATE") :]
    assert after.count("BEGIN") == 0  # the card: returned by the count's UPDATE
    assert any(s.startswith("UPDATE pt_proposal") and "RETURNING" in s for s in after)
    assert done.card == world.svc.proposal(world.pid, viewer=THIRD)
    assert done.card.endorsed_by_viewer is not endorsed
    assert done.card.endorsements == (1 if endorsed else 2)
    with pytest.raises(e.ButtonExpired):  # still single-use
        world.svc.toggle_endorsement(THIRD, world.pid, button=token, request_id="tg:10")
    again = world.svc.toggle_endorsement(THIRD, world.pid, button=token, request_id="tg:9")
    assert again.card.endorsed_by_viewer is not endorsed  # a retry: applied once
