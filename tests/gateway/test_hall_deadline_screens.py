"""After the review deadline, while the round still waits in review for presses received before
it (the clock moves it only once they are applied): no on-site or online screen drawn then
offers buttons that can only be refused, whether the press that drew it was received after
the deadline (refused) or before it (counted). The officials' sessions and publish screens say
what the deadline did, and a refusal after the review says when it ended."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from participation.domain.round import RoundRules
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

pytestmark = pytest.mark.asyncio
END = dt.datetime(2017, 2, 23, 18, tzinfo=KST)  # the world's review_ends
CLOSED = "2017년 2월 23일 (목) 오후 6:00"


def after_end(seconds: int) -> dt.datetime:
    return END + dt.timedelta(seconds=seconds)


def said(world: BotWorld, uid: int, since: int) -> list[str]:
    return [text_of(m) for m in world.messages(uid)[since:]]


async def in_the_hall(world: BotWorld) -> tuple[int, dict[str, object]]:
    """Three proposals in review, a session opened at 17:55 and a resident checked in to it:
    return the resident and their ballot."""
    submit(world, resident(world, "제안자"), 3)
    to_review(world)
    world.clock.now = END - dt.timedelta(minutes=5)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    voter = resident(world, "주민")
    link = world.services.deep_link(world.svc.onsite_code(session))
    return voter, await world.deep_link(voter, link)


async def test_a_ballot_drawn_before_the_deadline_opens_no_card_after_it(
    tmp_path: Path, private_redis: str
) -> None:
    """'#2' pressed at 18:00:20 on a ballot drawn at 17:55 opened the card with its 1-5
    buttons, each of which was then refused with the deadline."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        voter, ballot = await in_the_hall(world)
        world.clock.now = after_end(30)
        assert world.svc.round(ROUND).phase == "review"  # the clock has not moved it yet
        before = len(world.messages(voter))
        world.srv.press(voter, ballot["message_id"], world.data_of(ballot, "#2"))
        await hall.receive_at(after_end(20))
        await hall.work(lambda: hall.backlog() == 0)

        assert labels(current(world, voter, ballot)) == []
        closed = world.t("participation.error.deadline_passed", deadline=CLOSED)
        assert said(world, voter, before) == [closed]


async def test_a_score_received_before_the_deadline_counts_and_its_ballot_has_no_buttons(
    tmp_path: Path, private_redis: str
) -> None:
    """'4' pressed at 17:59:59, applied at 18:00:30: it counts, and the ballot it redrew
    offered #1 #2 #3, each opening a card whose every score was refused."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        voter, ballot = await in_the_hall(world)
        card = await world.press(voter, ballot, "#1")
        world.srv.press(voter, card["message_id"], world.data_of(card, "4"))
        await hall.receive_at(END - dt.timedelta(seconds=1))
        world.clock.now = after_end(30)
        before = len(world.messages(voter))
        await hall.work(lambda: hall.backlog() == 0)

        assert world.svc.review_figures(ROUND)["onsite_scores"] == 1
        redrawn = current(world, voter, card)
        assert world.t("bot.onsite.line", number=1, title="제안 1", score=4) in text_of(redrawn)
        assert labels(redrawn) == []
        over = world.t("participation.error.review_over", ended=CLOSED)
        assert said(world, voter, before) == [over]
        assert CLOSED in over


async def test_a_check_in_received_before_the_deadline_counts_and_shows_no_ballot(
    tmp_path: Path, private_redis: str
) -> None:
    """A scan at 17:59:58, applied at 18:00:30: the check-in counts, and it sent the full
    ballot, every card of which was then refused."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        submit(world, resident(world, "제안자"), 3)
        to_review(world)
        world.clock.now = END - dt.timedelta(minutes=5)
        session = world.svc.open_onsite_session(OFFICIAL, ROUND)
        world.clock.now = END - dt.timedelta(seconds=3)
        voter = resident(world, "주민")
        world.srv.open_deep_link(voter, world.services.deep_link(world.svc.onsite_code(session)))
        await hall.receive_at(END - dt.timedelta(seconds=2))
        world.clock.now = after_end(30)
        await hall.work(lambda: hall.backlog() == 0)

        assert world.svc.onsite_sessions(ROUND)[0].checkins == 1
        told = world.messages(voter)
        assert [text_of(m) for m in told] == [
            world.t("bot.onsite.checked_in"),
            world.t("participation.error.review_over", ended=CLOSED),
        ]
        assert CLOSED in text_of(told[-1])
        assert all(labels(m) == [] for m in told)


