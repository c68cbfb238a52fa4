"""Erasing one's data leaves no Telegram id in the database, changes no count, and a person
who comes back gets their earlier votes back (so the one-per-person rules still hold and the
database's counts keep equal to the ledger's recount)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.verify import verify_export
from participation.domain import errors as e
from participation.service import ParticipationService
from participation.store import erasure
from participation.store import tables as t
from participation.tally import tally
from tests.participation.conftest import KST
from tests.participation.conftest import simple_rules
from tests.participation.conftest import statements

R = "er"
BOOT = 1  # the first official of ``any_db``
# Telegram ids far from every other number in the tables (counts, times, indexes), so a scan
# for them finds nothing by chance.
U, W, J, OFF, CL, X = (7_000_000_101, 7_000_000_102, 7_000_000_103, 7_000_000_104,
                       7_000_000_105, 7_000_000_106)  # fmt: skip
AUTHOR, FAN = 10, 11
SHEET = hashlib.sha256(b"sheet").hexdigest()


def engine(svc: ParticipationService) -> sa.Engine:
    found: sa.Engine = svc._engine  # type: ignore[attr-defined]
    return found


def clock_set(svc: ParticipationService, *args: int) -> None:
    svc._clock.set(dt.datetime(*args, tzinfo=KST))  # type: ignore[attr-defined]


def where_found(svc: ParticipationService, *ids: int) -> list[tuple[str, str, object]]:
    """Return (table, column, value) for every cell of every table of the database that holds
    one of ``ids``: an integer equal to it, or a text (JSON included) containing its digits."""
    wanted = set(ids)
    texts = [str(i) for i in ids]
    found = []
    meta = sa.MetaData()
    meta.reflect(engine(svc))
    with engine(svc).connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    if isinstance(value, bool) or value is None:
                        continue
                    if isinstance(value, int) and value in wanted:
                        found.append((table.name, column, value))
                    elif not isinstance(value, int | float):
                        text = value if isinstance(value, str) else json.dumps(value, default=str)
                        if any(d in text for d in texts):
                            found.append((table.name, column, value))
    return found


def dump(svc: ParticipationService, tables: set[str]) -> dict[str, list[tuple[Any, ...]]]:
    with engine(svc).connect() as conn:
        return {
            name: sorted(tuple(r) for r in conn.execute(sa.select(t.metadata.tables[name])))
            for name in sorted(tables)
        }


PERSON_TABLES = {c.table.name for c in erasure.PERSON_COLUMNS} | {"pt_tombstone"}


def counts(svc: ParticipationService) -> tuple[object, ...]:
    """What the public sees: the cards' counts, the live figures (but registrations), the
    ledger's recount."""
    cards = {p: svc.proposal(p).endorsements for p in (f"{R}-{n}" for n in range(1, 5))}
    figures = {k: v for k, v in svc.review_figures(R).items() if k != "registered"}
    payload = recount(svc).to_payload()
    payload.pop("upto")  # the entries counted so far: an erasure adds one
    return cards, figures, payload


def recount(svc: ParticipationService) -> Any:
    log: Any = svc._ledger  # type: ignore[attr-defined]
    return tally(log.entries(0, log.size()), R)


def assert_db_equals_recount(svc: ParticipationService) -> None:
    rows = {row.proposal: row for row in recount(svc).rows}
    for pid, row in rows.items():
        assert svc.proposal(pid).endorsements == row.endorsements, pid
    figures = svc.review_figures(R)
    assert figures["likes"] == sum(r.online_likes for r in rows.values())
    assert figures["onsite_scores"] == sum(r.onsite_scores for r in rows.values())


def assert_ledger_verifies(svc: ParticipationService, out: Path) -> None:
    log: Any = svc._ledger  # type: ignore[attr-defined]
    log.export(out)
    assert verify_export(out).size == log.size()


def submission_and_endorsements(svc: ParticipationService) -> None:
    """OFF runs round R; AUTHOR submits R-1..R-3 and U R-4; U enrolls and endorses R-1."""
    svc.join_as_official(OFF, svc.invite_official(BOOT))
    svc.join_as_official(CL, svc.invite_official(OFF, role="clerk"))
    svc.create_round(OFF, simple_rules(), round_id=R)
    svc.open_round(OFF, R)
    for uid in (U, W, AUTHOR, FAN):
        svc.register(uid, region="suwon", consent_version="v1")
    for i in range(3):
        svc.submit_proposal(AUTHOR, R, title=f"t{i}", body="b", category="community",
                            region="suwon", budget=1_000_000)  # fmt: skip
    svc.submit_proposal(U, R, title="mine", body="b", category="community", region="suwon",
                        budget=1_000_000, photo_file_id="photo-1")  # fmt: skip
    svc.add_community(OFF, R, community="c1", region="suwon", name="햇살마을")
    svc.redeem_code(U, svc.issue_enrollment_codes(OFF, R, "c1", count=2)[0])
    clock_set(svc, 2017, 2, 12, 9)
    svc.advance_round(OFF, R)  # -> endorsement
    svc.endorse(U, f"{R}-1")
    svc.endorse(FAN, f"{R}-1")
    svc.endorse(FAN, f"{R}-4")


