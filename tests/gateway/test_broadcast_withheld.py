"""The outbox sender names a proposal as it may be read when each message goes out: one
hidden (moderation) or erased (its author's request) while its notices wait goes out as the
notice's withheld variant (``<key>.title_hidden`` with the reason / ``.title_erased``), which
names the proposal by its number as the results do ("#3") and says why its title is not
shown; read again right before every attempt, so a hiding during a 429 pause still counts;
each message goes out once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from telegram.error import RetryAfter

from gateway.broadcast import DeliveryJournal
from gateway.broadcast import OutboxSender
from i18n.catalog import Catalog
from ledger import Ledger
from ledger import LedgerKey
from participation.domain.events import KINDS
from participation.service import ParticipationService
from participation.views import NoticeTitle
from tests.gateway.test_broadcast import FakeOutbox
from tests.gateway.test_broadcast import Row

ANSWERED = "participation.notice.answered"
SECRET = "홍길동 010-1234-5678 놀이터"  # a title with someone's name and phone number in it
CATALOG = Catalog.load()


def hidden(
    locale: str, reason: str, number: str = "3", key: str = ANSWERED, round: str = ""
) -> str:
    why = CATALOG.text(locale, f"participation.reason.{reason}")
    if not round:  # a round without a name stored: the proposal by its number alone
        return CATALOG.text(locale, f"{key}.title_hidden_no_round", number=number, reason=why)
    return CATALOG.text(locale, f"{key}.title_hidden", number=number, reason=why, round=round)


def erased(locale: str, number: str = "3", key: str = ANSWERED, round: str = "") -> str:
    if not round:
        return CATALOG.text(locale, f"{key}.title_erased_no_round", number=number)
    return CATALOG.text(locale, f"{key}.title_erased", number=number, round=round)


@dataclass
class TitledOutbox(FakeOutbox):
    """One proposal's notices; ``seen`` is what ``notice_title`` answers now."""

    seen: NoticeTitle = field(default_factory=lambda: NoticeTitle(title=SECRET, withheld=None))
    asked: int = 0

    def notice_title(self, proposal_id: str, user_id: int) -> NoticeTitle:
        self.asked += 1
        return self.seen


class RecordingBot:
    """Records what each chat was sent; ``before_send`` runs before each request."""

    def __init__(self, before_send: Any = None) -> None:
        self.sent: list[tuple[int, str]] = []
        self.before_send = before_send

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> None:
        if self.before_send is not None:
            self.before_send()
        self.sent.append((chat_id, text))


def legacy_row(locale: str = "ko") -> Row:
    """A row queued before this change: the title frozen into its params."""
    return Row(1, 500, locale, ANSWERED, {"proposal": "r-3", "title": SECRET}, None)


@pytest.mark.parametrize(
    ("withheld", "locale", "expected"),
    [
        ("hidden:personal_info", "ko", lambda: hidden("ko", "personal_info")),
        ("hidden:abuse", "en", lambda: hidden("en", "abuse")),
        ("erased", "en", lambda: erased("en")),
    ],
)  # fmt: skip
def test_a_withheld_title_sends_the_notices_withheld_variant(withheld, locale, expected):
    outbox = TitledOutbox([legacy_row(locale)], seen=NoticeTitle(title="", withheld=withheld))
    bot = RecordingBot()
    with structlog.testing.capture_logs() as logs:
        assert asyncio.run(OutboxSender(outbox, bot, CATALOG).drain(budget_s=10)) == 1  # type: ignore[arg-type]
    assert bot.sent == [(500, expected())]
    assert SECRET not in repr(bot.sent) and SECRET not in repr(logs)
    assert outbox.finished == {1: "sent"}


@pytest.mark.parametrize(
    ("key", "withheld", "locale", "expected"),
    [
        (ANSWERED, "hidden:personal_info", "ko",
         "#3 제안에 담당 공무원의 답변이 달렸어요. 이 제안은 운영 원칙에 따라 비공개 처리돼서 "
         "제목은 알려 드릴 수 없어요. 사유: 개인정보 노출."),
        ("participation.notice.in_review", "hidden:spam", "ko",
         "#3 제안이 공감을 충분히 받아 심사에 올라갔어요. 이 제안은 운영 원칙에 따라 비공개 "
         "처리돼서 제목은 알려 드릴 수 없어요. 사유: 광고·도배."),
        ("participation.notice.selected", "erased", "ko",
         "축하해요! #3 제안이 선정됐어요. 작성자의 요청으로 이 제안의 내용이 삭제돼서 제목은 "
         "알려 드릴 수 없어요."),
        (ANSWERED, "hidden:abuse", "en",
         "An official answered proposal #3. It was hidden by moderation, so its title is not "
         "shown. Reason: Abuse."),
        ("participation.notice.in_review", "erased", "en",
         "Proposal #3 has enough endorsements and goes to review. Its content was deleted at "
         "its author's request, so its title is not shown."),
    ],
)  # fmt: skip
def test_a_withheld_notice_says_what_happened_to_which_number_and_why_no_title(
    key, withheld, locale, expected
):
    row = Row(1, 500, locale, key, {"proposal": "r-3"}, None)
    outbox = TitledOutbox([row], seen=NoticeTitle(title="", withheld=withheld))
    bot = RecordingBot()
    asyncio.run(OutboxSender(outbox, bot, CATALOG).drain(budget_s=10))  # type: ignore[arg-type]
    assert bot.sent == [(500, expected)]


