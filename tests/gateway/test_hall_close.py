"""The end of a review day in the hall, with updates judged when ingress received them.

The real bot behind an `UpdateWorker` (tests.gateway.test_received_time.Hall): a resident's
check-in or score press is received before the official closes the hall's session (or before
the review deadline) and is applied after it, as in a queue of a busy hall. What counts is
what was received before; what the person is shown afterwards must be what they can still do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlparse

import pytest

from gateway.clock import advance_phases
from gateway.store import JobRuns
from participation.domain.errors import AdvancePending
from participation.domain.errors import DeadlinePassed
from tests.gateway.test_received_time import Hall
from tests.support.e2e_bot import KST
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.support.review_day import current
from tests.support.review_day import official
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review
from tests.webhook.conftest import make_app
from webhook.onsite import onsite_url
from webhook.onsite import view_key

pytestmark = pytest.mark.asyncio
T0 = dt.datetime(2017, 2, 23, 15, tzinfo=KST)  # the hall's afternoon; review ends at 18:00


CLOSED_AT = "2017년 2월 23일 (목) 오후 3:00"  # the close at at(3), as the residents read it


def session_over(world: BotWorld) -> str:
    """What a resident whose session was closed at at(3) is told: when it ended."""
    text = world.t("bot.onsite.session_over", time=CLOSED_AT)
    assert CLOSED_AT in text
    return text


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def said(world: BotWorld, uid: int, since: int) -> list[str]:
    return [text_of(m) for m in world.messages(uid)[since:]]


async def hall_with_session(world: BotWorld) -> str:
    """Three proposals in review and the hall's session opened at T0; return its id."""
    submit(world, resident(world, "제안자"), 3)
    to_review(world)
    world.clock.now = T0
    return world.svc.open_onsite_session(OFFICIAL, ROUND)


async def test_a_check_in_received_before_the_close_says_the_session_ended_not_a_ballot(
    tmp_path: Path, private_redis: str
) -> None:
    """A resident scanned the QR code a second before the official closed the session; the
    check-in waited in the queue and was applied after the close. It counts (received
    before), but the ballot it showed had #1 #2 #3 buttons of which every press answered
    'this session has ended': nothing could be scored through it any more."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        session = await hall_with_session(world)
        voter = resident(world, "현장 주민")
        world.srv.open_deep_link(voter, world.services.deep_link(world.svc.onsite_code(session)))
        await hall.receive_at(at(1))
        world.clock.now = at(3)
        world.svc.close_onsite_session(OFFICIAL, session)
        world.clock.now = at(10)
        await hall.work(lambda: hall.backlog() == 0)

        assert world.svc.onsite_sessions(ROUND)[0].checkins == 1  # received before: counts
        told = world.messages(voter)
        assert [text_of(m) for m in told] == [
            world.t("bot.onsite.checked_in"),
            world.t("bot.onsite.closed_on_arrival"),
        ]
        assert all(labels(m) == [] for m in told)  # no ballot whose buttons cannot work

        before = len(world.messages(voter))
        world.srv.send_text(voter, "/onsite")
        await hall.receive_at(at(12))
        await hall.work(lambda: hall.backlog() == 0)
        assert said(world, voter, before) == [session_over(world)]


async def test_a_score_received_before_the_close_counts_and_leaves_no_dead_buttons(
    tmp_path: Path, private_redis: str
) -> None:
    """A resident pressed '4' (and, impatient, '4' again) a moment before the official
    closed the session; both presses waited in the queue. The first counts once; the
    ballot it redrew offered #1 #2 #3 again, every one of which then answered 'this session
    has ended'. Now the redrawn ballot shows the score without buttons and says so."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        session = await hall_with_session(world)
        voter = resident(world, "현장 주민")
        ballot = await world.deep_link(
            voter, world.services.deep_link(world.svc.onsite_code(session))
        )
        card = await world.press(voter, ballot, "#1")
        four = world.data_of(card, "4")
        world.srv.press(voter, card["message_id"], four)
        world.srv.press(voter, card["message_id"], four)  # a double tap
        await hall.receive_at(at(1))
        world.clock.now = at(3)
        world.svc.close_onsite_session(OFFICIAL, session)
        world.clock.now = at(10)
        before = len(world.messages(voter))
        await hall.work(lambda: hall.backlog() == 0)

        assert world.svc.review_figures(ROUND)["onsite_scores"] == 1
        redrawn = current(world, voter, card)
        assert world.t("bot.onsite.line", number=1, title="제안 1", score=4) in text_of(redrawn)
        assert labels(redrawn) == []
        assert said(world, voter, before) == [session_over(world)]