def test_every_person_column_is_erased_or_rekeyed() -> None:
    """A new column naming a person must be listed in participation.store.erasure."""
    covered = {(c.table.name, c.name) for c in erasure.PERSON_COLUMNS}
    covered |= {(table.name, "user_id") for table in erasure.DELETED}
    covered |= {("pt_content", "owner_id"), ("pt_tombstone", "tombstone")}  # nulled; no person
    person_like = {
        (table.name, column.name)
        for table in t.metadata.sorted_tables
        for column in table.columns
        if column.name in ("user_id", "author_id", "owner_id", "tombstone")
        or column.name.endswith("_by")
    }
    assert person_like <= covered


# Tables of a few hundred rows a round, read whole by erasing and returning.
SMALL_TABLES = {"pt_invite", "pt_paper_tally", "pt_broadcast"}


def test_erasing_and_returning_read_only_small_tables_whole(
    service: ParticipationService,
) -> None:
    """On a review day the tokens, notices, likes, scores and enrollments are big tables, and
    erasing or returning runs in the ledger's write transaction: every statement they run on a
    person's table searches an index (SQLite's query plan names no SCAN of it), the small
    tables above aside (bench/bench_erasure.py has the figures)."""
    svc = service
    svc.grant_first_official(BOOT)
    submission_and_endorsements(svc)
    with statements(svc) as seen:
        svc.erase_personal_data(U)
        svc.register(U, region="suwon", consent_version="v1")
    assert svc.has_endorsed(U, f"{R}-1")  # the return ran the re-keying
    person_tables = {c.table.name for c in erasure.PERSON_COLUMNS}
    person_tables |= {table.name for table in erasure.DELETED} | {"pt_content", "pt_tombstone"}
    scans = []
    with engine(svc).connect() as conn:
        for statement in seen:
            if statement.split(" ", 1)[0] not in ("SELECT", "UPDATE", "DELETE"):
                continue
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, (None,) * statement.count("?")
            ).all()
            for *_, step in plan:
                words = step.split()
                if words[0] == "SCAN" and words[1] in person_tables - SMALL_TABLES:
                    scans.append((step, statement))
    assert [s for s in seen if "pt_like" in s]  # the statements were seen
    assert scans == []


def test_tombstones_are_negative_distinct_and_stable(any_db: ParticipationService) -> None:
    stones = {any_db.tombstone(uid) for uid in range(7_000_000_000, 7_000_002_000)}
    assert len(stones) == 2000 and all(-(2**62) <= s < 0 for s in stones)
    assert any_db.tombstone(U) == any_db.tombstone(U)


def test_a_person_with_no_votes_leaves_no_tombstone(any_db: ParticipationService) -> None:
    any_db.register(X, region="suwon", consent_version="v1")
    any_db.erase_personal_data(X)
    assert where_found(any_db, X) == []
    assert dump(any_db, {"pt_tombstone"}) == {"pt_tombstone": []}


def test_erase_leaves_no_telegram_id_and_changes_no_count(
    any_db: ParticipationService, tmp_path: Path
) -> None:
    svc = any_db
    submission_and_endorsements(svc)
    before = counts(svc)
    assert where_found(svc, U)
    assert svc.erase_personal_data(U) == 1
    assert where_found(svc, U) == []
    assert counts(svc) == before
    assert svc.proposal(f"{R}-4").endorsements == 1 and svc.proposal(f"{R}-4").title is None
    assert not svc.has_endorsed(U, f"{R}-1") and svc.enrollment(U, R) is None
    assert_db_equals_recount(svc)
    assert_ledger_verifies(svc, tmp_path / "x1")


def test_someone_elses_registration_reads_one_tombstone_key_and_changes_nothing(
    any_db: ParticipationService,
) -> None:
    svc = any_db
    submission_and_endorsements(svc)
    svc.erase_personal_data(U)
    kept = dump(svc, PERSON_TABLES)
    with statements(svc) as seen:
        svc.register(X, region="suwon", consent_version="v1")
    assert dump(svc, PERSON_TABLES) == kept
    tomb = [s for s in seen if "pt_tombstone" in s]
    assert len(tomb) == 1 and tomb[0].startswith("SELECT") and "WHERE" in tomb[0]
    touched = [s for s in seen if s.split(" ", 1)[0] in ("UPDATE", "DELETE")]
    assert not [s for s in touched for name in PERSON_TABLES if name in s]


