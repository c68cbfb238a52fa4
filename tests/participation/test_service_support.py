"""Concurrency, erasure, idempotency, enrollment (2017 options) and the bot's support state."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ledger import Ledger
from ledger.verify import verify_export
from participation.app.base import commitment
from participation.domain import errors as e
from participation.domain.round import ttabok_2017
from participation.service import ParticipationService
from participation.store import tables as t
from tests.participation.conftest import KST
from tests.participation.conftest import Clock
from tests.participation.conftest import deadlines
from tests.participation.conftest import simple_rules

R = "rs"
ADMIN = 1


def start(svc: ParticipationService, **rules: object) -> str:
    svc.grant_first_official(ADMIN)
    svc.create_round(ADMIN, simple_rules(**rules), round_id=R)
    svc.open_round(ADMIN, R)
    svc.register(10, region="suwon", consent_version="v1")
    card = svc.submit_proposal(
        10, R, title="놀이터", body="b", category="community", region="suwon", budget=500_000
    )
    return card.proposal_id


def test_concurrent_endorsements_count_exactly_and_leave_no_gap(
    service: ParticipationService, ledger: Ledger
) -> None:
    pid = start(service)
    users = list(range(100, 160))
    for uid in users:
        service.register(uid, region="suwon", consent_version="v1")
    before = ledger.size()

    def endorse(uid: int) -> str:
        try:
            service.endorse(uid, pid)
            service.endorse(uid, pid)  # the second is always a duplicate
        except e.DuplicateEndorsement:
            return "dup"
        return "twice"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(endorse, users))
    assert outcomes == ["dup"] * len(users)
    assert service.proposal(pid).endorsements == len(users)
    assert ledger.size() == before + len(users)
    seqs = [json.loads(x)["entry"]["seq"] for x in ledger.entries(0, ledger.size())]
    assert seqs == list(range(ledger.size()))


def test_retried_request_is_applied_once(service: ParticipationService, ledger: Ledger) -> None:
    pid = start(service)
    service.register(11, region="suwon", consent_version="v1")
    first = service.endorse(11, pid, request_id="update-77")
    size = ledger.size()
    again = service.endorse(11, pid, request_id="update-77")
    assert again == first
    assert ledger.size() == size
    assert service.proposal(pid).endorsements == 1


def test_has_endorsed_follows_endorse_and_withdraw(service: ParticipationService) -> None:
    pid = start(service)
    service.register(12, region="suwon", consent_version="v1")
    assert not service.has_endorsed(12, pid) and not service.has_endorsed(12, "no-such")
    service.endorse(12, pid)
    assert service.has_endorsed(12, pid) and not service.has_endorsed(10, pid)
    service.withdraw_endorsement(12, pid)
    assert not service.has_endorsed(12, pid)


def test_an_edit_keeps_replaces_or_removes_the_photo(
    service: ParticipationService, ledger: Ledger
) -> None:
    pid = start(service)
    card = service.edit_proposal(10, pid, photo_file_id="photo-1")
    assert card.photo_file_id == "photo-1"
    card = service.edit_proposal(10, pid, title="놀이터 그늘막")  # None: the photo stays
    assert (card.title, card.photo_file_id) == ("놀이터 그늘막", "photo-1")
    size = ledger.size()
    card = service.edit_proposal(10, pid, remove_photo=True, request_id="tg:5")
    assert (card.title, card.photo_file_id) == ("놀이터 그늘막", None)
    last = json.loads(ledger.entries(size, size + 1)[0])["entry"]
    assert last["kind"] == "proposal.edited" and last["body"]["has_photo"] is False
    service.edit_proposal(10, pid, remove_photo=True, request_id="tg:5")  # a retry: no entry
    assert ledger.size() == size + 1
    with pytest.raises(ValueError):
        service.edit_proposal(10, pid, photo_file_id="photo-2", remove_photo=True)
    assert service.proposal(pid).photo_file_id is None


def content_rows(svc: ParticipationService) -> int:
    engine: sa.Engine = svc._engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.contents)).scalar_one())


def ledger_size(svc: ParticipationService) -> int:
    return svc._ledger.size()  # type: ignore[attr-defined]


def with_photo(svc: ParticipationService) -> str:
    """A proposal of resident 10 in round R with a photo (``any_db``: official 1 exists)."""
    svc.create_round(ADMIN, simple_rules(), round_id=R)
    svc.open_round(ADMIN, R)
    svc.register(10, region="suwon", consent_version="v1")
    card = svc.submit_proposal(
        10, R, title="놀이터", body="b", category="community", region="suwon", budget=500_000,
        photo_file_id="photo-1",
    )  # fmt: skip
    return card.proposal_id


SAME = {"title": "놀이터", "body": "b", "category": "community", "region": "suwon",
        "budget": 500_000}  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [{}, SAME, {**SAME, "photo_file_id": "photo-1"}, {"budget": 500_000, "title": "놀이터"}],
    ids=["nothing given", "every field as stored", "the same photo again", "some as stored"],
)
def test_an_edit_that_changes_nothing_writes_nothing(
    any_db: ParticipationService, change: dict[str, Any]
) -> None:
    pid = with_photo(any_db)
    size, rows, receipts = ledger_size(any_db), content_rows(any_db), any_db.my_receipts(10)
    with pytest.raises(e.NothingChanged) as refused:
        any_db.edit_proposal(10, pid, request_id="tg:1", **change)
    assert refused.value.key == "participation.error.nothing_changed"
    assert (ledger_size(any_db), content_rows(any_db)) == (size, rows)
    assert any_db.my_receipts(10) == receipts
    card = any_db.proposal(pid)
    assert (card.title, card.budget, card.photo_file_id) == ("놀이터", 500_000, "photo-1")


def test_a_real_edit_is_written_once_and_its_retry_still_returns_it(
    any_db: ParticipationService,
) -> None:
    pid = with_photo(any_db)
    size, rows = ledger_size(any_db), content_rows(any_db)
    card = any_db.edit_proposal(10, pid, **{**SAME, "budget": 600_000}, request_id="tg:2")
    assert card.budget == 600_000
    assert (ledger_size(any_db), content_rows(any_db)) == (size + 1, rows + 1)
    assert any_db.my_receipts(10, limit=1)[0].kind == "proposal.edited"
    # the retry asks for what is now stored: it gets the first result, not NothingChanged
    again = any_db.edit_proposal(10, pid, **{**SAME, "budget": 600_000}, request_id="tg:2")
    assert again.budget == 600_000
    assert (ledger_size(any_db), content_rows(any_db)) == (size + 1, rows + 1)
    with pytest.raises(e.NothingChanged):  # a new request with the same values
        any_db.edit_proposal(10, pid, **{**SAME, "budget": 600_000}, request_id="tg:3")
    assert ledger_size(any_db) == size + 1


@pytest.mark.parametrize(
    "change",
    [{"remove_photo": True}, {"photo_file_id": "photo-2"}, {"body": "b "}, {"region": "yongin"}],
    ids=["photo removed", "another photo", "body", "region"],
)
def test_the_same_values_but_one_is_a_real_edit(
    any_db: ParticipationService, change: dict[str, Any]
) -> None:
    pid = with_photo(any_db)
    size, rows = ledger_size(any_db), content_rows(any_db)
    any_db.edit_proposal(10, pid, **{**SAME, **change})
    assert (ledger_size(any_db), content_rows(any_db)) == (size + 1, rows + 1)
    assert any_db.my_receipts(10, limit=1)[0].kind == "proposal.edited"
    if change == {"remove_photo": True}:
        assert any_db.proposal(pid).photo_file_id is None


def test_a_refusal_comes_before_nothing_changed(any_db: ParticipationService) -> None:
    pid = with_photo(any_db)
    with pytest.raises(e.NotAuthor):
        any_db.edit_proposal(11, pid, **SAME)
    any_db.withdraw_proposal(10, pid)
    with pytest.raises(e.ProposalInactive):
        any_db.edit_proposal(10, pid, **SAME)


UID = "AQADsamepicture1"  # Telegram's file_unique_id of the proposal's photo


def with_unique_photo(svc: ParticipationService) -> str:
    """A proposal like :func:`with_photo` whose photo came with its ``file_unique_id``."""
    svc.create_round(ADMIN, simple_rules(), round_id=R)
    svc.open_round(ADMIN, R)
    svc.register(10, region="suwon", consent_version="v1")
    card = svc.submit_proposal(
        10, R, title="놀이터", body="b", category="community", region="suwon", budget=500_000,
        photo_file_id="photo-1", photo_unique_id=UID,
    )  # fmt: skip
    assert (card.photo_file_id, card.photo_unique_id) == ("photo-1", UID)
    return card.proposal_id


def last_entry(svc: ParticipationService) -> dict[str, Any]:
    size = ledger_size(svc)
    leaf = svc._ledger.entries(size - 1, size)[0]  # type: ignore[attr-defined]
    entry: dict[str, Any] = json.loads(leaf)["entry"]
    return entry


def content_of(svc: ParticipationService, proposal_id: str) -> Any:
    """Return the proposal's content row (data, salt, commitment)."""
    engine: sa.Engine = svc._engine  # type: ignore[attr-defined]
    ref = t.proposals.c.content_ref
    with engine.connect() as conn:
        return conn.execute(
            sa.select(t.contents)
            .join(t.proposals, ref == t.contents.c.ref)
            .where(t.proposals.c.proposal_id == proposal_id)
        ).one()