async def test_a_card_opened_before_the_close_and_shown_after_it_says_the_session_ended(
    tmp_path: Path, private_redis: str
) -> None:
    """'#2' pressed a moment before the close, applied after it, showed the card with its
    1-5 buttons, none of which could be taken any more."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        session = await hall_with_session(world)
        voter = resident(world, "현장 주민")
        ballot = await world.deep_link(
            voter, world.services.deep_link(world.svc.onsite_code(session))
        )
        world.srv.press(voter, ballot["message_id"], world.data_of(ballot, "#2"))
        await hall.receive_at(at(1))
        world.clock.now = at(3)
        world.svc.close_onsite_session(OFFICIAL, session)
        world.clock.now = at(10)
        before = len(world.messages(voter))
        await hall.work(lambda: hall.backlog() == 0)

        assert said(world, voter, before) == [session_over(world)]
        assert labels(current(world, voter, ballot)) == []


END = dt.datetime(2017, 2, 23, 18, tzinfo=KST)  # the world's review_ends


def after_end(seconds: int) -> dt.datetime:
    return END + dt.timedelta(seconds=seconds)


async def test_after_the_review_deadline_while_the_round_waits_nothing_offers_a_ballot(
    tmp_path: Path, private_redis: str
) -> None:
    """18:00 passed; a press received at 17:59:59 still waits, so the round stays in review
    (the clock waits for it). Meanwhile /onsite and /review showed the whole ballot with
    its buttons, and a score or a like pressed at 18:00:01 was refused with the deadline but
    left the card's 1-5 buttons (the ballot's likes), each answering that again. Now they say
    the review closed at 18:00 (KST), and the refused card or ballot loses its buttons; the
    waiting press still counts."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        submit(world, resident(world, "제안자"), 3)
        to_review(world)
        world.clock.now = END - dt.timedelta(minutes=5)
        session = world.svc.open_onsite_session(OFFICIAL, ROUND)
        early, late, online = resident(world, "일찍"), resident(world, "늦게"), resident(world)
        cards = {}
        for voter in (early, late):
            ballot = await world.deep_link(
                voter, world.services.deep_link(world.svc.onsite_code(session))
            )
            cards[voter] = await world.press(voter, ballot, "#1")
        likes = await world.text(online, "/review")
        world.srv.press(early, cards[early]["message_id"], world.data_of(cards[early], "4"))
        await hall.receive_at(END - dt.timedelta(seconds=1))
        world.clock.now = after_end(30)
        await advance_phases(world.svc, JobRuns(world.ledger.engine), hall.client, hall.layout)
        assert world.svc.round(ROUND).phase == "review"  # waits for the early press

        before = {uid: len(world.messages(uid)) for uid in (late, online)}
        world.srv.press(late, cards[late]["message_id"], world.data_of(cards[late], "5"))
        world.srv.press(late, cards[late]["message_id"], world.data_of(cards[late], "5"))
        world.srv.press(online, likes["message_id"], world.data_of(likes, "#2"))
        await hall.receive_at(after_end(1))
        world.srv.send_text(late, "/onsite")
        world.srv.send_text(online, "/review")
        await hall.receive_at(after_end(20))
        await hall.work(lambda: hall.backlog() == 0)

        closed = world.t(
            "participation.error.deadline_passed", deadline="2017년 2월 23일 (목) 오후 6:00"
        )
        assert said(world, late, before[late]) == [closed, closed]
        assert said(world, online, before[online]) == [closed, closed]
        assert labels(current(world, late, cards[late])) == []
        assert labels(current(world, online, likes)) == []
        assert world.svc.review_figures(ROUND)["onsite_scores"] == 1  # the early press


