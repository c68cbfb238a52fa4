"""A judge who also wrote a proposal (a resident who submitted one and was then invited to the
panel) never scores it: the service refuses the score (OwnProposal, as on site and online),
and the judge's tasks, the officials' progress and the reminders leave it out, so it is never
counted as a score missing. In a round with enrollment codes a judge enrolled in the
proposal's community is excluded the same way (the round's ``own_exclusion``)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

import pytest

from participation.domain import errors as e
from participation.domain.round import RoundRules
from participation.results import Row
from participation.service import ParticipationService
from tests.participation.conftest import KST
from tests.participation.conftest import simple_rules

R = "jo"
ADMIN = 1
AUTHOR, JUDGE_AUTHOR, JUDGE = 100, 200, 300
CRITERIA = {"necessity": 4, "feasibility": 4, "publicness": 4, "impact": 4}


def size(svc: ParticipationService) -> int:
    ledger: Any = svc._ledger  # type: ignore[attr-defined]
    return int(ledger.size())


def to_review(svc: ParticipationService) -> None:
    clock = svc._clock  # type: ignore[attr-defined]
    clock.set(dt.datetime(2017, 2, 12, 9, tzinfo=KST))
    svc.advance_round(ADMIN, R)
    clock.set(dt.datetime(2017, 2, 20, 9, tzinfo=KST))
    svc.advance_round(ADMIN, R)


def submit(svc: ParticipationService, uid: int, title: str) -> str:
    card = svc.submit_proposal(
        uid, R, title=title, body="b", category="community", region="suwon", budget=1_000_000
    )
    return card.proposal_id


def judge(svc: ParticipationService, uid: int) -> None:
    svc.join_as_judge(uid, svc.invite_judge(ADMIN, R))


def by_judge(svc: ParticipationService) -> dict[int, tuple[int, int, int]]:
    """(scored, recused, expected) of each judge."""
    rows = {p.judge: p for p in svc.judge_progress(R)}
    assert len(rows) == 2
    return {
        uid: (p.scored, p.recused, p.expected)
        for uid in (JUDGE_AUTHOR, JUDGE)
        for p in [rows[svc.actor("judge", R, uid)]]
    }


def test_a_judge_never_scores_their_own_proposal_nor_is_reminded_of_it(
    any_db: ParticipationService,
) -> None:
    svc = any_db
    svc.create_round(ADMIN, simple_rules(), round_id=R)
    svc.open_round(ADMIN, R)
    for uid in (AUTHOR, JUDGE_AUTHOR, JUDGE):
        svc.register(uid, region="suwon", consent_version="v1")
    others = [submit(svc, AUTHOR, "a1"), submit(svc, AUTHOR, "a2")]
    own = submit(svc, JUDGE_AUTHOR, "mine")
    to_review(svc)
    judge(svc, JUDGE_AUTHOR)
    judge(svc, JUDGE)

    before = size(svc)
    with pytest.raises(e.OwnProposal):
        svc.score(JUDGE_AUTHOR, own, CRITERIA)
    with pytest.raises(e.OwnProposal):
        svc.recuse(JUDGE_AUTHOR, own)
    with pytest.raises(e.OwnProposal):
        svc.judge_check(JUDGE_AUTHOR, own)  # read only: what the bot says to a stale card
    assert svc.judge_check(JUDGE, own) is None
    assert size(svc) == before  # nothing written

    # the judge's cards: the two proposals of others, not their own
    tasks = svc.judge_tasks(JUDGE_AUTHOR, R)
    assert [t.card.proposal_id for t in tasks] == others
    assert [t.card.proposal_id for t in svc.judge_tasks(JUDGE, R)] == [*others, own]
    assert by_judge(svc) == {JUDGE_AUTHOR: (0, 0, 2), JUDGE: (0, 0, 3)}

    for pid in others:
        svc.score(JUDGE_AUTHOR, pid, CRITERIA)
        svc.score(JUDGE, pid, CRITERIA)
    assert by_judge(svc) == {JUDGE_AUTHOR: (2, 0, 2), JUDGE: (2, 0, 3)}
    assert svc.judges_to_remind(R) == [JUDGE]  # the author-judge has nothing left to score
    svc.score(JUDGE, own, {**CRITERIA, "impact": 2})
    assert svc.judges_to_remind(R) == []

    # the results: the proposal is judged by the judges who may score it, as before
    clock = svc._clock  # type: ignore[attr-defined]
    clock.set(dt.datetime(2017, 2, 24, 9, tzinfo=KST))
    svc.advance_round(ADMIN, R)
    svc.publish_results(ADMIN, R)
    payload: Any = svc.results(R)
    rows = {r.proposal: r for r in map(Row.from_payload, payload["rows"])}
    assert (rows[own].judges_counted, rows[own].judges) == (1, Fraction(70))  # 14 of 20
    assert [rows[pid].judges_counted for pid in others] == [2, 2]


def enrollment_round(svc: ParticipationService, rules: RoundRules) -> tuple[str, str]:
    """A round with enrollment codes: AUTHOR of community c1 and JUDGE_AUTHOR of c2 submit
    one proposal each; JUDGE, enrolled in c1, and JUDGE_AUTHOR are judges.  Return the two
    proposal ids (c1's, c2's)."""
    svc.create_round(ADMIN, rules.with_changes(eligibility="enrollment"), round_id=R)
    svc.open_round(ADMIN, R)
    for community in ("c1", "c2"):
        svc.add_community(ADMIN, R, community=community, region="suwon", name=community)
    for uid, community in ((AUTHOR, "c1"), (JUDGE_AUTHOR, "c2"), (JUDGE, "c1")):
        svc.register(uid, region="suwon", consent_version="v1")
        svc.redeem_code(uid, svc.issue_enrollment_codes(ADMIN, R, community, count=1)[0])
    pids = submit(svc, AUTHOR, "c1's"), submit(svc, JUDGE_AUTHOR, "c2's")
    to_review(svc)
    judge(svc, JUDGE_AUTHOR)
    judge(svc, JUDGE)
    return pids


def test_a_judge_enrolled_in_the_proposals_community_does_not_score_it(
    any_db: ParticipationService,
) -> None:
    svc = any_db
    c1, c2 = enrollment_round(svc, simple_rules())
    with pytest.raises(e.OwnProposal):
        svc.score(JUDGE, c1, CRITERIA)
    with pytest.raises(e.OwnProposal):
        svc.score(JUDGE_AUTHOR, c2, CRITERIA)
    assert [t.card.proposal_id for t in svc.judge_tasks(JUDGE, R)] == [c2]
    assert [t.card.proposal_id for t in svc.judge_tasks(JUDGE_AUTHOR, R)] == [c1]
    svc.score(JUDGE, c2, CRITERIA)
    svc.score(JUDGE_AUTHOR, c1, CRITERIA)
    assert by_judge(svc) == {JUDGE_AUTHOR: (1, 0, 1), JUDGE: (1, 0, 1)}
    assert svc.judges_to_remind(R) == []


def test_without_own_exclusion_a_community_member_judges_but_never_their_own(
    any_db: ParticipationService,
) -> None:
    svc = any_db
    c1, c2 = enrollment_round(svc, simple_rules(own_exclusion=False))
    svc.score(JUDGE, c1, CRITERIA)  # of their community, not theirs: the round allows it
    with pytest.raises(e.OwnProposal):
        svc.score(JUDGE_AUTHOR, c2, CRITERIA)  # their own: never
    assert [t.card.proposal_id for t in svc.judge_tasks(JUDGE, R)] == [c1, c2]
    assert [t.card.proposal_id for t in svc.judge_tasks(JUDGE_AUTHOR, R)] == [c1]
