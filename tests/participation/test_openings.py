"""Openings of the titles shown with published results: published by the service for what is
public, checked by ``python -m participation tally EXPORT --openings FILE`` against the export.

Before, the titles shown with the results could not be checked at all: no salt was published,
so a server that swapped two proposals' titles on the results page could not be caught."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from i18n import Catalog
from ledger import Ledger
from participation.__main__ import main
from participation.app.base import commitment as stored_commitment
from participation.opening import OpeningsMalformed
from participation.opening import commitment
from participation.opening import parse_openings
from participation.service import ParticipationService
from participation.store import tables as t
from tests.participation.conftest import KST
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.conftest import simple_rules

CATALOG = Catalog.load()
R = "op2017"
OFFICIAL = 1
SHADE, EDITED, SPAM, ERASED, QUIET, GONE, LATE = 11, 12, 13, 14, 15, 16, 17
FANS = (21, 22)
PHOTO, PHOTO_UID = "AgACAgUAAxkBAAIBZ2ZfakeFileId", "AQADw7ExG"


def play(svc: ParticipationService, clock: Clock) -> dict[str, str]:
    """Play round R to published results; return the proposal ids by their part.

    shade: a photo; edited: its title changed after submission; spam: hidden before the
    review (excluded as hidden); erased: its author erased their data after the results;
    quiet: not endorsed (excluded as not shortlisted, still public in the bot); gone:
    withdrawn; late: hidden after the results."""
    svc.grant_first_official(OFFICIAL)
    svc.create_round(OFFICIAL, simple_rules(endorsement_threshold=1), round_id=R)
    svc.open_round(OFFICIAL, R)
    for uid in (SHADE, EDITED, SPAM, ERASED, QUIET, GONE, LATE, *FANS):
        svc.register(uid, region="suwon", consent_version="v1")
    ids = {}
    for uid, part in ((SHADE, "shade"), (EDITED, "edited"), (SPAM, "spam"), (ERASED, "erased"),
                      (QUIET, "quiet"), (GONE, "gone"), (LATE, "late")):  # fmt: skip
        photo = {"photo_file_id": PHOTO, "photo_unique_id": PHOTO_UID} if part == "shade" else {}
        card = svc.submit_proposal(
            uid, R, title=f"{part} 제안", body=f"{part}: 놀이터에 그늘막을", category="community",
            region="suwon", budget=1_000_000, **photo,
        )  # fmt: skip
        ids[part] = card.proposal_id
    svc.edit_proposal(EDITED, ids["edited"], title="edited 제안, 고친 제목")
    svc.withdraw_proposal(GONE, ids["gone"])
    clock.set(dt.datetime(2017, 2, 12, 9, tzinfo=KST))
    svc.advance_round(OFFICIAL, R)  # -> endorsement
    for part in ("shade", "edited", "spam", "erased", "late"):
        svc.endorse(FANS[0], ids[part])
    svc.hide_proposal(OFFICIAL, ids["spam"], "spam")
    clock.set(dt.datetime(2017, 2, 20, 9, tzinfo=KST))
    svc.advance_round(OFFICIAL, R)  # -> review
    clock.set(dt.datetime(2017, 2, 24, 9, tzinfo=KST))
    svc.advance_round(OFFICIAL, R)  # -> results
    svc.publish_results(OFFICIAL, R)
    svc.erase_personal_data(ERASED)
    svc.hide_proposal(OFFICIAL, ids["late"], "personal_info")
    return ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Round R published, then an erasure and a hiding; its export and its openings."""
    tmp = tmp_path_factory.mktemp("openings")
    clock = Clock(START)
    log = open_ledger(f"sqlite:///{tmp / 'ledger.db'}", clock)
    svc = ParticipationService(log, pepper=PEPPER, clock=clock)
    svc.create_tables()
    ids = play(svc, clock)
    log.export(tmp / "export")
    doc = svc.openings(R)
    assert doc is not None
    yield {"svc": svc, "ledger": log, "ids": ids, "export": tmp / "export", "doc": doc}
    log.close()


def leaves(log: Ledger) -> list[dict[str, Any]]:
    return [json.loads(leaf)["entry"] for leaf in log.entries(0, log.size())]


def content_entries(log: Ledger, proposal: str) -> list[int]:
    return [
        e["seq"] for e in leaves(log)
        if e["kind"] in ("proposal.submitted", "proposal.edited")
        and e["body"]["proposal"] == proposal
    ]  # fmt: skip


