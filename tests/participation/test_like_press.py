"""An online like press (``toggle_like``) decided before the ledger's writer, on SQLite and
PostgreSQL: one statement decides it, the writer runs only the claim and the writes, the cap
and every rule hold when the state changes in between (the press is decided again under the
lock), and the ballot it returns is the one read after it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from participation.app.review import LikeToggled
from participation.app.reviewday import OnlineBallot
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

R = "lk"
ADMIN, AUTHOR, FAN, HALL = 1, 10, 11, 12
P1, P2, P3, P4 = (f"{R}-{n}" for n in range(1, 5))


def buttons(ballot: OnlineBallot) -> list[tuple[str, dict[str, JSON]]]:
    return [("online.like", {"p": c.proposal_id}) for c in ballot.cards]


@pytest.fixture
def world(any_db: ParticipationService) -> World:
    """A round in review with 4 proposals by AUTHOR, a cap of 2 likes; FAN and HALL
    registered, FAN likes P1."""
    svc, clock = any_db, any_db._clock  # type: ignore[attr-defined]
    review_round(svc, simple_rules(online_likes_cap=2), R, AUTHOR, FAN, HALL, proposals=4)
    svc.like(FAN, P1)
    return World(svc, clock, P1)


def press(w: World, user_id: int, pid: str, request_id: str, token: str | None = None) -> Any:
    if token is None:
        token = w.svc.issue_button(user_id, "online.like", {"p": pid})
    return w.svc.toggle_like(user_id, pid, button=token, issue=buttons, request_id=request_id)


def likes(w: World, user_id: int) -> set[str]:
    lk = t.likes.c
    with w.svc._engine.connect() as conn:  # type: ignore[attr-defined]
        q = sa.select(lk.proposal_id).where(lk.round_id == R, lk.user_id == user_id)
        return set(conn.execute(q).scalars())


def entries(w: World) -> int:
    return int(w.svc._ledger.size())  # type: ignore[attr-defined]


def test_a_press_is_one_read_and_the_writers_claim(world: World) -> None:
    token = world.svc.issue_button(FAN, "online.like", {"p": P2})
    with statements(world.svc) as seen:
        done: LikeToggled = press(world, FAN, P2, "tg:1", token)
    assert_one_read_then_the_claim(seen, "pt_like")
    assert done.ballot == world.svc.online_ballot(FAN, R)
    assert done.ballot.liked == {P1, P2} == likes(world, FAN)
    assert len(done.tokens) == len(done.ballot.cards) == 4
    for token_, card in zip(done.tokens, done.ballot.cards, strict=True):  # stored, usable
        button = world.svc.redeem_button(FAN, token_, consume=False)
        assert button.action == "online.like" and button.args == {"p": card.proposal_id}
    with pytest.raises(e.ButtonExpired):  # used up
        press(world, FAN, P2, "tg:2", token)
    size = entries(world)
    again = press(world, FAN, P2, "tg:1", token)  # a retry: applied once, tokens again
    assert again.ballot.liked == {P1, P2} == likes(world, FAN) and entries(world) == size
    assert again.tokens != done.tokens and len(again.tokens) == 4
    undone = press(world, FAN, P2, "tg:3")  # a press on a liked one takes it back
    assert undone.ballot.liked == {P1} == likes(world, FAN)
    assert undone.ballot == world.svc.online_ballot(FAN, R)


def test_two_presses_racing_for_the_last_like_one_wins(world: World) -> None:
    """FAN has one like of two; two presses (P2, P3) decide before either writes: exactly
    one is given, the other decided again under the lock and refused with the cap."""
    tokens = {pid: world.svc.issue_button(FAN, "online.like", {"p": pid}) for pid in (P2, P3)}
    size = entries(world)
    outcomes = race(
        world.svc,
        {pid: lambda p=pid: press(world, FAN, p, f"tg:{p}", tokens[p]) for pid in (P2, P3)},
    )
    won = [p for p, o in outcomes.items() if isinstance(o, LikeToggled)]
    refused = [o for o in outcomes.values() if isinstance(o, e.LikeCapReached)]
    assert len(won) == 1 and len(refused) == 1, outcomes
    assert likes(world, FAN) == {P1, won[0]} and entries(world) == size + 1
    again = press(world, FAN, won[0], f"tg:{won[0]}", tokens[won[0]])  # retried: applied once
    assert again.ballot.liked == {P1, won[0]} and entries(world) == size + 1


def test_the_cap_holds_when_a_like_lands_between_decision_and_claim(world: World) -> None:
    before_fast_write(world, lambda: world.svc.like(FAN, P3))
    with pytest.raises(e.LikeCapReached):
        press(world, FAN, P2, "tg:4")
    assert likes(world, FAN) == {P1, P3}


def test_an_onsite_score_between_decision_and_claim_refuses_the_like(world: World) -> None:
    def meanwhile() -> None:
        session = world.svc.open_onsite_session(ADMIN, R)
        world.svc.check_in(HALL, world.svc.onsite_code(session))
        world.svc.onsite_score(HALL, P1, 4)

    before_fast_write(world, meanwhile)
    with pytest.raises(e.CountedOnsite):
        press(world, HALL, P2, "tg:5")
    assert likes(world, HALL) == set()


def test_a_hidden_proposal_between_decision_and_claim_is_refused(world: World) -> None:
    before_fast_write(world, lambda: world.svc.hide_proposal(ADMIN, P2, "spam"))
    with pytest.raises(e.ProposalIsHidden):
        press(world, HALL, P2, "tg:6")
    assert likes(world, HALL) == set()


def test_groups_formed_between_decision_and_claim_need_a_chosen_group(world: World) -> None:
    before_fast_write(world, lambda: world.svc.form_review_groups(ADMIN, R))
    with pytest.raises(e.GroupNotChosen):
        press(world, HALL, P2, "tg:7")
    assert likes(world, HALL) == set()


def test_a_like_taken_back_meanwhile_is_not_taken_back_twice(world: World) -> None:
    before_fast_write(world, lambda: world.svc.unlike(FAN, P1))
    with pytest.raises(e.NotLiked):
        press(world, FAN, P1, "tg:8")
    assert likes(world, FAN) == set()


def test_a_button_used_between_decision_and_claim_undoes_the_claim(world: World) -> None:
    for pid, request_id in ((P2, "tg:9"), (P1, "tg:10")):  # a like, then taking one back
        token = world.svc.issue_button(FAN, "online.like", {"p": pid})
        before_fast_write(world, lambda t=token: world.svc.redeem_button(FAN, t, consume=True))
        with pytest.raises(e.ButtonExpired):
            press(world, FAN, pid, request_id, token)
        assert likes(world, FAN) == {P1}


def test_a_press_decided_again_under_the_lock_returns_the_ballot_then(world: World) -> None:
    """FAN's like of P1 is taken back and given again between the read that decided taking
    it back and the claim: the claim still finds it, and the ballot is the one after."""
    before_fast_write(world, lambda: world.svc.like(FAN, P4))
    done = press(world, FAN, P1, "tg:11")
    assert done.ballot == world.svc.online_ballot(FAN, R) and done.ballot.liked == {P4}
    assert len(done.tokens) == 4
