"""An on-site score press (``press_onsite_score``) decided before the ledger's writer, on
SQLite and PostgreSQL: one statement decides it, the writer runs only the claim and the
writes, every rule holds when the state changes in between (the press is decided again under
the lock), a changed score stays allowed, and the ballot it returns is the one read after it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa

from participation.app.base import received_at
from participation.app.review import OnsiteScoreGiven
from participation.app.reviewday import OnsiteBallot
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.service import ParticipationService
from participation.store import tables as t
from tests.participation.conftest import assert_one_read_then_the_claim
from tests.participation.conftest import race
from tests.participation.conftest import review_round
from tests.participation.conftest import simple_rules
from tests.participation.conftest import statements
from tests.participation.test_decided_ahead import before_fast_write
from tests.participation.test_service_rules import World

R = "os"
ADMIN, AUTHOR, HALL, HOME = 1, 10, 11, 12
P1, P2, P3 = (f"{R}-{n}" for n in range(1, 4))


def buttons(ballot: OnsiteBallot) -> list[tuple[str, dict[str, JSON]]]:
    return [("onsite.card", {"p": c.proposal_id, "r": ballot.round_id}) for c in ballot.cards]


@pytest.fixture
def world(any_db: ParticipationService) -> World:
    """A round in review with 3 proposals by AUTHOR, a hall session open; HALL and HOME
    registered and checked in, HALL scored P1 with 2."""
    svc, clock = any_db, any_db._clock  # type: ignore[attr-defined]
    review_round(svc, simple_rules(), R, AUTHOR, HALL, HOME, proposals=3)
    session = svc.open_onsite_session(ADMIN, R)
    for uid in (HALL, HOME):
        svc.check_in(uid, svc.onsite_code(session))
    svc.onsite_score(HALL, P1, 2)
    return World(svc, clock, session)  # pid: the session


def press(
    w: World, user_id: int, pid: str, score: int, request_id: str, token: str | None = None
) -> Any:
    if token is None:
        token = w.svc.issue_button(user_id, "onsite.score", {"p": pid, "r": R, "v": score})
    return w.svc.press_onsite_score(
        user_id, pid, score, button=token, issue=buttons, request_id=request_id
    )


def scores(w: World, user_id: int) -> dict[str, tuple[str, int]]:
    os_ = t.onsite_scores.c
    with w.svc._engine.connect() as conn:  # type: ignore[attr-defined]
        q = sa.select(os_.proposal_id, os_.session_id, os_.score).where(
            os_.round_id == R, os_.user_id == user_id
        )
        return {r.proposal_id: (r.session_id, int(r.score)) for r in conn.execute(q)}


def entries(w: World) -> int:
    return int(w.svc._ledger.size())  # type: ignore[attr-defined]


@pytest.mark.parametrize("pid", [P2, P1], ids=["new", "changed"])
def test_a_press_is_one_read_and_the_writers_claim(world: World, pid: str) -> None:
    token = world.svc.issue_button(HALL, "onsite.score", {"p": pid, "r": R, "v": 4})
    with statements(world.svc) as seen:
        done: OnsiteScoreGiven = press(world, HALL, pid, 4, "tg:1", token)
    assert_one_read_then_the_claim(seen, "pt_onsite_score")
    assert done.ballot == world.svc.onsite_ballot(HALL, R)
    assert done.ballot.scores == {P1: 2, pid: 4}
    assert scores(world, HALL)[pid] == (world.pid, 4)
    assert len(done.tokens) == len(done.ballot.cards) == 3
    for token_, card in zip(done.tokens, done.ballot.cards, strict=True):  # stored, usable
        button = world.svc.redeem_button(HALL, token_, consume=False)
        assert button.action == "onsite.card" and button.args == {"p": card.proposal_id, "r": R}
    with pytest.raises(e.ButtonExpired):  # used up
        press(world, HALL, pid, 4, "tg:2", token)
    size = entries(world)
    again = press(world, HALL, pid, 4, "tg:1", token)  # a retry: applied once, tokens again
    assert again.ballot.scores == {P1: 2, pid: 4} and entries(world) == size
    assert again.tokens != done.tokens and len(again.tokens) == 3
    changed = press(world, HALL, pid, 5, "tg:3")  # the score can be changed
    assert changed.ballot.scores == {P1: 2, pid: 5} == world.svc.onsite_ballot(HALL, R).scores
    assert entries(world) == size + 1


def test_two_presses_racing_on_the_same_score_leave_one_row(world: World) -> None:
    """HOME has no score of P2; two presses (3 and 5) decide before either writes: both are
    scores (the second changes the first), one row holds the later one, one entry each."""
    values = (3, 5)
    tokens = {
        v: world.svc.issue_button(HOME, "onsite.score", {"p": P2, "r": R, "v": v}) for v in values
    }
    size = entries(world)
    outcomes = race(
        world.svc, {v: lambda v=v: press(world, HOME, P2, v, f"tg:{v}", tokens[v]) for v in values}
    )
    assert all(isinstance(o, OnsiteScoreGiven) for o in outcomes.values()), outcomes
    assert entries(world) == size + 2
    [(session, last)] = scores(world, HOME).values()
    ledger: Any = world.svc._ledger  # type: ignore[attr-defined]
    leaves = [json.loads(leaf) for leaf in ledger.entries(size, size + 2)]
    assert (
        session == world.pid
        and last in values
        and f'"score":{last}' in json.dumps(leaves[-1], separators=(",", ":"))
    )  # the later entry's score
    final = world.svc.onsite_ballot(HOME, R).scores
    assert final == {P2: last}
    done = [o for o in outcomes.values() if isinstance(o, OnsiteScoreGiven)]
    assert sorted(d.ballot.scores[P2] for d in done) == sorted(values)
    again = press(world, HOME, P2, 3, "tg:3", tokens[3])  # retried: applied once
    assert entries(world) == size + 2 and again.ballot.scores == {P2: last}


def test_a_session_closed_between_decision_and_claim_refuses_the_score(world: World) -> None:
    before_fast_write(world, lambda: world.svc.close_onsite_session(ADMIN, world.pid))
    with pytest.raises(e.NotPresent):
        press(world, HOME, P2, 4, "tg:4")
    assert scores(world, HOME) == {}


def test_a_change_after_the_session_closed_meanwhile_is_refused(world: World) -> None:
    before_fast_write(world, lambda: world.svc.close_onsite_session(ADMIN, world.pid))
    with pytest.raises(e.NotPresent):
        press(world, HALL, P1, 5, "tg:5")
    assert scores(world, HALL) == {P1: (world.pid, 2)}


def test_counted_online_between_decision_and_claim_refuses_the_score(world: World) -> None:
    before_fast_write(world, lambda: world.svc.like(HOME, P3))
    with pytest.raises(e.CountedOnline):
        press(world, HOME, P2, 4, "tg:6")
    assert scores(world, HOME) == {}


def test_a_hidden_proposal_between_decision_and_claim_is_refused(world: World) -> None:
    before_fast_write(world, lambda: world.svc.hide_proposal(ADMIN, P2, "spam"))
    with pytest.raises(e.ProposalIsHidden):
        press(world, HOME, P2, 4, "tg:7")
    assert scores(world, HOME) == {}


def test_a_score_changed_meanwhile_is_decided_again_and_changed(world: World) -> None:
    """HALL's score of P1 changes (2 -> 3) between the read and the claim: the claim misses,
    the press is decided again under the lock (a change stays allowed) and its score holds."""
    before_fast_write(world, lambda: world.svc.onsite_score(HALL, P1, 3))
    size = entries(world)
    done = press(world, HALL, P1, 5, "tg:8")
    assert scores(world, HALL) == {P1: (world.pid, 5)} and entries(world) == size + 2
    assert done.ballot == world.svc.onsite_ballot(HALL, R) and done.ballot.scores == {P1: 5}
    assert len(done.tokens) == 3


def test_a_checkin_to_another_session_meanwhile_scores_into_it(world: World) -> None:
    def meanwhile() -> None:
        world.clock.advance(seconds=5)
        other = world.svc.open_onsite_session(ADMIN, R)
        world.svc.check_in(HOME, world.svc.onsite_code(other))
        holder.append(other)

    holder: list[str] = []
    before_fast_write(world, meanwhile)
    press(world, HOME, P2, 4, "tg:9")
    assert scores(world, HOME) == {P2: (holder[0], 4)}


def test_a_button_used_between_decision_and_claim_undoes_the_claim(world: World) -> None:
    for pid, request_id in ((P2, "tg:10"), (P1, "tg:11")):  # a new score, then a changed one
        token = world.svc.issue_button(HALL, "onsite.score", {"p": pid, "r": R, "v": 5})
        before_fast_write(world, lambda t=token: world.svc.redeem_button(HALL, t, consume=True))
        with pytest.raises(e.ButtonExpired):
            press(world, HALL, pid, 5, request_id, token)
        assert scores(world, HALL) == {P1: (world.pid, 2)}


def received(at: int) -> Any:
    """Judge what runs inside at the moment ``at`` (as the gateway's worker does)."""
    import contextlib

    @contextlib.contextmanager
    def within() -> Any:
        token = received_at.set(at)
        try:
            yield
        finally:
            received_at.reset(token)

    return within()


def test_a_score_received_before_the_session_closed_counts_when_applied_after(
    world: World,
) -> None:
    """The official closes the hall's session while presses wait in the queue: those received
    before the close still score, on the press path and the plain one; later ones do not."""
    closed = int(world.clock().timestamp())
    world.svc.close_onsite_session(ADMIN, world.pid)
    world.clock.advance(seconds=2)  # applied after the close
    with received(closed - 1):
        done = press(world, HOME, P2, 4, "tg:41")
        world.svc.onsite_score(HALL, P1, 5)
    assert done.ballot.scores == {P2: 4}
    assert scores(world, HOME) == {P2: (world.pid, 4)}
    assert scores(world, HALL)[P1] == (world.pid, 5)
    with received(closed), pytest.raises(e.NotPresent):  # received at the close: too late
        press(world, HOME, P3, 4, "tg:42")
    with pytest.raises(e.NotPresent):  # no received time: judged now
        world.svc.onsite_score(HOME, P3, 4)
    assert P3 not in scores(world, HOME)


def test_a_check_in_received_before_the_session_closed_counts_when_applied_after(
    world: World,
) -> None:
    late = 13
    world.svc.register(late, region="suwon", consent_version="v1")
    closed = int(world.clock().timestamp())
    code = world.svc.onsite_code(world.pid, world.clock() - dt.timedelta(seconds=1))  # shown
    world.svc.close_onsite_session(ADMIN, world.pid)
    world.clock.advance(seconds=2)
    with received(closed), pytest.raises(e.Closed):
        world.svc.check_in(late, code)
    with received(closed - 1):
        world.svc.check_in(late, code)
        assert world.svc.onsite_ballot(late, R).cards
    with pytest.raises(e.NotPresent):  # the session is closed for what comes now
        world.svc.onsite_ballot(late, R)


def test_the_session_closes_when_the_close_is_applied_not_when_it_was_received(
    world: World,
) -> None:
    """The official's close press waits in the queue too (received at T-5, applied at T): a
    score received meanwhile (T-2) may be applied before the close or after it, and counts
    either way; the session's closing moment is the close's own entry, at T."""
    now = int(world.clock().timestamp())
    with received(now - 5):
        world.svc.close_onsite_session(ADMIN, world.pid)
    [session] = [s for s in world.svc.onsite_sessions(R) if s.session_id == world.pid]
    assert session.closed_at == now
    world.clock.advance(seconds=1)
    with received(now - 2):
        press(world, HOME, P2, 3, "tg:51")
    assert scores(world, HOME) == {P2: (world.pid, 3)}
    with received(now), pytest.raises(e.NotPresent):
        press(world, HOME, P3, 3, "tg:52")