@pytest.mark.parametrize("change", [{}, SAME], ids=["only the photo", "every field as stored"])
def test_the_same_picture_sent_again_changes_nothing(
    any_db: ParticipationService, change: dict[str, Any]
) -> None:
    pid = with_unique_photo(any_db)
    size, rows, receipts = ledger_size(any_db), content_rows(any_db), any_db.my_receipts(10)
    with pytest.raises(e.NothingChanged):  # a new message: a new file id, the same file
        any_db.edit_proposal(
            10, pid, **change, photo_file_id="photo-1-again", photo_unique_id=UID,
            request_id="tg:1",
        )  # fmt: skip
    assert (ledger_size(any_db), content_rows(any_db)) == (size, rows)
    assert any_db.my_receipts(10) == receipts
    card = any_db.proposal(pid)
    assert (card.photo_file_id, card.photo_unique_id) == ("photo-1", UID)


def test_another_picture_is_an_edit_and_its_unique_id_stays_out_of_the_ledger(
    any_db: ParticipationService,
) -> None:
    pid = with_unique_photo(any_db)
    size, rows = ledger_size(any_db), content_rows(any_db)
    card = any_db.edit_proposal(
        10, pid, **SAME, photo_file_id="photo-2", photo_unique_id="AQADotherpicture"
    )
    assert (card.photo_file_id, card.photo_unique_id) == ("photo-2", "AQADotherpicture")
    assert (ledger_size(any_db), content_rows(any_db)) == (size + 1, rows + 1)
    entry = last_entry(any_db)
    assert entry["kind"] == "proposal.edited" and entry["body"]["has_photo"] is True
    assert "AQAD" not in json.dumps(entry) and "photo-2" not in json.dumps(entry)
    row = content_of(any_db, pid)  # the entry commits to the content, unique id included
    assert row.data == {"title": "놀이터", "body": "b", "photo": "photo-2",
                        "photo_uid": "AQADotherpicture"}  # fmt: skip
    assert commitment(bytes.fromhex(row.salt), row.data) == entry["body"]["content_c"]
    assert row.commitment == entry["body"]["content_c"]
    with pytest.raises(e.NothingChanged):  # and now that picture again
        any_db.edit_proposal(10, pid, photo_file_id="photo-2b", photo_unique_id="AQADotherpicture")