async def test_online_screens_drawn_after_the_deadline_offer_no_likes(
    tmp_path: Path, private_redis: str
) -> None:
    """A card opened at 17:55, '◀ 목록' pressed at 18:00:20: the list came back with every
    like button, each refused. A like received at 17:59:59 and applied after 18:00 counted
    and redrew the same buttons."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        submit(world, resident(world, "제안자"), 3)
        to_review(world)
        world.clock.now = END - dt.timedelta(minutes=5)
        early, late = resident(world, "일찍"), resident(world, "늦게")
        likes = await world.text(early, "/review")
        world.srv.press(early, likes["message_id"], world.data_of(likes, labels(likes)[0]))
        await hall.receive_at(END - dt.timedelta(seconds=1))
        mine = await world.text(late, "/review")
        opened = await world.press(late, mine, labels(mine)[1])
        world.clock.now = after_end(30)
        before = {uid: len(world.messages(uid)) for uid in (early, late)}
        world.srv.press(late, opened["message_id"], world.data_of(opened, labels(opened)[-1]))
        await hall.receive_at(after_end(20))
        await hall.work(lambda: hall.backlog() == 0)

        assert labels(current(world, early, likes)) == []
        over = world.t("participation.error.review_over", ended=CLOSED)
        assert said(world, early, before[early]) == [over] and CLOSED in over
        assert labels(current(world, late, opened)) == []
        closed = world.t("participation.error.deadline_passed", deadline=CLOSED)
        assert said(world, late, before[late]) == [closed]


async def test_with_review_groups_no_group_is_offered_after_the_deadline(
    tmp_path: Path, private_redis: str
) -> None:
    """The group choice drawn at 17:55, a group pressed at 18:00:20: it asked to confirm the
    choice, and the confirmation was refused with the deadline."""
    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        deadlines = world.svc.round(ROUND).rules.deadlines
        rules = RoundRules(title="조별 공모", deadlines=deadlines, review_group_size=2)
        world.svc.create_round(OFFICIAL, rules, round_id="grouped")
        world.svc.open_round(OFFICIAL, "grouped")
        author, voter = resident(world, "제안자"), resident(world, "주민")
        for i in range(4):
            world.svc.submit_proposal(
                author, "grouped", title=f"조 제안 {i + 1}", body="b", category="culture",
                region="suwon", budget=1_000_000,
            )  # fmt: skip
        world.svc.advance_round(OFFICIAL, "grouped")
        world.svc.advance_round(OFFICIAL, "grouped")
        assert len(world.svc.form_review_groups(OFFICIAL, "grouped")) == 2
        world.clock.now = END - dt.timedelta(minutes=5)
        pick = await world.text(voter, "/review")
        assert text_of(pick) == world.t("bot.online.pick_group", cap=6)
        world.clock.now = after_end(30)
        before = len(world.messages(voter))
        group = world.t("bot.online.group_button", group=2, count=2)
        world.srv.press(voter, pick["message_id"], world.data_of(pick, group))
        await hall.receive_at(after_end(20))
        await hall.work(lambda: hall.backlog() == 0)

        assert labels(current(world, voter, pick)) == []
        closed = world.t("participation.error.deadline_passed", deadline=CLOSED)
        assert said(world, voter, before) == [closed]


async def test_a_session_closed_in_the_wait_after_the_deadline_says_the_review_ended(
    tmp_path: Path,
) -> None:
    """The official closed the hall's session at 18:03, the round waiting in review; a press
    at 18:04 on a ballot drawn before the deadline was told only that the session had ended,
    while what ended it for that press was the review, at 18:00."""
    async with BotWorld(tmp_path) as world:
        voter, ballot = await in_the_hall(world)
        [session] = world.svc.onsite_sessions(ROUND)
        world.clock.now = after_end(3 * 60)
        world.svc.close_onsite_session(OFFICIAL, session.session_id)
        world.clock.now = after_end(4 * 60)
        before = len(world.messages(voter))
        await world.press(voter, ballot, "#1")

        over = world.t("participation.error.review_over", ended=CLOSED)
        assert said(world, voter, before) == [over] and CLOSED in over
        assert labels(current(world, voter, ballot)) == []


# --- officials' screens -------------------------------------------------------------------------
async def sessions_screen(world: BotWorld, boss: int) -> dict[str, object]:
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
    return current(world, boss, menu)


async def test_the_sessions_screen_says_a_session_open_at_the_deadline_ended_with_the_review(
    tmp_path: Path,
) -> None:
    """18:00:30, the round waiting in review: the hall's session opened at 17:55 was listed
    as '진행 중' with its projector link (which answers 404 from the deadline on) and '⏹ 세션
    1 닫기', though nothing received after 18:00 counts. It now says the session ended with
    the review at 오후 6:00, with neither link nor button."""
    async with BotWorld(tmp_path) as world:
        boss = await official(world)
        submit(world, resident(world, "제안자"), 2)
        to_review(world)
        world.clock.now = END - dt.timedelta(minutes=5)
        session = world.svc.open_onsite_session(OFFICIAL, ROUND)
        world.clock.now = after_end(30)
        assert world.svc.round(ROUND).phase == "review"  # the clock has not moved it yet

        screen = await sessions_screen(world, boss)
        ended = world.t("bot.admin.session_review_ended", time="오후 6:00")
        assert f"출석 0명 · {ended}" in text_of(screen)
        assert world.t("bot.admin.session_open") not in text_of(screen)
        assert session not in text_of(screen)  # no projector link
        assert labels(screen) == [world.t("bot.admin.back")]


async def test_a_session_the_clock_closed_after_the_deadline_ended_at_the_deadline(
    tmp_path: Path,
) -> None:
    """The clock moved the round to results at 18:07 (its queue drained then), closing the
    hall's session: the screen read '오후 6:07 닫힘' and 'what was received before the close
    counts', but a scan at 18:05 was refused. The session ended with the review, at 18:00."""
    async with BotWorld(tmp_path) as world:
        boss = await official(world)
        submit(world, resident(world, "제안자"), 2)
        to_review(world)
        world.clock.now = END - dt.timedelta(minutes=5)
        world.svc.open_onsite_session(OFFICIAL, ROUND)
        world.clock.now = after_end(7 * 60)
        assert world.svc.advance_due_rounds() == [(ROUND, "results")]

        screen = text_of(await sessions_screen(world, boss))
        assert world.t("bot.admin.session_review_ended", time="오후 6:00") in screen
        assert world.t("bot.admin.session_closed_at", time="오후 6:07") not in screen


