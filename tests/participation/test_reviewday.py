"""The review-day additions to the service: one channel per person, the ballots the screens
show (exactly what the rules accept), officials' figures and lists, the broadcast entry."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa

from participation.domain import errors as e
from participation.service import ParticipationService
from participation.store import tables as t
from participation.tally import tally
from tests.participation.conftest import KST
from tests.participation.conftest import Clock
from tests.participation.conftest import simple_rules

R = "rd"
ADMIN, CLERK = 1, 2
AUTHOR, HALL, HOME, REP = 10, 11, 12, 13
SHEET = hashlib.sha256(b"sheet").hexdigest()


@pytest.fixture
def svc(service: ParticipationService, clock: Clock) -> ParticipationService:
    service.grant_first_official(ADMIN)
    service.join_as_official(CLERK, service.invite_official(ADMIN, role="clerk"))
    service.create_round(ADMIN, simple_rules(), round_id=R)
    service.open_round(ADMIN, R)
    for uid in (AUTHOR, HALL, HOME, REP):
        service.register(uid, region="suwon" if uid != REP else "yeoncheon", consent_version="v1")
    for i in range(3):
        service.submit_proposal(
            AUTHOR, R, title=f"t{i}", body="b", category="community", region="suwon",
            budget=1_000_000,
        )  # fmt: skip
    service.submit_proposal(
        HALL, R, title="mine", body="b", category="community", region="suwon", budget=1_000_000
    )
    clock.set(dt.datetime(2017, 2, 12, 9, tzinfo=KST))
    service.advance_round(ADMIN, R)
    clock.set(dt.datetime(2017, 2, 20, 9, tzinfo=KST))
    service.advance_round(ADMIN, R)
    return service


def check_in(svc: ParticipationService, uid: int) -> str:
    session = svc.open_onsite_session(ADMIN, R)
    svc.check_in(uid, svc.onsite_code(session))
    return session


def test_a_person_scored_on_site_cannot_like_online(svc: ParticipationService) -> None:
    check_in(svc, HALL)
    svc.onsite_score(HALL, f"{R}-1", 4)
    with pytest.raises(e.CountedOnsite):
        svc.like(HALL, f"{R}-2")
    assert svc.online_ballot(HALL, R).liked == set()


def test_a_person_who_liked_online_cannot_score_on_site(svc: ParticipationService) -> None:
    svc.like(HOME, f"{R}-1")
    check_in(svc, HOME)  # presence alone counts in no channel
    with pytest.raises(e.CountedOnline):
        svc.onsite_score(HOME, f"{R}-2", 3)
    svc.unlike(HOME, f"{R}-1")  # taking the like back does not move the person either
    svc.like(HOME, f"{R}-3")
    assert svc.onsite_ballot(HOME, R).scores == {}


def test_each_channel_keeps_working_for_its_own_people(svc: ParticipationService) -> None:
    check_in(svc, HALL)
    svc.onsite_score(HALL, f"{R}-1", 4)
    svc.onsite_score(HALL, f"{R}-1", 5)  # changing one's on-site score stays allowed
    svc.like(HOME, f"{R}-1")
    svc.like(HOME, f"{R}-2")
    entries = svc._ledger.entries(0, svc._ledger.size())  # type: ignore[attr-defined]
    row = next(r for r in tally(entries, R).rows if r.proposal == f"{R}-1")
    assert row.onsite == 100 and row.online > 0


def test_onsite_ballot_is_what_onsite_score_accepts(svc: ParticipationService) -> None:
    with pytest.raises(e.NotPresent):
        svc.onsite_ballot(HALL, R)
    check_in(svc, HALL)
    ballot = svc.onsite_ballot(HALL, R)
    assert [c.proposal_id for c in ballot.cards] == [f"{R}-1", f"{R}-2", f"{R}-3"]  # not own
    for card in ballot.cards:
        svc.onsite_score(HALL, card.proposal_id, 3)
    with pytest.raises(e.OwnProposal):
        svc.onsite_score(HALL, f"{R}-4", 3)
    assert svc.onsite_ballot(HALL, R).scores == dict.fromkeys((f"{R}-1", f"{R}-2", f"{R}-3"), 3)


def test_online_ballot_leaves_out_ones_own(svc: ParticipationService) -> None:
    ballot = svc.online_ballot(HALL, R)
    assert ballot.groups == 0 and ballot.cap == 6
    assert f"{R}-4" not in {c.proposal_id for c in ballot.cards} and len(ballot.cards) == 3


def test_figures_sessions_papers_and_communities(svc: ParticipationService) -> None:
    session = check_in(svc, HALL)
    svc.onsite_score(HALL, f"{R}-1", 4)
    svc.like(HOME, f"{R}-2")
    tally_id = svc.enter_paper_tally(
        ADMIN, session, f"{R}-3", ballots=10, points=40, sheet_sha256=SHEET
    )
    svc.add_community(ADMIN, R, community="c1", region="suwon", name="햇살마을")
    codes = svc.issue_enrollment_codes(ADMIN, R, "c1", count=3)
    svc.redeem_code(REP, codes[0])
    f = svc.review_figures(R)
    assert f["registered"] == 6 - 2  # ADMIN and CLERK never registered as residents
    assert (f["proposals"], f["shortlisted"], f["checkins"], f["onsite_scores"]) == (4, 4, 1, 1)
    assert (f["likes"], f["online_voters"], f["papers"], f["papers_confirmed"]) == (1, 1, 1, 0)
    assert (f["codes_issued"], f["codes_redeemed"]) == (3, 1)
    [view] = svc.onsite_sessions(R)
    assert view.session_id == session and view.checkins == 1 and view.open
    [paper] = svc.paper_tallies(R, ADMIN)
    assert paper.tally_id == tally_id and paper.mine and paper.number == 3
    assert not svc.paper_tallies(R, CLERK)[0].mine
    with pytest.raises(e.NotOfficial):
        svc.paper_tallies(R, HALL)
    [community] = svc.communities(R)
    assert (community.name, community.issued, community.redeemed) == ("햇살마을", 3, 1)
    assert svc.judge_round(HALL) is None
    svc.join_as_judge(HALL, svc.invite_judge(ADMIN, R))
    assert svc.judge_round(HALL) == R
    assert svc.proposal_by_number(R, 2) == f"{R}-2"
    with pytest.raises(e.ProposalNotFound):
        svc.proposal_by_number(R, 99)


def test_a_broadcast_is_one_entry_with_its_queue(svc: ParticipationService) -> None:
    svc.update_settings(HOME, subscribed=False)
    assert svc.broadcast_audience() == 3 and svc.broadcast_audience("yeoncheon") == 1
    size = svc._ledger.size()  # type: ignore[attr-defined]
    bid = svc.send_broadcast(ADMIN, "안내 말씀", region="suwon", request_id="tg:1")
    assert svc.send_broadcast(ADMIN, "안내 말씀", region="suwon", request_id="tg:1") == bid
    assert svc._ledger.size() == size + 1  # type: ignore[attr-defined]
    leaf = json.loads(svc._ledger.entries(size, size + 1)[0])  # type: ignore[attr-defined]
    body = leaf["entry"]["body"]
    assert leaf["entry"]["kind"] == "broadcast.queued"
    assert body["broadcast"] == bid and body["region"] == "suwon" and body["recipients"] == 2
    assert len(body["text_c"]) == 64 and "안내" not in json.dumps(leaf, ensure_ascii=False)
    rows = [r for r in svc.claim_outbox(50) if r.broadcast_id is not None]
    assert {r.broadcast_id for r in rows} == {bid}
    assert sorted(r.user_id for r in rows) == [AUTHOR, HALL]
    assert {r.key for r in rows} == {"participation.notice.broadcast"}
    assert rows[0].params == {"text": "안내 말씀"}


@pytest.mark.parametrize(
    ("who", "text", "region", "error"),
    [
        (HALL, "hi", None, e.NotOfficial),
        (CLERK, "hi", None, e.NotOfficial),
        (ADMIN, " ", None, e.AnswerInvalid),
        (ADMIN, "x" * 3501, None, e.AnswerInvalid),
        (ADMIN, "hi", "atlantis", e.UnknownRegion),
    ],
)
def test_a_broadcast_is_refused_when(
    svc: ParticipationService, who: int, text: str, region: str | None, error: type[Exception]
) -> None:
    size = svc._ledger.size()  # type: ignore[attr-defined]
    with pytest.raises(error):
        svc.send_broadcast(who, text, region=region)
    assert svc._ledger.size() == size  # type: ignore[attr-defined]
    assert [r for r in svc.claim_outbox(50) if r.broadcast_id is not None] == []


@pytest.mark.parametrize("by", ["official", "clock"])
def test_leaving_the_review_closes_its_open_sessions(
    svc: ParticipationService, clock: Clock, by: str
) -> None:
    left_open = check_in(svc, HALL)
    closed = svc.open_onsite_session(ADMIN, R)
    svc.close_onsite_session(ADMIN, closed)
    ledger = svc._ledger  # type: ignore[attr-defined]
    size = ledger.size()
    if by == "official":
        receipt = svc.advance_round(ADMIN, R)
        assert receipt.index == size  # the receipt is the phase change's
    else:
        clock.set(dt.datetime(2017, 2, 23, 18, 1, tzinfo=KST))
        assert svc.advance_due_rounds() == [(R, "results")]
    assert [v.open for v in svc.onsite_sessions(R)] == [False, False]
    with pytest.raises(e.Closed):
        svc.onsite_code(left_open)
    added = [json.loads(leaf)["entry"] for leaf in ledger.entries(size, ledger.size())]
    assert [x["kind"] for x in added] == ["round.advanced", "onsite.closed"]
    advanced, closing = added
    assert closing["body"]["session"] == left_open  # the closed one is not closed twice
    assert closing["actor"] == advanced["actor"] and closing["round"] == R


def test_scanning_the_current_session_again_writes_nothing(
    svc: ParticipationService, clock: Clock
) -> None:
    """People scan the hall's QR code again when nothing seems to happen: the second scan of
    the session they are checked in to (still their current one) appended a second
    onsite.checked_in entry and receipt. Now it returns the first check-in's receipt and
    writes nothing, retried with its request id too; a move back from another session is a
    move and is recorded."""
    ledger = svc._ledger  # type: ignore[attr-defined]
    hall = svc.open_onsite_session(ADMIN, R)
    first = svc.check_in(HALL, svc.onsite_code(hall), request_id="tg:1")
    size, receipts = ledger.size(), svc.my_receipts(HALL)
    clock.advance(seconds=40)
    for request_id in ("tg:2", "tg:2", None):  # a re-scan, its update replayed, no request id
        assert svc.check_in(HALL, svc.onsite_code(hall), request_id=request_id) == first
    assert ledger.size() == size and svc.my_receipts(HALL) == receipts
    assert svc.onsite_sessions(R)[0].checkins == 1

    other = svc.open_onsite_session(ADMIN, R)
    clock.advance(seconds=40)
    svc.check_in(HALL, svc.onsite_code(other))
    assert svc.onsite_ballot(HALL, R).session_id == other
    clock.advance(seconds=40)
    back = svc.check_in(HALL, svc.onsite_code(hall), request_id="tg:3")
    assert back.index == ledger.size() - 1 != first.index  # a move back is recorded
    assert svc.onsite_ballot(HALL, R).session_id == hall
    kinds = [json.loads(leaf)["entry"]["kind"] for leaf in ledger.entries(size, ledger.size())]
    assert kinds == ["onsite.opened", "onsite.checked_in", "onsite.checked_in"]


def test_a_presence_from_before_0009_whose_receipt_was_erased_is_checked_in_anew(
    svc: ParticipationService, clock: Clock
) -> None:
    """A scan again after erasing one's data is the same check-in, answered with the entry
    kept in the presence row (tests/participation/test_checkin_order.py). A row from before
    migration 0009 kept none, and the erasure deleted the receipt: there is no receipt to be
    given, so that check-in is recorded anew, and the row then keeps it."""
    ledger = svc._ledger  # type: ignore[attr-defined]
    hall = svc.open_onsite_session(ADMIN, R)
    svc.check_in(HALL, svc.onsite_code(hall))
    with svc._engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.update(t.presences).values(ledger_index=None, leaf_hash=None))
    svc.erase_personal_data(HALL)
    svc.register(HALL, region="suwon", consent_version="v1")
    size = ledger.size()
    clock.advance(seconds=40)
    again = svc.check_in(HALL, svc.onsite_code(hall))
    assert again.index == size and ledger.size() == size + 1
    assert [r.kind for r in svc.my_receipts(HALL)][0] == "onsite.checked_in"
    assert svc.onsite_sessions(R)[0].checkins == 1
    assert svc.check_in(HALL, svc.onsite_code(hall)) == again
    assert ledger.size() == size + 1
