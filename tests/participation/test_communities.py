"""Communities of a round: generated codes, names that must differ, one or many at once
(all or none, by row), retries that add once, and who may add them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.verify import verify_export
from participation.domain import community as cm
from participation.domain import errors as e
from participation.service import ParticipationService
from tests.participation.conftest import simple_rules

R = "rc"
ADMIN, CLERK, RESIDENT = 1, 2, 10


@pytest.fixture
def svc(any_db: ParticipationService) -> ParticipationService:
    """A round open for submissions with an admin (the first official) and a clerk, on
    SQLite and on PostgreSQL (integration)."""
    service = any_db
    service.join_as_official(CLERK, service.invite_official(ADMIN, role="clerk"))
    service.create_round(ADMIN, simple_rules(), round_id=R)
    service.open_round(ADMIN, R)
    return service


def added(svc: ParticipationService) -> list[dict[str, object]]:
    """Return the bodies of the ledger's community.added entries."""
    size = svc._ledger.size()  # type: ignore[attr-defined]
    entries = [json.loads(x)["entry"] for x in svc._ledger.entries(0, size)]  # type: ignore[attr-defined]
    return [x["body"] for x in entries if x["kind"] == "community.added"]


def test_codes_are_generated_in_order_after_the_highest(svc: ParticipationService) -> None:
    svc.add_community(ADMIN, R, region="suwon", name="햇살마을")
    svc.add_community(ADMIN, R, region="suwon", name="달빛마을", community="c007")
    svc.add_community(ADMIN, R, region="yeoncheon", name="  별빛   마을 ")
    assert [(c.community, c.name, c.region) for c in svc.communities(R)] == [
        ("c001", "햇살마을", "suwon"),
        ("c007", "달빛마을", "suwon"),
        ("c008", "별빛 마을", "yeoncheon"),
    ]
    assert [b["community"] for b in added(svc)] == ["c001", "c007", "c008"]
    assert cm.next_codes(["c999", "x1", "c12a"], 2) == ["c1000", "c1001"]


@pytest.mark.parametrize(
    ("name", "region", "error"),
    [
        ("   ", "suwon", e.CommunityNameInvalid),
        ("가" * (cm.NAME_MAX + 1), "suwon", e.CommunityNameInvalid),
        ("햇살 마을", "suwon", e.CommunityNameTaken),  # spaces and case do not make it new
        ("Sunny  town", "suwon", e.CommunityNameTaken),
        ("새 마을", "busan", e.UnknownRegion),
    ],
)
def test_a_bad_community_is_refused_and_nothing_is_written(
    svc: ParticipationService, name: str, region: str, error: type[Exception]
) -> None:
    svc.add_community(ADMIN, R, region="suwon", name="햇살  마을")
    svc.add_community(ADMIN, R, region="suwon", name="sunny Town")
    size = svc._ledger.size()  # type: ignore[attr-defined]
    with pytest.raises(error):
        svc.add_community(ADMIN, R, region=region, name=name)
    assert svc._ledger.size() == size and len(svc.communities(R)) == 2  # type: ignore[attr-defined]


def test_a_retried_request_adds_once(svc: ParticipationService) -> None:
    first = svc.add_community(ADMIN, R, region="suwon", name="햇살마을", request_id="tg:1")
    again = svc.add_community(ADMIN, R, region="suwon", name="햇살마을", request_id="tg:1")
    assert first == again and len(added(svc)) == 1
    assert svc.add_communities(ADMIN, R, [("가", "suwon"), ("나", "osan")], request_id="tg:2") == 2
    assert svc.add_communities(ADMIN, R, [("가", "suwon"), ("나", "osan")], request_id="tg:2") == 2
    assert len(added(svc)) == 3 and len(svc.communities(R)) == 3


def test_many_at_once_are_all_added_in_one_transaction(
    svc: ParticipationService, tmp_path: Path
) -> None:
    svc.add_community(ADMIN, R, region="suwon", name="햇살마을")
    rows = [(f"마을 {n}", "suwon" if n % 2 else "yeoncheon") for n in range(1, 121)]
    assert svc.add_communities(ADMIN, R, rows) == 120
    found = svc.communities(R)
    assert len(found) == 121 and found[-1].community == "c121" and found[-1].name == "마을 120"
    assert len(added(svc)) == 121
    log: Any = svc._ledger  # type: ignore[attr-defined]
    log.export(tmp_path / "export")
    assert verify_export(tmp_path / "export").size == log.size()


def test_many_at_once_with_any_problem_adds_none_and_names_every_row(
    svc: ParticipationService,
) -> None:
    svc.add_community(ADMIN, R, region="suwon", name="햇살마을")
    rows = [("좋은 마을", "suwon"), ("", "suwon"), ("햇살마을", "osan"), ("좋은  마을", "busan")]
    with pytest.raises(e.CommunitiesInvalid) as refused:
        svc.add_communities(ADMIN, R, rows)
    assert [(p.row, p.code, p.first) for p in refused.value.problems] == [
        (1, cm.NAME_EMPTY, None),
        (2, cm.NAME_TAKEN, None),
        (3, cm.NAME_REPEATED, 0),
        (3, cm.REGION_UNKNOWN, None),
    ]
    assert svc.community_problems(R, rows) == list(refused.value.problems)
    assert len(svc.communities(R)) == 1 and len(added(svc)) == 1
    assert svc.community_problems(R, [("햇살 마을", None)])[0].code == cm.NAME_TAKEN
    for many in ([], [(f"m{n}", "suwon") for n in range(cm.BULK_MAX + 1)]):
        with pytest.raises(e.CommunitiesInvalid) as empty:
            svc.add_communities(ADMIN, R, many)
        assert empty.value.problems == () and empty.value.params["count"] == len(many)


def test_only_admins_add_and_never_to_a_closed_round(svc: ParticipationService) -> None:
    for who in (CLERK, RESIDENT):
        with pytest.raises(e.NotOfficial):
            svc.add_community(who, R, region="suwon", name="햇살마을")
        with pytest.raises(e.NotOfficial):
            svc.add_communities(who, R, [("햇살마을", "suwon")])
    while svc.round(R).phase != "closed":
        if svc.round(R).phase == "results":
            svc.publish_results(ADMIN, R)  # a round closes only with its results published
        svc.advance_round(ADMIN, R)
    with pytest.raises(e.RoundFinished):
        svc.add_community(ADMIN, R, region="suwon", name="햇살마을")
    assert added(svc) == []
