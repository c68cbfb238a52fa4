"""Notices that name a proposal (in_review, hidden_*, restored, answered, selected) carry its
title as it may be read when they go out, not as it was when they were queued: a proposal
hidden or erased while its notices wait in the outbox is withheld from them, as from the
results (``report.shown_titles``), and the outbox keeps no copy of the title."""

from __future__ import annotations

import sqlalchemy as sa

from participation.service import ParticipationService
from participation.store import tables as t
from tests.participation.test_service_support import ADMIN
from tests.participation.test_service_support import start

AUTHOR, FAN = 10, 11
ANSWERED = "participation.notice.answered"


def answered(service: ParticipationService) -> str:
    """A proposal of AUTHOR endorsed by FAN and answered: both have a notice waiting."""
    pid = start(service)
    service.register(FAN, region="suwon", consent_version="v1")
    service.endorse(FAN, pid)
    service.answer_proposal(ADMIN, pid, "검토하겠습니다.")
    return pid


def stored_params(service: ParticipationService) -> list[dict[str, object]]:
    with service._engine.connect() as conn:  # type: ignore[attr-defined]
        return [dict(p) for p in conn.execute(sa.select(t.outbox.c.params)).scalars()]


def test_a_queued_notice_shows_the_title_while_the_proposal_is_shown(service):
    pid = answered(service)
    got = {m.user_id: m for m in service.claim_outbox(10)}
    assert got[FAN].params == {"proposal": pid, "title": "놀이터"}
    assert got[FAN].withheld is None
    assert service.notice_title(pid, FAN).title == "놀이터"


def test_a_proposal_hidden_after_its_notice_was_queued_is_withheld_from_others(service):
    pid = answered(service)
    service.hide_proposal(ADMIN, pid, "personal_info")
    got = {(m.user_id, m.key): m for m in service.claim_outbox(10)}
    fan = got[(FAN, ANSWERED)]
    assert fan.withheld == "hidden:personal_info" and fan.params["title"] == ""
    assert "놀이터" not in repr(fan)
    # the author wrote it: their own notices still say which proposal (they can see it)
    assert got[(AUTHOR, ANSWERED)].params["title"] == "놀이터"
    assert got[(AUTHOR, ANSWERED)].withheld is None
    assert got[(AUTHOR, "participation.notice.hidden_personal_info")].params["title"] == "놀이터"


def test_the_sender_reads_again_what_was_hidden_after_the_claim(service):
    pid = answered(service)
    service.claim_outbox(10)  # claimed, then hidden while the sender waits (e.g. a 429)
    service.hide_proposal(ADMIN, pid, "abuse")
    seen = service.notice_title(pid, FAN)
    assert (seen.title, seen.withheld) == ("", "hidden:abuse")
    assert service.notice_title(pid, AUTHOR).title == "놀이터"
    service.restore_proposal(ADMIN, pid)  # shown again: named again
    assert service.notice_title(pid, FAN) == service.notice_title(pid, AUTHOR)
    assert service.notice_title(pid, FAN).title == "놀이터"


def test_an_erased_proposal_is_withheld_from_the_endorsers_notices(service):
    pid = answered(service)
    service.erase_personal_data(AUTHOR)
    [fan] = service.claim_outbox(10)  # the author's own notices went with their data
    assert fan.user_id == FAN and fan.withheld == "erased" and fan.params["title"] == ""
    assert service.notice_title(pid, FAN).withheld == "erased"


def test_the_outbox_keeps_no_copy_of_the_title(service):
    answered(service)
    params = stored_params(service)
    assert params and all("title" not in p for p in params)
    service.erase_personal_data(AUTHOR)
    assert all("놀이터" not in repr(p) for p in stored_params(service))
