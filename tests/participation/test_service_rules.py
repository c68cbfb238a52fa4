# ruff: noqa: E501  (the rule table reads best one case per line)
"""Every rule refused through the service, with the right typed error."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from participation.app.base import received_at
from participation.domain import errors as e
from participation.service import ParticipationService
from tests.participation.conftest import KST
from tests.participation.conftest import Clock
from tests.participation.conftest import simple_rules

R = "rt"
ADMIN, CLERK = 1, 2
AUTHOR, OTHER, THIRD = 10, 11, 12
JUDGE = 50
CRITERIA = {"necessity": 3, "feasibility": 3, "publicness": 3, "impact": 3}
SHEET = hashlib.sha256(b"sheet").hexdigest()


@dataclass
class World:
    svc: ParticipationService
    clock: Clock
    pid: str

    def to_review(self) -> None:
        self.clock.set(dt.datetime(2017, 2, 12, 9, tzinfo=KST))
        self.svc.advance_round(ADMIN, R)
        self.clock.set(dt.datetime(2017, 2, 20, 9, tzinfo=KST))
        self.svc.advance_round(ADMIN, R)

    def judge(self) -> None:
        self.svc.join_as_judge(JUDGE, self.svc.invite_judge(ADMIN, R))

    def checked_in(self, uid: int) -> str:
        session = self.svc.open_onsite_session(ADMIN, R)
        self.svc.check_in(uid, self.svc.onsite_code(session))
        return session


@pytest.fixture
def world(service: ParticipationService, clock: Clock) -> World:
    service.grant_first_official(ADMIN)
    service.join_as_official(CLERK, service.invite_official(ADMIN, role="clerk"))
    service.create_round(ADMIN, simple_rules(endorsement_threshold=1), round_id=R)
    service.open_round(ADMIN, R)
    for uid in (AUTHOR, OTHER, THIRD):
        service.register(uid, region="suwon", consent_version="v1")
    card = service.submit_proposal(
        AUTHOR, R, title="t", body="b", category="community", region="suwon", budget=1_000_000
    )
    service.endorse(OTHER, card.proposal_id)
    return World(service, clock, card.proposal_id)


def submit(w: World, **changes: object) -> None:
    fields: dict[str, object] = {
        "title": "t",
        "body": "b",
        "category": "community",
        "region": "suwon",
        "budget": 1_000_000,
    }
    fields.update(changes)
    w.svc.submit_proposal(OTHER, R, **fields)  # type: ignore[arg-type]


def in_review(action: Callable[[World], object]) -> Callable[[World], object]:
    def run(w: World) -> object:
        w.to_review()
        return action(w)

    return run


def _recused_then_score(w: World) -> None:
    w.to_review()
    w.judge()
    w.svc.recuse(JUDGE, w.pid)
    w.svc.score(JUDGE, w.pid, CRITERIA)


def _expired_invite(w: World) -> None:
    code = w.svc.invite_judge(ADMIN, R, ttl_s=60)
    w.clock.advance(seconds=61)
    w.svc.join_as_judge(JUDGE, code)


def _used_invite(w: World) -> None:
    code = w.svc.invite_judge(ADMIN, R)
    w.svc.join_as_judge(JUDGE, code)
    w.svc.join_as_judge(JUDGE + 1, code)


def _expired_onsite(w: World) -> None:
    w.to_review()
    session = w.svc.open_onsite_session(ADMIN, R)
    code = w.svc.onsite_code(session)
    w.clock.advance(seconds=61)
    w.svc.check_in(THIRD, code)


def _expired_when_scanned(w: World) -> None:
    w.to_review()
    session = w.svc.open_onsite_session(ADMIN, R)
    code = w.svc.onsite_code(session)
    w.clock.advance(seconds=61)
    scanned = int(w.clock().timestamp())  # the link opened a minute after the code was shown
    w.clock.advance(seconds=5)
    w.svc.check_in(THIRD, code, scanned_at=scanned)


def _forged_onsite(w: World) -> None:
    w.to_review()
    session = w.svc.open_onsite_session(ADMIN, R)
    w.svc.check_in(THIRD, f"s_{session}_0123456789")


def _score_own(w: World) -> None:
    w.to_review()
    w.checked_in(AUTHOR)
    w.svc.onsite_score(AUTHOR, w.pid, 4)


def _confirm_own_paper(w: World) -> None:
    w.to_review()
    session = w.svc.open_onsite_session(ADMIN, R)
    tally = w.svc.enter_paper_tally(CLERK, session, w.pid, ballots=3, points=9, sheet_sha256=SHEET)
    w.svc.confirm_paper_tally(CLERK, tally)


def _correct_confirmed_paper(w: World) -> None:
    w.to_review()
    session = w.svc.open_onsite_session(ADMIN, R)
    tally = w.svc.enter_paper_tally(CLERK, session, w.pid, ballots=3, points=9, sheet_sha256=SHEET)
    w.svc.confirm_paper_tally(ADMIN, tally)
    w.svc.enter_paper_tally(
        CLERK, session, w.pid, ballots=3, points=10, sheet_sha256=SHEET, corrects=tally
    )


CASES: list[tuple[str, Callable[[World], object], type[e.ParticipationError]]] = [
    ("register twice", lambda w: w.svc.register(AUTHOR, region="suwon", consent_version="v1"), e.AlreadyRegistered),
    ("register without consent", lambda w: w.svc.register(60, region="suwon", consent_version=""), e.ConsentRequired),
    ("register in unknown region", lambda w: w.svc.register(60, region="mars", consent_version="v1"), e.UnknownRegion),
    ("submit unregistered", lambda w: w.svc.submit_proposal(60, R, title="t", body="b", category="community", region="suwon", budget=1), e.NotRegistered),
    ("title over 60", lambda w: submit(w, title="가" * 61), e.TitleTooLong),
    ("empty title", lambda w: submit(w, title="  "), e.TitleEmpty),
    ("body over 1500", lambda w: submit(w, body="a" * 1501), e.BodyTooLong),
    ("budget over cap", lambda w: submit(w, budget=10_000_001), e.BudgetOverCap),
    ("zero budget", lambda w: submit(w, budget=0), e.BudgetInvalid),
    ("unknown category", lambda w: submit(w, category="space"), e.UnknownCategory),
    ("unknown region", lambda w: submit(w, region="mars"), e.UnknownRegion),
    ("unknown round", lambda w: w.svc.submit_proposal(OTHER, "nope", title="t", body="b", category="community", region="suwon", budget=1), e.RoundNotFound),
    ("duplicate endorsement", lambda w: w.svc.endorse(OTHER, w.pid), e.DuplicateEndorsement),
    ("endorse own proposal", lambda w: w.svc.endorse(AUTHOR, w.pid), e.OwnProposal),
    ("withdraw absent endorsement", lambda w: w.svc.withdraw_endorsement(THIRD, w.pid), e.NotEndorsed),
    ("edit by another", lambda w: w.svc.edit_proposal(OTHER, w.pid, title="x"), e.NotAuthor),
    ("withdraw by another", lambda w: w.svc.withdraw_proposal(OTHER, w.pid), e.NotAuthor),
    ("endorse after withdrawal", lambda w: (w.svc.withdraw_proposal(AUTHOR, w.pid), w.svc.endorse(THIRD, w.pid)), e.ProposalInactive),
    ("endorse hidden", lambda w: (w.svc.hide_proposal(ADMIN, w.pid, "spam"), w.svc.endorse(THIRD, w.pid)), e.ProposalIsHidden),
    ("hide with unknown reason", lambda w: w.svc.hide_proposal(ADMIN, w.pid, "dislike"), e.UnknownReason),
    ("hide by a resident", lambda w: w.svc.hide_proposal(OTHER, w.pid, "spam"), e.NotOfficial),
    ("clerk cannot administer", lambda w: w.svc.advance_round(CLERK, R), e.AdminOnly),
    ("submit after deadline", lambda w: (w.clock.set(dt.datetime(2017, 2, 10, 18, tzinfo=KST)), submit(w)), e.DeadlinePassed),
    ("edit in a closed phase", lambda w: (w.svc.advance_round(ADMIN, R), w.svc.edit_proposal(AUTHOR, w.pid, title="x")), e.PhaseClosed),
    ("edit after withdrawal", lambda w: (w.svc.withdraw_proposal(AUTHOR, w.pid), w.svc.edit_proposal(AUTHOR, w.pid, title="x")), e.ProposalInactive),
    ("withdraw twice", lambda w: (w.svc.withdraw_proposal(AUTHOR, w.pid), w.svc.withdraw_proposal(AUTHOR, w.pid)), e.ProposalInactive),
    ("change screen of another's", lambda w: w.svc.proposal_to_change(OTHER, w.pid), e.NotAuthor),
    ("change screen after withdrawal", lambda w: (w.svc.withdraw_proposal(AUTHOR, w.pid), w.svc.proposal_to_change(AUTHOR, w.pid)), e.ProposalInactive),
    ("change screen of a hidden one", lambda w: (w.svc.hide_proposal(ADMIN, w.pid, "spam"), w.svc.proposal_to_change(AUTHOR, w.pid)), e.ProposalIsHidden),
    ("change screen after the deadline", lambda w: (w.clock.set(dt.datetime(2017, 2, 10, 18, tzinfo=KST)), w.svc.proposal_to_change(AUTHOR, w.pid)), e.DeadlinePassed),
    ("change screen in a closed phase", lambda w: (w.svc.advance_round(ADMIN, R), w.svc.proposal_to_change(AUTHOR, w.pid)), e.PhaseClosed),
    ("change screen of an unknown one", lambda w: w.svc.proposal_to_change(AUTHOR, "rt-999"), e.ProposalNotFound),
    ("unendorse after endorsement phase", in_review(lambda w: w.svc.withdraw_endorsement(OTHER, w.pid)), e.PhaseClosed),
    ("configure an open round", lambda w: w.svc.configure_round(ADMIN, R, simple_rules()), e.RulesFrozen),
    ("second first official", lambda w: w.svc.grant_first_official(99), e.OfficialExists),
    ("judge scoring a recused proposal", _recused_then_score, e.RecusedProposal),
    ("judge score out of range", in_review(lambda w: (w.judge(), w.svc.score(JUDGE, w.pid, {**CRITERIA, "impact": 6}))), e.ScoreOutOfRange),
    ("judge missing a criterion", in_review(lambda w: (w.judge(), w.svc.score(JUDGE, w.pid, {"impact": 3}))), e.CriteriaMismatch),
    ("score by a non-judge", in_review(lambda w: w.svc.score(OTHER, w.pid, CRITERIA)), e.NotJudge),
    ("judge scoring before review", lambda w: (w.judge(), w.svc.score(JUDGE, w.pid, CRITERIA)), e.PhaseClosed),
    ("expired invite", _expired_invite, e.InviteExpired),
    ("used invite", _used_invite, e.CodeUsed),
    ("unknown code", lambda w: w.svc.redeem_code(OTHER, "j_doesnotexist0000"), e.CodeUnknown),
    ("expired on-site code", _expired_onsite, e.OnsiteCodeExpired),
    ("on-site code expired when scanned", _expired_when_scanned, e.OnsiteCodeExpired),
    ("forged on-site code", _forged_onsite, e.CodeUnknown),
    ("on-site score without check-in", in_review(lambda w: w.svc.onsite_score(THIRD, w.pid, 3)), e.NotPresent),
    ("on-site score of own proposal", _score_own, e.OwnProposal),
    ("paper tally confirmed by its author", _confirm_own_paper, e.SameOfficial),
    ("correction of a confirmed paper tally", _correct_confirmed_paper, e.PaperAlreadyConfirmed),
    ("like before choosing a group", in_review(lambda w: (w.svc.form_review_groups(ADMIN, R), w.svc.like(THIRD, w.pid))), e.GroupNotChosen),
    ("like own proposal", in_review(lambda w: w.svc.like(AUTHOR, w.pid)), e.OwnProposal),
    ("like twice", in_review(lambda w: (w.svc.like(THIRD, w.pid), w.svc.like(THIRD, w.pid))), e.AlreadyLiked),
    ("enrollment needed", lambda w: w.svc.redeem_code(OTHER, "e_nosuchcode000000"), e.CodeUnknown),
    ("publish before results", in_review(lambda w: w.svc.publish_results(ADMIN, R)), e.PhaseClosed),
    ("close before publishing", in_review(lambda w: (w.svc.advance_round(ADMIN, R), w.svc.advance_round(ADMIN, R))), e.ResultsNotPublished),
]  # fmt: skip


@pytest.mark.parametrize(("action", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_is_refused_with_its_error(
    world: World, action: Callable[[World], object], error: type[e.ParticipationError]
) -> None:
    with pytest.raises(error) as caught:
        action(world)
    assert type(caught.value) is error
    assert caught.value.key.startswith("participation.error.")


def test_a_round_closes_only_after_its_results_are_published(world: World) -> None:
    world.to_review()
    world.svc.advance_round(ADMIN, R)  # -> results
    size = world.svc._ledger.size()  # type: ignore[attr-defined]
    with pytest.raises(e.ResultsNotPublished) as refused:
        world.svc.advance_round(ADMIN, R, request_id="close")
    assert refused.value.params == {"round": world.svc.round(R).title}
    assert world.svc._ledger.size() == size  # type: ignore[attr-defined]
    assert world.svc.round(R).phase == "results"
    world.svc.publish_results(ADMIN, R)
    world.svc.advance_round(ADMIN, R, request_id="close again")
    assert world.svc.round(R).phase == "closed" and world.svc.results(R) is not None


def test_a_confirmed_paper_tally_stays_when_its_correction_is_refused(world: World) -> None:
    """A correction typed while another official confirmed the tally: it would have hidden
    the confirmed tally from every list while it kept counting until confirmed itself."""
    world.to_review()
    session = world.svc.open_onsite_session(ADMIN, R)
    tally = world.svc.enter_paper_tally(
        CLERK, session, world.pid, ballots=10, points=30, sheet_sha256=SHEET
    )
    world.svc.confirm_paper_tally(ADMIN, tally)
    size = world.svc._ledger.size()  # type: ignore[attr-defined]
    with pytest.raises(e.PaperAlreadyConfirmed) as refused:
        world.svc.enter_paper_tally(
            CLERK, session, world.pid, ballots=10, points=35, sheet_sha256=SHEET, corrects=tally
        )
    assert refused.value.params == {"tally": tally}
    assert world.svc._ledger.size() == size  # type: ignore[attr-defined]
    [paper] = world.svc.paper_tallies(R, ADMIN)
    assert (paper.points, paper.confirmed, paper.superseded) == (30, True, False)


def test_refused_command_writes_no_entry_and_no_row(world: World) -> None:
    size = world.svc._ledger.size()  # type: ignore[attr-defined]
    with pytest.raises(e.DuplicateEndorsement):
        world.svc.endorse(OTHER, world.pid)
    assert world.svc._ledger.size() == size  # type: ignore[attr-defined]
    assert world.svc.proposal(world.pid).endorsements == 1


def test_like_cap_is_enforced(world: World) -> None:
    for n in range(7):
        world.svc.submit_proposal(
            THIRD, R, title=f"x{n}", body="b", category="community", region="suwon", budget=1
        )
    for card in world.svc.my_proposals(THIRD):
        world.svc.endorse(OTHER, card.proposal_id)
    world.to_review()
    world.svc.register(40, region="suwon", consent_version="v1")
    ids = [c.proposal_id for c in world.svc.my_proposals(THIRD)]
    for pid in ids[:6]:
        world.svc.like(40, pid)
    with pytest.raises(e.LikeCapReached) as caught:
        world.svc.like(40, ids[6])
    assert caught.value.params == {"cap": 6}
    world.svc.unlike(40, ids[0])
    world.svc.like(40, ids[6])


def test_an_endorsement_received_before_the_deadline_counts_when_applied_after_it(
    world: World,
) -> None:
    """A press that waited in the queue past the deadline (a burst, an outage) is judged at
    the moment ingress received it, up to 15 minutes back; the round waits for it."""
    deadline = int(dt.datetime(2017, 2, 17, 18, tzinfo=KST).timestamp())
    world.clock.set(dt.datetime(2017, 2, 17, 18, 0, 30, tzinfo=KST))
    token = received_at.set(deadline - 1)
    try:
        world.svc.endorse(THIRD, world.pid)
    finally:
        received_at.reset(token)
    assert world.svc.proposal(world.pid).endorsements == 2
    token = received_at.set(deadline)  # received at the deadline: too late
    try:
        with pytest.raises(e.DeadlinePassed):
            world.svc.withdraw_endorsement(THIRD, world.pid)
    finally:
        received_at.reset(token)
    with pytest.raises(e.DeadlinePassed):  # no received time: judged now
        world.svc.withdraw_endorsement(THIRD, world.pid)
    world.clock.set(dt.datetime(2017, 2, 17, 18, 16, tzinfo=KST))
    token = received_at.set(deadline - 1)  # more than 15 minutes ago: judged 15 minutes back
    try:
        with pytest.raises(e.DeadlinePassed):
            world.svc.withdraw_endorsement(THIRD, world.pid)
    finally:
        received_at.reset(token)


def test_the_scheduler_waits_for_actions_received_before_the_deadline(world: World) -> None:
    deadline = int(dt.datetime(2017, 2, 17, 18, tzinfo=KST).timestamp())
    world.clock.set(dt.datetime(2017, 2, 12, 9, tzinfo=KST))
    world.svc.advance_round(ADMIN, R)  # endorsement
    world.clock.set(dt.datetime(2017, 2, 17, 18, 0, 30, tzinfo=KST))
    assert world.svc.advance_due_rounds(waiting_since=deadline - 1) == []
    assert world.svc.round(R).phase == "endorsement"
    assert world.svc.advance_due_rounds(waiting_since=deadline) == [(R, "review")]