def test_a_returning_person_gets_their_votes_back_and_cannot_double_them(
    any_db: ParticipationService, tmp_path: Path
) -> None:
    svc = any_db
    submission_and_endorsements(svc)
    svc.erase_personal_data(U)
    before = counts(svc)
    svc.register(U, region="suwon", consent_version="v1")
    assert dump(svc, {"pt_tombstone"}) == {"pt_tombstone": []}
    assert svc.has_endorsed(U, f"{R}-1") and svc.enrollment(U, R) is not None
    assert [c.proposal_id for c in svc.my_proposals(U)] == [f"{R}-4"]
    with pytest.raises(e.DuplicateEndorsement):
        svc.endorse(U, f"{R}-1")
    with pytest.raises(e.OwnProposal):  # still the author
        svc.endorse(U, f"{R}-4")
    assert counts(svc) == before
    assert_db_equals_recount(svc)
    svc.withdraw_endorsement(U, f"{R}-1")  # the toggle takes it back, once
    assert svc.proposal(f"{R}-1").endorsements == 1
    with pytest.raises(e.NotEndorsed):
        svc.withdraw_endorsement(U, f"{R}-1")
    assert_db_equals_recount(svc)
    assert_ledger_verifies(svc, tmp_path / "x")


def test_review_day_rows_erased_twice_and_results_equal_the_recount(
    any_db: ParticipationService, tmp_path: Path
) -> None:
    svc = any_db
    submission_and_endorsements(svc)
    svc.erase_personal_data(U)  # first erasure, then back, then review day
    svc.register(U, region="suwon", consent_version="v1")
    clock_set(svc, 2017, 2, 20, 9)
    svc.advance_round(OFF, R)  # -> review
    session = svc.open_onsite_session(OFF, R)
    svc.check_in(U, svc.onsite_code(session))
    svc.like(U, f"{R}-2")  # U votes online, W on site
    svc.redeem_code(W, svc.onsite_code(session))
    svc.onsite_score(W, f"{R}-1", 4)
    svc.join_as_judge(J, svc.invite_judge(OFF, R))
    criteria = svc.round(R).rules.criteria
    svc.score(J, f"{R}-1", dict.fromkeys(criteria, 4))
    svc.recuse(J, f"{R}-2")
    paper = svc.enter_paper_tally(CL, session, f"{R}-3", ballots=10, points=40,
                                  sheet_sha256=SHEET)  # fmt: skip
    svc.confirm_paper_tally(OFF, paper)
    svc.send_broadcast(OFF, "안내")
    before = counts(svc)
    people = (U, W, J, OFF, CL)
    for uid in people:
        svc.erase_personal_data(uid)
    assert where_found(svc, *people) == []
    assert counts(svc) == before
    assert svc.judges_to_remind(R) == []  # a tombstone is nobody to message
    assert_db_equals_recount(svc)
    assert_ledger_verifies(svc, tmp_path / "x1")

    svc.register(U, region="suwon", consent_version="v1")
    with pytest.raises(e.AlreadyLiked):
        svc.like(U, f"{R}-2")
    svc.register(W, region="suwon", consent_version="v1")
    with pytest.raises(e.CountedOnsite):  # still counted on site
        svc.like(W, f"{R}-3")
    svc.onsite_score(W, f"{R}-1", 5)  # still present; changing one's score stays allowed
    with pytest.raises(e.AlreadyJudge):  # the rows came back first, then the refusal undid it
        svc.join_as_judge(J, svc.invite_judge(BOOT, R))
    svc.register(J, region="suwon", consent_version="v1")
    [task] = [k for k in svc.judge_tasks(J, R) if k.card.proposal_id == f"{R}-1"]
    assert task.scores == dict.fromkeys(criteria, 4)
    svc.register(CL, region="suwon", consent_version="v1")  # an official back in their role
    again = svc.enter_paper_tally(CL, session, f"{R}-2", ballots=1, points=3, sheet_sha256=SHEET)
    with pytest.raises(e.SameOfficial):
        svc.confirm_paper_tally(CL, again)
    assert_db_equals_recount(svc)

    clock_set(svc, 2017, 2, 24, 9)
    svc.advance_round(BOOT, R)  # -> results
    published = svc.publish_results(BOOT, R)
    log: Any = svc._ledger  # type: ignore[attr-defined]
    log.export(tmp_path / "x2")
    lines = (tmp_path / "x2" / "entries.jsonl").read_bytes().splitlines()
    assert tally(lines, R, upto=len(lines) - 1).to_payload() == published == svc.results(R)
    verify_export(tmp_path / "x2")