def test_a_proposal_stored_without_a_unique_id_compares_file_ids(
    any_db: ParticipationService,
) -> None:
    pid = with_photo(any_db)
    engine: sa.Engine = any_db._engine  # type: ignore[attr-defined]
    ref = content_of(any_db, pid).ref
    with engine.begin() as conn:  # the content as stored before unique ids were kept
        conn.execute(
            sa.update(t.contents)
            .where(t.contents.c.ref == ref)
            .values(data={"title": "놀이터", "body": "b", "photo": "photo-1"})
        )
    assert any_db.proposal(pid).photo_unique_id is None
    size = ledger_size(any_db)
    with pytest.raises(e.NothingChanged):  # the stored file id itself: unchanged
        any_db.edit_proposal(10, pid, **SAME, photo_file_id="photo-1", photo_unique_id=UID)
    card = any_db.edit_proposal(10, pid, title="놀이터 그늘막")  # the photo stays as it was
    assert (card.title, card.photo_file_id, card.photo_unique_id) == (
        "놀이터 그늘막",
        "photo-1",
        None,
    )
    card = any_db.edit_proposal(10, pid, photo_file_id="photo-1b", photo_unique_id=UID)
    assert (card.photo_file_id, card.photo_unique_id) == ("photo-1b", UID)  # a new file id
    assert ledger_size(any_db) == size + 2
    with pytest.raises(e.NothingChanged):  # from now on the unique id decides
        any_db.edit_proposal(10, pid, photo_file_id="photo-1c", photo_unique_id=UID)
    card = any_db.edit_proposal(10, pid, remove_photo=True)
    assert (card.photo_file_id, card.photo_unique_id) == (None, None)
    with pytest.raises(ValueError):
        any_db.edit_proposal(10, pid, photo_unique_id=UID)


def test_the_change_screen_gets_the_authors_card(service: ParticipationService) -> None:
    pid = start(service)
    card = service.proposal_to_change(10, pid)
    assert (card.proposal_id, card.is_author, card.title) == (pid, True, "놀이터")