def check(tmp_path: Path, export: Path, doc: dict[str, Any], *extra: str) -> tuple[int, str]:
    path = tmp_path / "openings.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    status = main(["tally", str(export), "--openings", str(path), *extra], CATALOG)
    return status, path.name


def test_openings_of_a_real_export_verify_every_public_title(world, tmp_path, capsys):
    ids, doc, log = world["ids"], world["doc"], world["ledger"]
    opened = {o["proposal"]: o for o in doc["openings"]}
    assert sorted(opened) == sorted(ids[p] for p in ("shade", "edited", "quiet"))
    # each names the latest entry that set the content, which its salt and content recompute
    for proposal, o in opened.items():
        assert o["index"] == content_entries(log, proposal)[-1]
        entry = leaves(log)[o["index"]]
        assert entry["kind"] == o["kind"]
        assert commitment(bytes.fromhex(o["salt"]), o["content"]) == entry["body"]["content_c"]
    assert opened[ids["edited"]]["kind"] == "proposal.edited"
    assert opened[ids["edited"]]["content"]["title"] == "edited 제안, 고친 제목"
    # the photo by the names the commitment covers, never the picture
    assert opened[ids["shade"]]["content"] == {
        "title": "shade 제안", "body": "shade: 놀이터에 그늘막을", "photo": PHOTO,
        "photo_uid": PHOTO_UID,
    }  # fmt: skip
    published = [e["seq"] for e in leaves(log) if e["kind"] == "results.published"]
    assert doc["round"] == R and [doc["results_index"]] == published

    status, _ = check(tmp_path, world["export"], doc)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "발표된 결과와 같습니다" in out
    number = "#" + ids["edited"].rsplit("-", 1)[1]
    index = opened[ids["edited"]]["index"]
    assert f"{number} 확인됨: 「edited 제안, 고친 제목」 (장부 항목 {index})" in out
    assert "「quiet 제안」" in out  # not shortlisted: listed in the results, public in the bot
    assert "제목 3건이 장부와 일치합니다" in out


def test_hidden_and_erased_proposals_publish_nothing_and_the_ledger_bears_it_out(
    world, tmp_path, capsys
):
    ids, doc = world["ids"], world["doc"]
    text = json.dumps(doc, ensure_ascii=False)
    for part in ("spam", "erased", "late", "gone"):
        assert f"{part} 제안" not in text and f"{part}: " not in text
    named = {o["proposal"] for o in doc["openings"]}
    assert not named & {ids["spam"], ids["erased"], ids["late"], ids["gone"]}
    # hidden before the review and withdrawn: the results exclude them, the document is silent
    withheld = {w["proposal"]: w["reason"] for w in doc["withheld"]}
    assert withheld == {ids["erased"]: "erased", ids["late"]: "hidden"}
    status, _ = check(tmp_path, world["export"], doc)
    out = capsys.readouterr().out
    assert status == 0, out
    late = "#" + ids["late"].rsplit("-", 1)[1]
    assert re.search(rf"{late} 제목 비공개: 숨겨진 제안입니다 \(장부 항목 \d+\)", out), out
    assert "내용이 삭제되었습니다" in out


def swap_titles(doc: dict[str, Any], a: str, b: str) -> dict[str, Any]:
    """What a dishonest server shows: a's title for b and b's for a, salts left as they are."""
    copy = json.loads(json.dumps(doc))
    found = {o["proposal"]: o for o in copy["openings"]}
    found[a]["content"]["title"], found[b]["content"]["title"] = (
        found[b]["content"]["title"], found[a]["content"]["title"],
    )  # fmt: skip
    return copy


def test_a_swapped_title_fails_naming_its_ledger_index(world, tmp_path, capsys):
    ids, doc = world["ids"], world["doc"]
    index = {o["proposal"]: o["index"] for o in doc["openings"]}
    status, _ = check(tmp_path, world["export"], swap_titles(doc, ids["shade"], ids["quiet"]))
    out = capsys.readouterr().out
    assert status == 3, out
    for part in ("shade", "quiet"):
        assert f"검증 실패: 장부 항목 {index[ids[part]]}: " in out
    assert "확인됨: 「edited 제안, 고친 제목」" in out  # the others still verify
    assert "제목 확인 실패 2건" in out


def test_a_swapped_title_in_english(world, tmp_path, capsys):
    ids, doc = world["ids"], world["doc"]
    index = {o["proposal"]: o["index"] for o in doc["openings"]}
    swapped = swap_titles(doc, ids["shade"], ids["edited"])
    status, _ = check(tmp_path, world["export"], swapped, "--locale", "en")
    out = capsys.readouterr().out
    assert status == 3, out
    assert f"FAILED: ledger entry {index[ids['shade']]}: " in out
    assert re.findall(r"[\uac00-\ud7a3]", out.replace("제안", "")) == [], out  # titles aside


