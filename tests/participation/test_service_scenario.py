"""A whole round through the service; the published results equal tally(export)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ledger import Ledger
from ledger.verify import verify_export
from participation.domain.events import ResultsPublished
from participation.service import ParticipationService
from participation.tally import tally
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.scenario import ROUND
from tests.participation.scenario import run_round


def check_published_equals_export(log: Ledger, published: dict[str, object], out: Path) -> None:
    log.export(out)
    lines = (out / "entries.jsonl").read_bytes().splitlines()
    entries = [json.loads(line) for line in lines]
    [pub] = [e for e in entries if e["entry"]["kind"] == ResultsPublished.kind]
    body = ResultsPublished.from_payload(pub["entry"]["body"])
    recomputed = tally(lines, ROUND, upto=body.upto)
    assert recomputed.to_payload() == published
    assert recomputed.sha256() == body.results_sha256
    assert list(body.selected) == published["selected"]
    verify_export(out)


def test_whole_round_published_results_equal_tally_of_export(
    service: ParticipationService, ledger: Ledger, clock: Clock, tmp_path: Path
) -> None:
    outcome = run_round(service, clock)
    assert outcome.published["selected"], "a round with votes selects something"
    check_published_equals_export(ledger, outcome.published, tmp_path / "export")
    assert service.results(ROUND) == outcome.published
    cards = {c.proposal_id: c for c in service.my_proposals(100)}
    assert all(c.status in ("selected", "not_selected") for c in cards.values())


def test_no_telegram_id_or_text_reaches_the_ledger(
    service: ParticipationService, ledger: Ledger, clock: Clock
) -> None:
    run_round(service, clock)
    leaves = ledger.entries(0, ledger.size())
    actors = {json.loads(leaf)["entry"]["actor"] for leaf in leaves}
    assert all(re.fullmatch(r"[rjo]:[0-9a-f]{32}|s:[a-z]+", a) for a in actors)
    raw = b"\n".join(leaves)
    assert b"proposal 3" not in raw and b"body body" not in raw
    bodies = [json.loads(leaf)["entry"]["body"] for leaf in leaves]
    ints = {v for b in bodies for v in b.values() if isinstance(v, int)}
    assert not ints & {100, 139, 900}


@pytest.mark.integration
def test_whole_round_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    clock = Clock(START)
    log = open_ledger(pg_url, clock)
    try:
        svc = ParticipationService(log, pepper=PEPPER, clock=clock)
        svc.create_tables()
        outcome = run_round(svc, clock)
        check_published_equals_export(log, outcome.published, tmp_path / "export")
    finally:
        log.close()