def test_erasure_removes_content_and_keeps_the_ledger_verifiable(
    service: ParticipationService, ledger: Ledger, tmp_path: Path
) -> None:
    pid = start(service)
    service.edit_proposal(10, pid, body="new body")
    assert service.erase_personal_data(10) == 2
    card = service.proposal(pid)
    assert card.title is None and card.body is None
    assert service.resident(10) is None
    ledger.export(tmp_path / "x")
    report = verify_export(tmp_path / "x")
    assert report.size == ledger.size()
    last = json.loads(ledger.entries(ledger.size() - 1, ledger.size())[0])["entry"]
    assert last["kind"] == "content.erased" and len(last["body"]["commitments"]) == 2


def test_hiding_notifies_the_author_through_the_outbox(service: ParticipationService) -> None:
    pid = start(service)
    service.update_settings(10, locale="en")
    service.hide_proposal(ADMIN, pid, "spam")
    [msg] = service.claim_outbox(10)
    assert (msg.user_id, msg.locale, msg.key) == (10, "en", "participation.notice.hidden_spam")
    assert msg.params["title"] == "놀이터"
    assert service.claim_outbox(10) == []  # claimed rows are not handed out twice
    service.finish_outbox(msg.id, "blocked")
    resident = service.resident(10)
    assert resident is not None and not resident.subscribed


def test_review_transition_notifies_author_and_endorsers(
    service: ParticipationService, clock: Clock
) -> None:
    pid = start(service, endorsement_threshold=1)
    service.register(11, region="suwon", consent_version="v1")
    service.update_settings(11, notifications=False)
    service.register(12, region="suwon", consent_version="v1")
    service.endorse(11, pid)
    service.endorse(12, pid)
    service.advance_round(ADMIN, R)
    service.advance_round(ADMIN, R)
    got = service.claim_outbox(10)
    assert sorted(m.user_id for m in got) == [10, 12]
    assert {m.key for m in got} == {"participation.notice.in_review"}
    assert service.proposal(pid).status == "review"
    # the review is over and the results are not out: the card said '심사 중' until published
    service.advance_round(ADMIN, R)
    assert service.proposal(pid).status == "counting"


def test_conversation_state_is_optimistic(service: ParticipationService) -> None:
    assert service.get_conversation(5).version == 0
    saved = service.save_conversation(5, "title", {"draft": "x"}, expected_version=0)
    assert saved.version == 1
    with pytest.raises(e.ConversationConflict):
        service.save_conversation(5, "body", {}, expected_version=0)
    service.save_conversation(5, "body", {"draft": "y"}, expected_version=1)
    with pytest.raises(e.ConversationConflict):
        service.save_conversation(5, "body", {}, expected_version=1)
    assert service.get_conversation(5).data == {"draft": "y"}
    service.clear_conversation(5)
    assert service.get_conversation(5).step == ""


def test_buttons_are_opaque_personal_and_expire(
    service: ParticipationService, clock: Clock
) -> None:
    token = service.issue_button(5, "endorse", {"proposal": "r-1"}, ttl_s=60)
    assert len(token) <= 16
    assert service.redeem_button(5, token, consume=False).args == {"proposal": "r-1"}
    with pytest.raises(e.ButtonForeign):
        service.redeem_button(6, token, consume=True)
    with pytest.raises(e.ButtonUnknown):
        service.redeem_button(5, "nope", consume=True)
    service.redeem_button(5, token, consume=True)
    with pytest.raises(e.ButtonExpired):
        service.redeem_button(5, token, consume=True)
    late = service.issue_button(5, "x", {}, ttl_s=60)
    clock.advance(seconds=61)
    with pytest.raises(e.ButtonExpired):
        service.redeem_button(5, late, consume=False)


def test_buttons_issued_together_keep_their_order_and_expire_alike(
    service: ParticipationService, clock: Clock
) -> None:
    assert service.issue_buttons(5, [], ttl_s=60) == []
    wanted = [("endorse", {"proposal": f"r-{n}"}) for n in range(4)] + [("x", {})]
    tokens = service.issue_buttons(5, wanted, ttl_s=60)
    assert len(set(tokens)) == 5 and all(len(token) <= 16 for token in tokens)
    for token, (action, args) in zip(tokens, wanted, strict=True):
        button = service.redeem_button(5, token, consume=False)
        assert (button.action, button.args) == (action, args)
    with pytest.raises(e.ButtonForeign):
        service.redeem_button(6, tokens[0], consume=True)
    clock.advance(seconds=61)
    with pytest.raises(e.ButtonExpired):
        service.redeem_button(5, tokens[-1], consume=False)