async def test_an_official_cannot_cut_off_presses_received_before_the_deadline(
    tmp_path: Path, private_redis: str
) -> None:
    """18:00:30, a score pressed at 17:59:59 still in the queue: the round waits in review.
    The official's screens said '심사는 오후 6:00에 끝나고, 그때 결과 발표 단계로 넘어갑니다.
    먼저 넘기려면 단계 진행을 눌러 주십시오' and offered '예, 진행합니다', which moved the
    round at once: the waiting score was then refused as after the review. Now the screens
    say the round moves by itself once what was received before the deadline is applied (by
    18:10 at the latest), and the service refuses the move in that window."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        boss = await official(world)
        submit(world, resident(world, "제안자"), 3)
        to_review(world)
        world.clock.now = END - dt.timedelta(minutes=5)
        session = world.svc.open_onsite_session(OFFICIAL, ROUND)
        voter = resident(world, "일찍")
        ballot = await world.deep_link(
            voter, world.services.deep_link(world.svc.onsite_code(session))
        )
        card = await world.press(voter, ballot, "#1")
        world.srv.press(voter, card["message_id"], world.data_of(card, "4"))
        await hall.receive_at(END - dt.timedelta(seconds=1))
        world.clock.now = after_end(30)
        runs = JobRuns(world.ledger.engine)
        await advance_phases(world.svc, runs, hall.client, hall.layout)

        deadline, by = "2017년 2월 23일 (목) 오후 6:00", "2017년 2월 23일 (목) 오후 6:10"
        menu = await world.text(boss, "/admin")
        await world.press(boss, menu, world.t("bot.admin.menu.phase"))
        screen = current(world, boss, menu)
        waits = world.t("participation.error.advance_pending", deadline=deadline, by=by)
        assert text_of(screen) == waits
        assert world.t("bot.admin.phase_yes") not in labels(screen)
        menu = await world.text(boss, "/admin")
        await world.press(boss, menu, world.t("bot.admin.menu.publish"))
        screen = current(world, boss, menu)
        assert text_of(screen) == world.t(
            "bot.admin.publish_waiting", round="2017 따복공동체", review_ends=deadline, by=by
        )
        assert world.t("bot.admin.menu.phase") not in labels(screen)
        with pytest.raises(AdvancePending):  # a confirmation opened before 18:00
            world.svc.advance_round(OFFICIAL, ROUND)

        await hall.work(lambda: hall.backlog() == 0)
        assert world.svc.review_figures(ROUND)["onsite_scores"] == 1
        await advance_phases(world.svc, runs, hall.client, hall.layout)
        assert world.svc.round(ROUND).phase == "results"


async def test_the_projector_stops_handing_out_codes_at_the_review_deadline(
    tmp_path: Path, private_redis: str
) -> None:
    """While the round waited in review after 18:00 for presses received before it, the
    projector kept showing a fresh QR code and 'scan the QR code', and every scan was
    refused with '오후 6:00에 마감됐어요'. From the deadline on it shows the session closed.
    The sessions screen offered '＋ 새 세션 열기' too, opening a session whose every scan
    would be refused; it now says the review closed."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        boss = await official(world)
        submit(world, resident(world, "제안자"), 2)
        to_review(world)
        world.clock.now = END - dt.timedelta(minutes=5)
        session = world.svc.open_onsite_session(OFFICIAL, ROUND)
        key = view_key(b"hall-close-pepper")
        bot = world.srv.bot_username
        web = make_app(hall.client, participation=world.svc, onsite_key=key).test_client()
        parsed = urlparse(onsite_url("https://x.example", key, session, bot))
        page, code = f"{parsed.path}?{parsed.query}", f"{parsed.path}/code?{parsed.query}"
        assert web.get(page).status_code == 200
        assert web.get(code).status_code == 200

        world.clock.now = after_end(30)
        assert world.svc.round(ROUND).phase == "review"  # the clock has not moved it yet
        assert web.get(page).status_code == 404
        assert web.get(code).status_code == 404
        with pytest.raises(DeadlinePassed):
            world.svc.open_onsite_session(OFFICIAL, ROUND)
        menu = await world.text(boss, "/admin")
        await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
        screen = current(world, boss, menu)
        assert world.t("bot.admin.session_new") not in labels(screen)
        kst = "2017년 2월 23일 (목) 오후 6:00"
        assert world.t("bot.admin.sessions_after_deadline", deadline=kst) in text_of(screen)


