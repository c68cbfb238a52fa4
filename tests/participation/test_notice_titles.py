"""Notices that name a proposal (in_review, hidden_*, restored, answered, selected) carry its
title as it may be read when they go out, not as it was when they were queued: a proposal
hidden or erased while its notices wait in the outbox is withheld from them, as from the
results (``report.shown_titles``), and the outbox keeps no copy of the title. A withheld
notice is written as its own text (``report.withheld_notice``): the proposal by its number, as
the results and the cards show it, and why its title is not shown."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from i18n.catalog import Catalog
from participation.report import withheld_notice
from participation.service import ParticipationService
from participation.store import tables as t
from participation.views import NoticeTitle
from participation.views import withheld_as
from tests.participation.test_service_support import ADMIN
from tests.participation.test_service_support import start

AUTHOR, FAN = 10, 11
ANSWERED = "participation.notice.answered"
CATALOG = Catalog.load()


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


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("ko", "#1 제안에 담당 공무원의 답변이 달렸어요. 이 제안은 운영 원칙에 따라 비공개 "
               "처리돼서 제목은 알려 드릴 수 없어요. 사유: 개인정보 노출."),
        ("en", "An official answered proposal #1. It was hidden by moderation, so its title is "
               "not shown. Reason: Personal information."),
    ],
)  # fmt: skip
def test_a_hidden_proposals_notice_names_it_by_its_number_and_the_reason(service, locale, expected):
    pid = answered(service)
    assert service.proposal(pid).number == 1  # "#1" on its card and in the results
    service.hide_proposal(ADMIN, pid, "personal_info")
    fan = {(m.user_id, m.key): m for m in service.claim_outbox(10)}[(FAN, ANSWERED)]
    assert fan.withheld is not None
    text = withheld_notice(CATALOG, locale, fan.key, str(fan.params["proposal"]), fan.withheld)
    assert text == expected


def test_an_erased_proposals_notice_says_its_author_had_it_deleted(service):
    pid = answered(service)
    service.erase_personal_data(AUTHOR)
    [fan] = service.claim_outbox(10)
    assert fan.withheld == "erased"
    assert withheld_notice(CATALOG, "ko", fan.key, pid, fan.withheld) == (
        "#1 제안에 담당 공무원의 답변이 달렸어요. 작성자의 요청으로 이 제안의 내용이 삭제돼서 "
        "제목은 알려 드릴 수 없어요."
    )
    assert withheld_notice(CATALOG, "en", fan.key, pid, fan.withheld) == (
        "An official answered proposal #1. Its content was deleted at its author's request, "
        "so its title is not shown."
    )


def test_a_notice_without_a_text_of_its_own_for_a_withheld_title_falls_back_to_a_general_one():
    text = withheld_notice(CATALOG, "ko", "participation.notice.restored", "rw-7", "erased")
    assert text == CATALOG.text("ko", "participation.notice.title_erased_no_round", number="7")
    assert "#7" in text and "participation." not in text


# --- hidden and erased: one rule with the results ----------------------------------------------


def test_a_hidden_proposal_whose_content_is_then_erased_stays_hidden_in_notices(service):
    """As ``report.shown_titles`` shows it in the results, the openings and the channel:
    hidden (with its reason) wins over erased for everyone but the author."""
    pid = answered(service)
    service.hide_proposal(ADMIN, pid, "personal_info")
    service.erase_personal_data(AUTHOR)
    seen = service.notice_title(pid, FAN)
    assert (seen.title, seen.withheld) == ("", "hidden:personal_info")
    [fan] = [m for m in service.claim_outbox(10) if m.user_id == FAN]
    assert fan.withheld == "hidden:personal_info" and fan.params["title"] == ""
    assert service.notice_titles([(pid, FAN)])[(pid, FAN)] == seen
    assert service.withheld_proposals() == {pid: "hidden:personal_info"}


def test_an_erased_proposal_hidden_afterwards_is_hidden_too(service):
    pid = answered(service)
    service.erase_personal_data(AUTHOR)
    service.hide_proposal(ADMIN, pid, "spam")
    assert service.notice_title(pid, FAN).withheld == "hidden:spam"


def test_the_author_of_a_hidden_and_erased_proposal_is_told_it_was_erased(service):
    """The author may read their hidden title; once its content is gone there is none: the
    author (registered again, given their rows back) reads "erased", never the reason."""
    pid = answered(service)
    service.hide_proposal(ADMIN, pid, "abuse")
    service.erase_personal_data(AUTHOR)
    service.register(AUTHOR, region="suwon", consent_version="v1")
    seen = service.notice_title(pid, AUTHOR)
    assert seen == NoticeTitle(title="", withheld="erased", round="test round")
    assert service.notice_title(pid, FAN).withheld == "hidden:abuse"


def test_notices_and_results_share_one_rule():
    """``report.shown_titles`` and the notices both ask ``views.withheld_as``."""
    cases = [
        (False, None, False), (True, "spam", False), (False, None, True), (True, "abuse", True)
    ]  # fmt: skip
    expected = [None, "hidden:spam", "erased", "hidden:abuse"]
    assert [withheld_as(hidden=h, hide_reason=r, erased=e) for h, r, e in cases] == expected
    # the author reads their own hidden title, or "erased" when its content is gone
    assert withheld_as(hidden=True, hide_reason="spam", erased=False, author=True) is None
    assert withheld_as(hidden=True, hide_reason="spam", erased=True, author=True) == "erased"


# --- the withheld notice names the round --------------------------------------------------------


def test_notice_title_carries_the_rounds_name_read_in_the_same_query(service):
    pid = answered(service)
    service.hide_proposal(ADMIN, pid, "spam")
    seen = service.notice_title(pid, FAN)
    assert seen.round == service.round(pid.rpartition("-")[0]).title == "test round"
    assert service.notice_titles([(pid, FAN)])[(pid, FAN)].round == "test round"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("ko", "「test round」 #1 제안에 담당 공무원의 답변이 달렸어요. 이 제안은 운영 원칙에 따라 "
               "비공개 처리돼서 제목은 알려 드릴 수 없어요. 사유: 광고·도배."),
        ("en", "An official answered proposal #1 of the round “test round”. It was hidden by "
               "moderation, so its title is not shown. Reason: Spam."),
    ],
)  # fmt: skip
def test_a_withheld_notice_names_the_round_by_its_title(service, locale, expected):
    """A resident with proposals in two open rounds can tell which one "#1" is."""
    pid = answered(service)
    service.hide_proposal(ADMIN, pid, "spam")
    seen = service.notice_title(pid, FAN)
    text = withheld_notice(CATALOG, locale, ANSWERED, pid, str(seen.withheld), seen.round)
    assert text == expected


@pytest.mark.parametrize("key", [ANSWERED, "participation.notice.restored"])
@pytest.mark.parametrize("why", ["erased", "hidden:abuse"])
@pytest.mark.parametrize("locale", ["ko", "en"])
def test_every_withheld_notice_names_the_round_and_the_number(key, why, locale):
    text = withheld_notice(CATALOG, locale, key, "rw-7", why, "2026 따복 공모")
    assert "2026 따복 공모" in text and "#7" in text and "%(" not in text


def test_a_round_without_a_name_keeps_the_numbers_wording():
    assert (
        withheld_notice(CATALOG, "ko", ANSWERED, "rw-7", "erased", "")
        == withheld_notice(CATALOG, "ko", ANSWERED, "rw-7", "erased")
        == (
            "#7 제안에 담당 공무원의 답변이 달렸어요. 작성자의 요청으로 이 제안의 내용이 삭제돼서 "
            "제목은 알려 드릴 수 없어요."
        )
    )