def test_2017_enrollment_peer_scoring_and_quotas(
    service: ParticipationService, clock: Clock
) -> None:
    service.grant_first_official(ADMIN)
    rules = ttabok_2017(title="ttabok", deadlines=deadlines()).with_changes(
        regions=("suwon", "osan"), review_group_size=3
    )
    service.create_round(ADMIN, rules, round_id=R)
    service.open_round(ADMIN, R)
    reps, voters = {}, {}
    for n, community in enumerate(("ca", "cb", "cc")):
        service.add_community(ADMIN, R, community=community, region="suwon", name=f"c{n}")
        [rep_code] = service.issue_enrollment_codes(ADMIN, R, community, role="representative")
        codes = service.issue_enrollment_codes(ADMIN, R, community)
        assert len(codes) == 9
        with pytest.raises(e.InvalidInput):
            service.issue_enrollment_codes(ADMIN, R, community, count=1)  # quota of 9 reached
        rep = 200 + n
        service.register(rep, region="suwon", consent_version="v1")
        assert service.redeem_code(rep, rep_code).detail == {
            "community": community,
            "role": "representative",
        }
        with pytest.raises(e.CodeUsed):
            service.redeem_code(rep + 50, rep_code)
        reps[community] = rep
        voters[community] = (300 + n, codes[0])
        service.submit_proposal(
            rep, R, title=community, body="b", category="community", region="suwon", budget=1000
        )
        with pytest.raises(e.ProposalLimitReached):
            service.submit_proposal(
                rep, R, title="2nd", body="b", category="community", region="suwon", budget=1
            )
    service.register(999, region="suwon", consent_version="v1")
    with pytest.raises(e.NotEligible):
        service.submit_proposal(
            999, R, title="x", body="b", category="community", region="suwon", budget=1
        )
    clock.set(dt.datetime(2017, 2, 20, 9, tzinfo=KST))
    service.advance_round(ADMIN, R)
    service.advance_round(ADMIN, R)
    [group] = service.form_review_groups(ADMIN, R)
    session = service.open_onsite_session(ADMIN, R)
    code = service.onsite_code(session)
    own = {c: f"{R}-{i + 1}" for i, c in enumerate(("ca", "cb", "cc"))}
    service.redeem_code(reps["ca"], code)
    service.onsite_score(reps["ca"], own["cb"], 5)
    with pytest.raises(e.OwnProposal):
        service.onsite_score(reps["ca"], own["ca"], 5)
    voter, vcode = voters["cb"]
    service.register(voter, region="suwon", consent_version="v1")
    service.redeem_code(voter, vcode)
    service.redeem_code(voter, code)
    with pytest.raises(e.NotRepresentative):
        service.onsite_score(voter, own["ca"], 3)
    service.choose_group(voter, R, 1)
    with pytest.raises(e.GroupAlreadyChosen):
        service.choose_group(voter, R, 1)
    service.like(voter, own["ca"])
    with pytest.raises(e.OwnProposal):
        service.like(voter, own["cb"])
    assert len(group) == 3


def test_open_update_reads_person_and_button_and_uses_up_a_consumed_one(
    service: ParticipationService, clock: Clock
) -> None:
    opened = service.open_update(5)
    assert opened.resident is None and opened.conversation.version == 0 and opened.button is None
    service.save_conversation(5, "browse", {"page": 1}, 0)
    keep, once = service.issue_buttons(5, [("look", {"n": 1}), ("use", {"n": 2})], ttl_s=60)
    opened = service.open_update(5, token=keep, consume={"use"}, request_id="tg:1")
    assert opened.conversation.step == "browse" and opened.button is not None
    assert (opened.button.action, opened.button.args) == ("look", {"n": 1})
    assert service.open_update(5, token=keep, consume={"use"}).button is not None  # not used
    first = service.open_update(5, token=once, consume={"use"}, request_id="tg:2")
    assert first.button is not None and first.button.args == {"n": 2}
    again = service.open_update(5, token=once, consume={"use"}, request_id="tg:2")
    assert again.button is not None  # the same update redelivered still applies
    other = service.open_update(5, token=once, consume={"use"}, request_id="tg:3")
    assert isinstance(other.refusal, e.ButtonExpired) and other.button is None
    assert isinstance(service.open_update(6, token=keep).refusal, e.ButtonForeign)
    assert isinstance(service.open_update(5, token="nope").refusal, e.ButtonUnknown)
    clock.advance(seconds=61)
    assert isinstance(service.open_update(5, token=keep).refusal, e.ButtonExpired)