@pytest.mark.parametrize("lie", ["other entry", "older content", "unfounded hiding", "left out",
                                 "unlisted"])  # fmt: skip
def test_every_other_lie_of_the_document_fails(world, tmp_path, capsys, lie):
    ids, log, svc = world["ids"], world["ledger"], world["svc"]
    doc, failures = json.loads(json.dumps(world["doc"])), 1
    found = {o["proposal"]: o for o in doc["openings"]}
    if lie == "other entry":  # the title of another proposal, with its salt and its entry
        found[ids["shade"]].update(proposal=ids["quiet"])
        del found[ids["quiet"]]
        doc["openings"] = list(found.values())
        bad, failures = found[ids["shade"]]["index"], 2  # and the shade's title left out
    elif lie == "older content":  # the title before the edit: its own entry, not the latest
        first = content_entries(log, ids["edited"])[0]
        with svc._engine.connect() as conn:  # type: ignore[attr-defined]
            c = t.contents.c
            old = conn.execute(sa.select(c.data, c.salt).where(
                c.commitment == leaves(log)[first]["body"]["content_c"])).one()  # fmt: skip
        found[ids["edited"]].update(index=first, kind="proposal.submitted", salt=old.salt,
                                    content=old.data)  # fmt: skip
        bad = first
    elif lie == "unfounded hiding":  # a title the server would rather not show, said hidden
        doc["openings"].remove(found[ids["quiet"]])
        doc["withheld"].append({"proposal": ids["quiet"], "reason": "hidden",
                                "content_c": leaves(log)[found[ids["quiet"]]["index"]]["body"][
                                    "content_c"]})  # fmt: skip
        bad = found[ids["quiet"]]["index"]
    elif lie == "left out":
        doc["openings"].remove(found[ids["shade"]])
        bad = found[ids["shade"]]["index"]
    else:  # a withdrawn proposal's content published (whatever it says, it is not listed)
        gone = content_entries(log, ids["gone"])[-1]
        doc["openings"].append(
            {
                "proposal": ids["gone"],
                "index": gone,
                "kind": "proposal.submitted",
                "salt": "00" * 16,
                "content": {},
            }
        )
        bad = gone
    status, _ = check(tmp_path, world["export"], doc)
    out = capsys.readouterr().out
    assert status == 3, out
    assert f"검증 실패: 장부 항목 {bad}: " in out
    assert f"제목 확인 실패 {failures}건" in out


def test_a_round_without_published_results_has_no_openings(tmp_path):
    clock = Clock(START)
    log = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", clock)
    try:
        svc = ParticipationService(log, pepper=PEPPER, clock=clock)
        svc.create_tables()
        svc.grant_first_official(OFFICIAL)
        svc.create_round(OFFICIAL, simple_rules(), round_id=R)
        svc.open_round(OFFICIAL, R)
        svc.register(SHADE, region="suwon", consent_version="v1")
        svc.submit_proposal(SHADE, R, title="t", body="b", category="community",
                            region="suwon", budget=1_000_000)  # fmt: skip
        assert svc.openings(R) is None
    finally:
        log.close()


def test_openings_of_another_round_are_refused(world, tmp_path, capsys):
    doc = {**world["doc"], "round": "other2017"}
    status, name = check(tmp_path, world["export"], doc, "--round", R)
    assert status == 1
    assert "other2017" in capsys.readouterr().err


