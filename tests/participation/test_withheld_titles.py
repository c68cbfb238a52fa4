"""`service.withheld_titles`: which proposals of published rounds show a placeholder instead
of their title now (hidden, with the reason, or erased), in one query: what the gateway's
clock compares to know that the channel's results posts need an edit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from participation.service import ParticipationService
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.test_openings import OFFICIAL
from tests.participation.test_openings import R
from tests.participation.test_openings import play


@pytest.fixture
def world(tmp_path: Any) -> Iterator[dict[str, Any]]:
    clock = Clock(START)
    log = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", clock)
    svc = ParticipationService(log, pepper=PEPPER, clock=clock)
    svc.create_tables()
    ids = play(svc, clock)
    yield {"svc": svc, "ids": ids}
    log.close()


def test_hidden_and_erased_proposals_are_named_with_why(world):
    svc, ids = world["svc"], world["ids"]
    got = svc.withheld_titles([R, "nosuchround"])
    assert got == {
        R: {
            ids["spam"]: "hidden:spam",  # hidden before the review: no row, still withheld
            ids["erased"]: "erased",
            ids["late"]: "hidden:personal_info",
        }
    }
    svc.restore_proposal(OFFICIAL, ids["late"])
    svc.hide_proposal(OFFICIAL, ids["shade"], "abuse")
    assert svc.withheld_titles([R])[R] == {
        ids["spam"]: "hidden:spam", ids["erased"]: "erased", ids["shade"]: "hidden:abuse",
    }  # fmt: skip
    assert svc.withheld_titles([]) == {}