@pytest.mark.parametrize(
    ("key", "withheld", "locale", "expected"),
    [
        (ANSWERED, "hidden:personal_info", "ko",
         "「2026 따복 공모」 #3 제안에 담당 공무원의 답변이 달렸어요. 이 제안은 운영 원칙에 "
         "따라 비공개 처리돼서 제목은 알려 드릴 수 없어요. 사유: 개인정보 노출."),
        ("participation.notice.selected", "erased", "ko",
         "축하해요! 「2026 따복 공모」 #3 제안이 선정됐어요. 작성자의 요청으로 이 제안의 "
         "내용이 삭제돼서 제목은 알려 드릴 수 없어요."),
        ("participation.notice.in_review", "hidden:spam", "en",
         "Proposal #3 of the round “2026 따복 공모” has enough endorsements and goes to review. "
         "It was hidden by moderation, so its title is not shown. Reason: Spam."),
    ],
)  # fmt: skip
def test_a_withheld_notice_names_the_round_of_its_number(key, withheld, locale, expected):
    """Two open rounds each have a "#3": the notice says which round, by its public title."""
    row = Row(1, 500, locale, key, {"proposal": "r-3"}, None)
    seen = NoticeTitle(title="", withheld=withheld, round="2026 따복 공모")
    outbox = TitledOutbox([row], seen=seen)
    bot = RecordingBot()
    asyncio.run(OutboxSender(outbox, bot, CATALOG).drain(budget_s=10))  # type: ignore[arg-type]
    assert bot.sent == [(500, expected)]


NOTICES = ["in_review", "answered", "selected", "restored", "hidden_spam", "hidden_abuse",
           "hidden_personal_info", "hidden_off_topic", "hidden_duplicate"]  # fmt: skip


@pytest.mark.parametrize("locale", ["ko", "en"])
@pytest.mark.parametrize("withheld", ["hidden:duplicate", "erased"])
@pytest.mark.parametrize("notice", NOTICES)
def test_no_notice_about_a_proposal_puts_a_placeholder_where_its_title_was(
    notice, withheld, locale
):
    """Whatever the notice, a withheld title leaves no placeholder in quotes: the proposal is
    named by its number, and no catalog key shows through as text."""
    placeholders = [CATALOG.text(locale, "report.title.erased"), "「", "“"]
    placeholders += [CATALOG.text(locale, "report.title.hidden", reason="").split("(")[0].strip()]
    row = Row(1, 500, locale, f"participation.notice.{notice}", {"proposal": "r-12"}, None)
    outbox = TitledOutbox([row], seen=NoticeTitle(title="", withheld=withheld))
    bot = RecordingBot()
    asyncio.run(OutboxSender(outbox, bot, CATALOG).drain(budget_s=10))  # type: ignore[arg-type]
    [(_chat, text)] = bot.sent
    assert "#12" in text and "participation." not in text and "%(" not in text
    assert not [p for p in placeholders if p in text], text


def test_a_shown_title_is_sent_as_it_reads_now():
    outbox = TitledOutbox([legacy_row()], seen=NoticeTitle(title="새 제목", withheld=None))
    bot = RecordingBot()
    asyncio.run(OutboxSender(outbox, bot, CATALOG).drain(budget_s=10))  # type: ignore[arg-type]
    assert bot.sent == [(500, CATALOG.text("ko", ANSWERED, title="새 제목"))]


def test_rows_without_a_proposal_are_not_looked_up():
    outbox = TitledOutbox([Row(1, 500, "ko", "gateway.run.stop", {}, None)])
    asyncio.run(OutboxSender(outbox, RecordingBot(), CATALOG).drain(budget_s=10))  # type: ignore[arg-type]
    assert outbox.asked == 0 and outbox.finished == {1: "sent"}


class ThrottledOnce(RecordingBot):
    """Refuses the first request with a 429; the proposal is hidden during that pause."""

    def __init__(self, outbox: TitledOutbox) -> None:
        super().__init__()
        self.outbox, self.refused = outbox, 0

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> None:
        if not self.refused:
            self.refused += 1
            self.outbox.seen = NoticeTitle(title="", withheld="hidden:personal_info")
            raise RetryAfter(0)
        await super().send_message(chat_id, text, **kwargs)