async def test_a_session_an_official_closed_before_the_deadline_keeps_its_close_time(
    tmp_path: Path,
) -> None:
    async with BotWorld(tmp_path) as world:
        boss = await official(world)
        submit(world, resident(world, "제안자"), 2)
        to_review(world)
        world.clock.now = END - dt.timedelta(minutes=5)
        session = world.svc.open_onsite_session(OFFICIAL, ROUND)
        world.clock.now = END - dt.timedelta(minutes=2)
        world.svc.close_onsite_session(OFFICIAL, session)
        world.clock.now = after_end(7 * 60)
        assert world.svc.advance_due_rounds() == [(ROUND, "results")]

        screen = text_of(await sessions_screen(world, boss))
        assert world.t("bot.admin.session_closed_at", time="오후 5:58") in screen


async def test_with_the_clock_down_past_its_wait_the_publish_screen_says_the_review_ended(
    tmp_path: Path, private_redis: str
) -> None:
    """18:15, the clock down since before the deadline: the round is still in review, and the
    publish screen said '심사는 …오후 6:00에 끝나고, 그때 결과 발표 단계로 넘어갑니다. 먼저
    넘기려면 단계 진행을 눌러 주십시오', a deadline in the future and a move 'sooner'. It now
    says the review ended, that the round has not been moved on by itself yet, and that
    단계 진행 moves it now, which it does (through the gateway's worker, which first waits
    for what was received before the press: nothing here)."""
    from gateway.worker import earlier_waiting

    async with BotWorld(tmp_path) as world:
        hall = Hall(world, private_redis, "")
        world.services.extra["inbox_earlier"] = earlier_waiting(hall.client, hall.layout)
        boss = await official(world)
        submit(world, resident(world, "제안자"), 2)
        to_review(world)
        world.clock.now = after_end(15 * 60)
        assert world.svc.round(ROUND).phase == "review"

        menu = await world.text(boss, "/admin")
        await world.press(boss, menu, world.t("bot.admin.menu.publish"))
        screen = current(world, boss, menu)
        review = world.t("participation.phase.review")
        overdue = world.t(
            "bot.admin.publish_overdue", round="2017 따복공동체", phase=review, review_ends=CLOSED
        )
        assert text_of(screen) == overdue
        assert overdue != world.t(
            "bot.admin.publish_not_yet", round="2017 따복공동체", phase=review, review_ends=CLOSED
        )
        assert world.t("bot.admin.publish_yes") not in labels(screen)

        await world.press(boss, screen, world.t("bot.admin.menu.phase"))
        phase = current(world, boss, menu)
        world.srv.press(
            boss, phase["message_id"], world.data_of(phase, world.t("bot.admin.phase_yes"))
        )
        await hall.receive_at(after_end(15 * 60))
        await hall.work(lambda: world.svc.round(ROUND).phase == "results")
        assert world.svc.round(ROUND).phase == "results"
        done = world.t("bot.admin.phase_done", round="2017 따복공동체",
                       phase=world.t("participation.phase.results"))  # fmt: skip
        assert text_of(current(world, boss, menu)) == done
        menu = await world.text(boss, "/admin")
        await world.press(boss, menu, world.t("bot.admin.menu.publish"))
        assert world.t("bot.admin.publish_yes") in labels(current(world, boss, menu))