async def test_a_double_tap_after_the_close_says_the_session_ended_once(
    tmp_path: Path, private_redis: str
) -> None:
    """A resident tapped '4' twice, both after the official closed the session: the bot
    sent '이 현장 세션은 끝났어요…' twice (seen on the live stack). The second tap, whose
    buttons the first took off, is answered with a toast of the same words instead."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        session = await hall_with_session(world)
        voter = resident(world, "현장 주민")
        ballot = await world.deep_link(
            voter, world.services.deep_link(world.svc.onsite_code(session))
        )
        card = await world.press(voter, ballot, "#1")
        world.clock.now = at(3)
        world.svc.close_onsite_session(OFFICIAL, session)
        four = world.data_of(card, "4")
        world.srv.press(voter, card["message_id"], four)
        world.srv.press(voter, card["message_id"], four)
        await hall.receive_at(at(5))
        world.clock.now = at(10)
        before = len(world.messages(voter))
        await hall.work(lambda: hall.backlog() == 0)

        over = session_over(world)
        assert said(world, voter, before) == [over]
        toasts = [a.get("text") for a in world.srv.answered_callbacks(voter)]
        assert toasts[-1] == over
        assert world.svc.review_figures(ROUND)["onsite_scores"] == 0


async def test_the_sessions_screen_says_when_a_session_closed_and_that_earlier_scans_count(
    tmp_path: Path, private_redis: str
) -> None:
    """The official closed the session at 15:05 and looked at the sessions screen: '출석 0명 ·
    닫힘'. A scan received at 15:04:59 was applied a moment later, and the same screen then
    read '출석 1명 · 닫힘', a check-in to a closed session with nothing to say why. It now
    gives the close's time and says that what was received before it counts."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        boss = await official(world)
        session = await hall_with_session(world)
        voter = resident(world, "현장 주민")
        world.clock.now = at(298)  # the projector's code of 15:04:58
        world.srv.open_deep_link(voter, world.services.deep_link(world.svc.onsite_code(session)))
        await hall.receive_at(at(299))
        world.clock.now = at(300)
        world.svc.close_onsite_session(OFFICIAL, session)
        await hall.work(lambda: hall.backlog() == 0)

        menu = await world.text(boss, "/admin")
        await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
        screen = text_of(current(world, boss, menu))
        closed = world.t("bot.admin.session_closed_at", time="오후 3:05")
        assert f"출석 1명 · {closed}" in screen
        assert world.t("bot.admin.sessions_closed_note") in screen