def test_a_hiding_during_a_retry_after_pause_is_read_before_the_next_attempt():
    outbox = TitledOutbox([legacy_row()])
    bot = ThrottledOnce(outbox)
    assert asyncio.run(OutboxSender(outbox, bot, CATALOG).drain(budget_s=10)) == 1  # type: ignore[arg-type]
    assert bot.refused == 1 and bot.sent == [(500, hidden("ko", "personal_info"))]
    assert outbox.finished == {1: "sent"}


# --- on the real outbox, with the delivery journal --------------------------------------------

OFFICIAL, AUTHOR, FANS = 7_200_000_001, 7_200_000_010, [7_200_000_011, 7_200_000_012]
R = "rw"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ParticipationService]:
    from participation.domain.round import RoundRules
    from tests.participation.conftest import deadlines

    key = LedgerKey.from_seed("test-ledger", bytes(range(32)))
    log = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", key, origin="t.example/l", kinds=KINDS)
    moment = dt.datetime(2017, 2, 1, 9, tzinfo=dt.UTC)
    service = ParticipationService(log, pepper=b"withheld-pepper-0123", clock=lambda: moment)
    service.create_tables()
    service.grant_first_official(OFFICIAL)
    rules = RoundRules(title="r", deadlines=deadlines(), budget_cap=30_000_000)
    service.create_round(OFFICIAL, rules, round_id=R)
    service.open_round(OFFICIAL, R)
    yield service
    log.close()


def test_notices_queued_before_a_hiding_go_out_once_without_the_title(svc):
    for uid in (AUTHOR, *FANS):
        svc.register(uid, region="suwon", consent_version="v1")
    card = svc.submit_proposal(AUTHOR, R, title=SECRET, body="b", category="community",
                               region="suwon", budget=500_000)  # fmt: skip
    pid, number = card.proposal_id, str(card.number)
    for fan in FANS:
        svc.endorse(fan, pid)
    svc.answer_proposal(OFFICIAL, pid, "검토하겠습니다.")  # three notices wait
    bot = RecordingBot(before_send=None)
    sender = OutboxSender(svc, bot, CATALOG, journal=DeliveryJournal(svc._engine),  # type: ignore[arg-type]
                          per_chat_interval=0.0)  # fmt: skip

    def hide_before_the_first_send() -> None:
        bot.before_send = None
        svc.hide_proposal(OFFICIAL, pid, "personal_info")

    bot.before_send = hide_before_the_first_send  # claimed, then hidden: the author was first
    assert asyncio.run(sender.drain(budget_s=10)) == 4  # + the author's 'hidden' notice
    by_chat: dict[int, list[str]] = {}
    for chat, text in bot.sent:
        by_chat.setdefault(chat, []).append(text)
    assert by_chat[AUTHOR][0] == CATALOG.text("ko", ANSWERED, title=SECRET)  # sent before
    for fan in FANS:
        assert by_chat[fan] == [hidden("ko", "personal_info", number=number, round="r")]
    reason = CATALOG.text("ko", "participation.notice.hidden_personal_info", title=SECRET)
    assert by_chat[AUTHOR][1:] == [reason]  # the author is told which of theirs, in private
    assert svc.claim_outbox(10) == []


def test_a_hidden_proposal_erased_while_its_notices_wait_goes_out_as_hidden(svc):
    """Hidden wins over erased, as in the results and the channel: the endorsers are told the
    reason it was hidden, not that its author had it deleted."""
    for uid in (AUTHOR, *FANS):
        svc.register(uid, region="suwon", consent_version="v1")
    card = svc.submit_proposal(AUTHOR, R, title=SECRET, body="b", category="community",
                               region="suwon", budget=500_000)  # fmt: skip
    pid, number = card.proposal_id, str(card.number)
    for fan in FANS:
        svc.endorse(fan, pid)
    svc.answer_proposal(OFFICIAL, pid, "검토하겠습니다.")
    svc.hide_proposal(OFFICIAL, pid, "abuse")
    svc.erase_personal_data(AUTHOR)  # the author's own notices go with their data
    bot = RecordingBot()
    sender = OutboxSender(svc, bot, CATALOG, journal=DeliveryJournal(svc._engine),  # type: ignore[arg-type]
                          per_chat_interval=0.0)  # fmt: skip
    assert asyncio.run(sender.drain(budget_s=10)) == len(FANS)
    expected = hidden("ko", "abuse", number=number, round="r")
    assert sorted(bot.sent) == [(fan, expected) for fan in FANS]
    assert SECRET not in repr(bot.sent)