GOOD = b'{"v":1,"round":"r","results_index":1,"size":2,"openings":[],"withheld":[]}'


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not json", "JSON 형식이 아닙니다 (1번째 줄, 1번째 글자)"),
        (b"\xff\xfe\xff", "텍스트(UTF-8) 파일이 아닙니다"),
        (b"[]", "제목 검증 자료(스키마 1)가 아닙니다"),
        (b'{"v": 2}', "제목 검증 자료(스키마 1)가 아닙니다"),
        (GOOD.replace(b'"round":"r"', b'"round":7'), "'round' 값이 없거나 형식이 맞지 않습니다"),
        (GOOD.replace(b',"size":2', b""), "'size' 값이 없거나 형식이 맞지 않습니다"),
        (GOOD.replace(b'"openings":[]', b'"openings":[{"proposal":"p","index":1,"kind":"k",'
                      b'"salt":"zz","content":{}}]'), "솔트(salt)가 소문자 16진수가 아닙니다"),
        (GOOD.replace(b'"withheld":[]', b'"withheld":[{"proposal":"p","content_c":"c",'
                      b'"reason":"bored"}]'), "비공개 사유 'bored'는 erased, hidden 중"),
        (GOOD.replace(b'"withheld":[]', b'"withheld":["p"]'), "'reason' 값이 없거나"),
        (None, "파일이 없습니다"),
    ],
)  # fmt: skip
def test_a_malformed_document_is_refused_with_its_reason(raw, why, world, tmp_path, capsys):
    """Why, in the reader's language: Python's own words ('Expecting value: line 1 column
    1 (char 0)', "'round' must be a str", 'No such file or directory') came through."""
    path = tmp_path / "openings.json"
    if raw is not None:
        with pytest.raises(OpeningsMalformed):
            parse_openings(raw)
        path.write_bytes(raw)
    assert main(["tally", str(world["export"]), "--openings", str(path)], CATALOG) == 1
    err = capsys.readouterr().err
    assert f"제목 검증 자료를 읽을 수 없습니다 ({path}): {why}" in err, err
    assert not re.search(r"[A-Za-z]{4,} [a-z]{3,} [a-z]{3,}", err.replace(str(path), "")), err


@given(
    st.dictionaries(
        st.sampled_from(["title", "body", "photo", "photo_uid"]), st.one_of(st.none(), st.text())
    ),
    st.binary(min_size=16, max_size=16),
)
def test_the_published_formula_is_the_one_the_service_commits_with(content, salt):
    """The service stores content with participation.opening.commitment: it is the formula
    README states for outsiders, SHA-256(salt || JSON with sorted keys, no spaces, non-ASCII
    as itself)."""
    import hashlib

    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stored_commitment is commitment
    assert commitment(salt, content) == hashlib.sha256(salt + text.encode()).hexdigest()


def test_a_verified_title_is_printed_as_typed_but_cannot_rewrite_the_terminal():
    """Titles are residents' text: a particle marker in one stays as typed (the catalog's
    particles are attached before the title goes in), and an escape sequence or a bidi
    override shows as U+FFFD instead of clearing the screen or reordering the line."""
    from participation.__main__ import _finding_text
    from participation.opening import Finding

    def shown(title: str) -> str:
        found = Finding(proposal=f"{R}-3", code="verified", index=7, title=title)
        return _finding_text(found, CATALOG, "ko")

    assert shown("철수(이)가 낸 제안") == "#3 확인됨: 「철수(이)가 낸 제안」 (장부 항목 7)"
    assert shown("a\x1b[2Jb\u202ec") == "#3 확인됨: 「a\ufffd[2Jb\ufffdc」 (장부 항목 7)"


def test_a_withholding_after_the_downloaded_ledger_is_reported_as_not_yet_checkable(
    world, tmp_path, capsys
):
    """The openings are read live, a download ends at the last sealed block: a proposal
    hidden since is withheld by the document before the hiding is in the download. That
    said 'FAILED: said hidden, not hidden in the export' until the next block; now the check
    says the hiding comes after the download (no failure, a note to download again, exit 4:
    the document's size is the server's word, so this is not a pass), while a withholding the
    download should hold and does not still fails."""
    ids, log, doc = world["ids"], world["ledger"], world["doc"]
    hidden_at = next(e["seq"] for e in leaves(log) if e["kind"] == "proposal.hidden"
                     and e["body"]["proposal"] == ids["late"])  # fmt: skip
    early = tmp_path / "early"
    early.mkdir()
    for part in world["export"].iterdir():
        if part.is_file():
            (early / part.name).write_bytes(part.read_bytes())
    lines = (world["export"] / "entries.jsonl").read_bytes().splitlines(keepends=True)
    (early / "entries.jsonl").write_bytes(b"".join(lines[:hidden_at]))  # sealed before it
    assert doc["size"] == log.size() > hidden_at
    status, _ = check(tmp_path, early, doc)
    out = capsys.readouterr().out
    assert status == 4, out  # no failure, but not all borne out yet: only the server's word
    late = "#" + ids["late"].rsplit("-", 1)[1]
    said = CATALOG.text("ko", "report.openings.withheld_later_hidden", number=late,
                        have=hidden_at)  # fmt: skip
    note = CATALOG.text("ko", "report.openings.later_note", later=1, size=doc["size"],
                        have=hidden_at)  # fmt: skip
    assert said in out and note in out
    assert "검증 실패" not in out
    stale = dict(doc, size=hidden_at)  # a document of that time cannot withhold it as hidden
    status, _ = check(tmp_path, early, stale)
    assert status == 3 and "검증 실패" in capsys.readouterr().out