async def test_a_judge_after_the_review_deadline_gets_read_only_cards_while_the_round_waits(
    tmp_path: Path,
) -> None:
    """18:00:30, the round still in review (the clock waits for the hall's queue): the
    judge's 심사하기 showed the card with its 1-5 buttons and '오후 6:00까지 바꿀 수 있어요',
    and every press was refused with the deadline. The cards are read-only from the
    deadline on, as after the review."""
    async with BotWorld(tmp_path) as world:
        submit(world, resident(world, "제안자"), 2)
        to_review(world)
        judge = world.user("심사위원")
        await world.register(judge, "수원시")
        await world.deep_link(
            judge, world.services.deep_link(world.svc.invite_judge(OFFICIAL, ROUND))
        )
        world.clock.now = after_end(30)
        assert world.svc.round(ROUND).phase == "review"

        shown = await world.text(judge, world.t("bot.menu.judge"))
        ended = "2017년 2월 23일 (목) 오후 6:00"  # the deadline: the review ended then
        assert world.t("bot.judge.state.over_missing", ended=ended) in text_of(shown)
        assert ended in text_of(shown)
        necessity = world.t("participation.criterion.necessity")
        assert necessity not in labels(shown) and world.t("bot.judge.recuse") not in labels(shown)


async def test_a_scan_after_the_round_moved_to_results_says_the_review_is_over(
    tmp_path: Path,
) -> None:
    """Seen on the live stack: a resident scanned a code photographed seconds before the
    deadline; the clock had moved the round to results, and the bot answered only '지금
    단계에서는 할 수 없는 일이에요.', which says neither what ended nor that nothing is lost."""
    async with BotWorld(tmp_path) as world:
        submit(world, resident(world, "제안자"), 2)
        to_review(world)
        world.clock.now = END - dt.timedelta(seconds=20)
        session = world.svc.open_onsite_session(OFFICIAL, ROUND)
        link = world.services.deep_link(world.svc.onsite_code(session))
        world.clock.now = after_end(5)
        assert world.svc.advance_due_rounds() == [(ROUND, "results")]
        voter = resident(world, "늦은 주민")
        told = await world.deep_link(voter, link)
        ended = "2017년 2월 23일 (목) 오후 6:00"  # the deadline, not the clock's move at 18:00:05
        assert text_of(told) == world.t("participation.error.review_over", ended=ended)
        assert ended in text_of(told)
        english = resident(world, "Late visitor", locale="en")
        told = await world.deep_link(english, link)
        ended = "Thu 23 Feb 2017, 6:00 PM KST"
        assert text_of(told) == world.t("participation.error.review_over", "en", ended=ended)
        assert ended in text_of(told)


@pytest.mark.parametrize("screen", ["phase", "session"])
async def test_a_screen_drawn_before_the_deadline_and_pressed_after_it_redraws_itself(
    tmp_path: Path, screen: str
) -> None:
    """A phase confirmation or the sessions screen's '＋ 새 세션 열기' drawn at 17:59 and
    pressed at 18:00:30: the refusal came as a new message and the button stayed, answering
    the same again on every press for ten minutes. Now the screen is redrawn with the
    refusal and only the way on (refresh, or back)."""
    async with BotWorld(tmp_path) as world:
        boss = await official(world)
        submit(world, resident(world, "제안자"), 3)
        to_review(world)
        world.clock.now = END - dt.timedelta(minutes=1)
        menu = await world.text(boss, "/admin")
        if screen == "phase":
            await world.press(boss, menu, world.t("bot.admin.menu.phase"))
            label = world.t("bot.admin.phase_yes")
        else:
            await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
            label = world.t("bot.admin.session_new")
        drawn = current(world, boss, menu)
        assert label in labels(drawn)
        before = len(world.messages(boss))
        world.clock.now = after_end(30)
        await world.press(boss, drawn, label)
        shown = current(world, boss, menu)
        assert len(world.messages(boss)) == before  # redrawn in place, no new message
        assert label not in labels(shown)
        assert "2017년 2월 23일 (목) 오후 6:00" in text_of(shown)
        assert world.svc.round(ROUND).phase == "review"
