"""Moving a judge to another review group: the group the official saw them in is checked under
the writer's lock, so of two officials moving the same judge at once one wins and the other is
refused (JudgeMoved, writing nothing), while a retried request keeps its first outcome."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from participation.domain import errors as e
from participation.service import ParticipationService
from participation.store import tables as t
from tests.participation.conftest import review_round
from tests.participation.conftest import simple_rules

R = "ja"
AUTHOR, JUDGE = 100, 200


def grouped(svc: ParticipationService) -> str:
    """A round in review with two groups of two and one judge of every group; return the
    judge's pseudonym."""
    review_round(svc, simple_rules(review_group_size=2), R, AUTHOR, JUDGE, proposals=4)
    assert len(svc.form_review_groups(1, R)) == 2
    svc.join_as_judge(JUDGE, svc.invite_judge(1, R))
    (judge,) = svc.judge_progress(R)
    return judge.judge


def written(svc: ParticipationService) -> tuple[int, int]:
    """The ledger's size and the outbox's rows."""
    ledger: Any = svc._ledger  # type: ignore[attr-defined]
    with svc._engine.connect() as conn:  # type: ignore[attr-defined]
        notices = conn.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar_one()
    return ledger.size(), notices


def test_a_move_from_a_group_the_judge_left_is_refused_and_a_retry_keeps_its_receipt(
    any_db: ParticipationService,
) -> None:
    svc = any_db
    judge = grouped(svc)
    first = svc.assign_judge(1, R, judge, 1, from_group=None, request_id="tg:1")
    before = written(svc)

    # a second official confirms a move from the screen they opened before the first one's
    with pytest.raises(e.JudgeMoved) as refused:
        svc.assign_judge(1, R, judge, 2, from_group=None, request_id="tg:2")
    assert refused.value.key == "participation.error.judge_moved"
    assert refused.value.params == {"group": 1}
    assert written(svc) == before  # no entry, no second notice to the judge
    assert svc.judge_progress(R)[0].group == 1

    # the first request redelivered gets its first receipt, not the refusal
    assert svc.assign_judge(1, R, judge, 1, from_group=None, request_id="tg:1") == first
    assert written(svc) == before

    # a judge moved to every group meanwhile is named so
    svc.assign_judge(1, R, judge, None, from_group=1)
    with pytest.raises(e.JudgeMovedToAll) as refused_all:
        svc.assign_judge(1, R, judge, 2, from_group=1)
    assert refused_all.value.params == {}
    # with no expected group (callers that name none) the move goes through as before
    svc.assign_judge(1, R, judge, 2)
    assert svc.judge_progress(R)[0].group == 2


def test_two_officials_moving_the_same_judge_at_once_move_them_once(
    any_db: ParticipationService,
) -> None:
    svc = any_db
    judge = grouped(svc)
    before = written(svc)

    def move(group: int) -> object:
        try:
            return svc.assign_judge(1, R, judge, group, from_group=None, request_id=f"tg:{group}")
        except e.ParticipationError as err:
            return err

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(move, (1, 2)))
    refused = [o for o in outcomes if isinstance(o, e.JudgeMoved)]
    assert len(refused) == 1, outcomes
    now = svc.judge_progress(R)[0].group
    assert refused[0].params == {"group": now}
    size, notices = written(svc)
    assert (size, notices) == (before[0] + 1, before[1] + 1)  # one entry, the judge told once
