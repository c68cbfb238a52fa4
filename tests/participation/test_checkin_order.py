"""Which on-site session a person is in, on SQLite and PostgreSQL: the later of two check-ins
made in the same second, and a re-scan after erasing one's data."""

from __future__ import annotations

import json

import pytest

from participation.app.base import received_at
from participation.app.reviewday import OnsiteBallot
from participation.domain.events import JSON
from participation.service import ParticipationService
from tests.participation.conftest import review_round
from tests.participation.conftest import simple_rules

R = "co"
ADMIN, AUTHOR, HALL, HOME = 1, 10, 11, 12
P1 = f"{R}-1"


def buttons(ballot: OnsiteBallot) -> list[tuple[str, dict[str, JSON]]]:
    return [("onsite.card", {"p": c.proposal_id, "r": ballot.round_id}) for c in ballot.cards]


@pytest.fixture
def svc(any_db: ParticipationService) -> ParticipationService:
    review_round(any_db, simple_rules(), R, AUTHOR, HALL, HOME, proposals=2)
    return any_db


def test_the_later_of_two_check_ins_in_the_same_second_is_the_current_one(
    svc: ParticipationService,
) -> None:
    """Presences were ordered by their epoch second alone: two scans in one second (the clock
    does not move here) left either session current, whichever the database returned first.
    HALL scans A then B, HOME B then A, then HALL back to A and HOME back to B, all in one
    second: each is in the session they scanned last, for the ballot, the press (the session
    an on-site score is recorded in) and the 'your session ended' question."""
    a = svc.open_onsite_session(ADMIN, R)
    b = svc.open_onsite_session(ADMIN, R)
    for uid, first, then in ((HALL, a, b), (HOME, b, a)):
        svc.check_in(uid, svc.onsite_code(first))
        svc.check_in(uid, svc.onsite_code(then))
        assert svc.onsite_ballot(uid, R).session_id == then
    for uid, back in ((HALL, a), (HOME, b)):
        svc.check_in(uid, svc.onsite_code(back))
        assert svc.onsite_ballot(uid, R).session_id == back
    token = svc.issue_button(HOME, "onsite.score", {"p": P1, "r": R, "v": 3})
    svc.press_onsite_score(HOME, P1, 3, button=token, issue=buttons, request_id="tg:1")
    svc.onsite_score(HALL, P1, 4)
    ledger = svc._ledger  # type: ignore[attr-defined]
    scored = [json.loads(leaf)["entry"]["body"] for leaf in ledger.entries(0, ledger.size())]
    assert [x["session"] for x in scored if "score" in x] == [b, a]
    svc.close_onsite_session(ADMIN, b)  # HOME's current session, HALL's earlier one
    assert svc.session_closed_at(HALL, R) is None
    assert svc.session_closed_at(HOME, R) is not None


@pytest.mark.parametrize("returns_by", ["registering", "scanning"])
def test_a_rescan_after_erasing_ones_data_is_the_same_check_in(
    svc: ParticipationService, returns_by: str
) -> None:
    """Erasing one's data deletes the receipts and keeps the presence (under the tombstone,
    given back on the return). A scan again of the same session then appended a second
    onsite.checked_in entry under the person's unchanged pseudonym (no receipt to answer
    with), an entry no one who kept their data could cause. It is the same check-in: nothing
    is written, the answer is the first entry's receipt, and the receipts stay erased."""
    ledger = svc._ledger  # type: ignore[attr-defined]
    clock = svc._clock  # type: ignore[attr-defined]
    hall = svc.open_onsite_session(ADMIN, R)
    first = svc.check_in(HALL, svc.onsite_code(hall))
    svc.erase_personal_data(HALL)
    if returns_by == "registering":
        svc.register(HALL, region="suwon", consent_version="v1")
    size = ledger.size()
    clock.advance(seconds=40)
    assert svc.check_in(HALL, svc.onsite_code(hall)) == first
    assert ledger.size() == size
    assert "onsite.checked_in" not in [r.kind for r in svc.my_receipts(HALL)]
    assert svc.onsite_sessions(R)[0].checkins == 1
    assert svc.onsite_ballot(HALL, R).session_id == hall

    other = svc.open_onsite_session(ADMIN, R)  # a move is still recorded
    clock.advance(seconds=40)
    svc.check_in(HALL, svc.onsite_code(other))
    back = svc.check_in(HALL, svc.onsite_code(hall))
    assert back.index == ledger.size() - 1 != first.index
    assert svc.onsite_ballot(HALL, R).session_id == hall


def test_a_scan_received_earlier_and_applied_later_does_not_become_the_current_session(
    svc: ParticipationService,
) -> None:
    """A scan the workers gave up on and an operator replayed later (a dead letter) is judged
    at the moment ingress first received it. HALL scanned A, the update failed, HALL walked
    to B and scanned there; A's scan is then replayed: its presence is dated when it was
    received, before B's, so HALL stays in B (the ballot, the session a score is recorded in
    and 'your session ended' follow B), though A's entry comes later in the ledger."""
    clock = svc._clock  # type: ignore[attr-defined]
    a = svc.open_onsite_session(ADMIN, R)
    b = svc.open_onsite_session(ADMIN, R)
    scanned_a = int(clock().timestamp())
    clock.advance(seconds=60)
    svc.check_in(HALL, svc.onsite_code(b))
    clock.advance(seconds=120)
    token = received_at.set(scanned_a)  # the replayed dead letter: its first reception
    try:
        svc.check_in(HALL, svc.onsite_code(a))
    finally:
        received_at.reset(token)
    ledger = svc._ledger  # type: ignore[attr-defined]
    kinds = [json.loads(leaf)["entry"]["body"] for leaf in ledger.entries(0, ledger.size())]
    assert [x.get("session") for x in kinds if x.get("session") in (a, b)][-2:] == [b, a]
    assert svc.onsite_ballot(HALL, R).session_id == b
    svc.onsite_score(HALL, P1, 4)
    scored = [json.loads(leaf)["entry"]["body"] for leaf in ledger.entries(0, ledger.size())]
    assert [x["session"] for x in scored if "score" in x] == [b]
    svc.close_onsite_session(ADMIN, a)
    assert svc.session_closed_at(HALL, R) is None
    svc.close_onsite_session(ADMIN, b)
    assert svc.session_closed_at(HALL, R) is not None
