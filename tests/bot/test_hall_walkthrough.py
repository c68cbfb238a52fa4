"""A review day walked through as the people in the hall do it, in the order they do it:
the session closes or the review ends while residents still hold their on-site ballot, a
stale menu button after the review, the sessions screen outside the review, a hall's
tallies in the thousands, two officials correcting the same paper tally, a correction of a
tally another official confirmed meanwhile."""

from __future__ import annotations

import pytest

from participation.domain.errors import WrongGroup
from participation.domain.round import RoundRules
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import Msg
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import round_rules
from tests.support.e2e_bot import text_of
from tests.support.review_day import current
from tests.support.review_day import official
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio


async def scan(world: BotWorld, uid: int, session: str) -> Msg:
    """Open the deep link of the session's current QR code; return the ballot."""
    return await world.deep_link(uid, world.services.deep_link(world.svc.onsite_code(session)))


def said(world: BotWorld, uid: int, since: int) -> list[str]:
    return [text_of(m) for m in world.messages(uid)[since:]]


@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_a_ballot_pressed_after_its_session_closed_says_the_session_ended(
    world: BotWorld, locale: str
) -> None:
    """A resident scored one proposal, read the second one's card and looked up: the
    official had closed the session. Their next press was told 'scan the on-site QR code to
    check in first', though they had, and the projector no longer shows a code; the ballot
    kept buttons that only ever answered that. Now they are told the session ended and
    their scores count, and the pressed message loses its buttons."""
    boss = await official(world)
    submit(world, resident(world, "제안자"), 3)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    voter = resident(world, "현장 주민", locale=locale)
    ballot = await scan(world, voter, session)
    await world.press(voter, await world.press(voter, ballot, "#1"), "4")
    card = await world.press(voter, current(world, voter, ballot), "#2")

    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
    ask = await world.press(boss, current(world, boss, menu), "⏹")
    await world.press(boss, current(world, boss, ask), world.t("bot.admin.session_close_yes"))
    assert not world.svc.onsite_sessions(ROUND)[0].open

    before = len(world.messages(voter))
    await world.press(voter, card, "5")  # the open card's score
    told = said(world, voter, before)
    assert world.t("participation.error.not_present", locale) not in told
    closed = {"ko": "2017년 2월 1일 (수) 오전 9:00", "en": "Wed 1 Feb 2017, 9:00 AM KST"}[locale]
    assert told == [world.t("bot.onsite.session_over", locale, time=closed)]
    assert closed in told[0]
    assert labels(current(world, voter, card)) == []  # no button left to answer that again
    assert world.svc.review_figures(ROUND)["onsite_scores"] == 1  # the first score stays


async def test_onsite_typed_after_the_session_closed_says_it_ended_not_scan_first(
    world: BotWorld,
) -> None:
    """A resident who checked in and scored typed /onsite after the official closed the
    hall's session, the round still in review: they were told to scan the QR code first,
    which no screen shows any more. /onsite now says the session ended and the scores
    given count; someone who never checked in is still told to scan."""
    submit(world, resident(world, "제안자"), 2)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    voter, never = resident(world, "현장 주민"), resident(world, "집에 있던 주민")
    await scan(world, voter, session)
    world.svc.close_onsite_session(OFFICIAL, session)

    before = len(world.messages(voter))
    await world.text(voter, "/onsite")
    over = world.t("bot.onsite.session_over", time="2017년 2월 1일 (수) 오전 9:00")
    assert said(world, voter, before) == [over] and "오전 9:00" in over
    before = len(world.messages(never))
    await world.text(never, "/onsite")
    assert said(world, never, before) == [world.t("participation.error.not_present")]


async def test_a_ballot_pressed_after_the_review_ended_says_the_review_is_over(
    world: BotWorld,
) -> None:
    """The official moved the round to results (which closes the sessions) while residents
    still held their ballot: a press on it, and /onsite, said 'scan the QR code first'."""
    submit(world, resident(world, "제안자"), 2)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    voter = resident(world, "현장 주민")
    ballot = await scan(world, voter, session)
    world.svc.advance_round(OFFICIAL, ROUND)  # -> results

    before = len(world.messages(voter))
    await world.press(voter, ballot, "#1")
    await world.text(voter, "/onsite")
    told = said(world, voter, before)
    assert world.t("participation.error.not_present") not in told
    moved = "2017년 2월 1일 (수) 오전 9:00"  # the review ended when it was moved on, early
    assert told == [world.t("participation.error.review_over", ended=moved)] * 2
    assert moved in told[0]
    assert labels(current(world, voter, ballot)) == []


async def test_online_review_tapped_after_it_ended_says_it_is_over_and_drops_the_button(
    world: BotWorld,
) -> None:
    """The reply keyboard sent during the review keeps '🗳 온라인 심사'. Tapped after the
    round moved to results it said 'Online review opens in the review phase', as if it
    were still to come, and the keyboard kept the button."""
    submit(world, resident(world, "제안자"), 2)
    to_review(world)
    voters = {locale: resident(world, "주민", locale=locale) for locale in ("ko", "en")}
    for voter in voters.values():
        await world.text(voter, "/start")  # the menu, with the online review in it
    world.svc.advance_round(OFFICIAL, ROUND)
    phase = world.t("participation.phase.results")
    for locale, voter in voters.items():
        told = await world.text(voter, world.t("bot.menu.review", locale))
        assert text_of(told) != world.t("bot.online.not_open", locale, phase=phase)
        moved = {"ko": "2017년 2월 1일 (수) 오전 9:00", "en": "Wed 1 Feb 2017, 9:00 AM KST"}[locale]
        assert text_of(told) == world.t("bot.online.over", locale, ended=moved)
        assert moved in text_of(told)  # when the review ended: the round was moved on then
        keys = [b["text"] for row in told["reply_markup"]["keyboard"] for b in row]
        assert world.t("bot.menu.review", locale) not in keys


async def test_the_sessions_screen_offers_a_new_session_only_during_the_review(
    world: BotWorld,
) -> None:
    """Before and after the review the screen offered '＋ 새 세션 열기', whose press
    answered only '지금 단계에서는 할 수 없는 일이에요.'"""
    boss = await official(world)
    submit(world, resident(world, "제안자"), 2)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
    screen = current(world, boss, menu)
    assert world.t("bot.admin.session_new") not in labels(screen)
    phase = world.t("participation.phase.submission")
    assert world.t("bot.admin.sessions_review_only", phase=phase) in text_of(screen)

    to_review(world)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
    assert world.t("bot.admin.session_new") in labels(current(world, boss, menu))

    world.svc.advance_round(OFFICIAL, ROUND)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.onsite"))
    screen = current(world, boss, menu)
    assert world.t("bot.admin.session_new") not in labels(screen)
    phase = world.t("participation.phase.results")
    assert world.t("bot.admin.sessions_review_only", phase=phase) in text_of(screen)
    assert "⏹" not in " ".join(labels(screen))


async def enter_tally(world: BotWorld, clerk: int, number: int, counts: str) -> Msg:
    menu = await world.text(clerk, "/admin")
    await world.press(clerk, menu, world.t("bot.admin.menu.paper"))
    await world.press(clerk, current(world, clerk, menu), world.t("bot.admin.paper_new"))
    picker = current(world, clerk, menu)
    await world.press(clerk, picker, labels(picker)[0])
    await world.text(clerk, str(number))
    await world.text(clerk, counts)
    return await world.photo(clerk)


async def test_a_halls_paper_tally_shows_its_thousands_with_separators(world: BotWorld) -> None:
    """A hall of 300 scoring 1-5 gives one proposal up to 1,500 points: the entry, the list
    and the range refusal said '점수 1100점', '1200 사이' where every other figure of the
    admin screens reads 1,100."""
    boss = await official(world)
    clerk = await official(world, "집계", role="clerk")
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)

    menu = await world.text(clerk, "/admin")
    await world.press(clerk, menu, world.t("bot.admin.menu.paper"))
    await world.press(clerk, current(world, clerk, menu), world.t("bot.admin.paper_new"))
    picker = current(world, clerk, menu)
    await world.press(clerk, picker, labels(picker)[0])
    await world.text(clerk, "1")
    refused = await world.text(clerk, "1200 7000")
    assert text_of(refused) == world.t(
        "bot.admin.paper_counts_range", ballots="1,200", min="1,200", max="6,000"
    )
    await world.text(clerk, "1,200 4,321")
    entered = await world.photo(clerk)
    assert "1,200" in text_of(entered) and "4,321" in text_of(entered)
    assert "4321" not in text_of(entered)

    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.paper"))
    listing = text_of(current(world, boss, menu))
    assert "1,200" in listing and "4,321" in listing and "4321" not in listing


async def test_two_officials_correcting_the_same_tally_the_second_is_told_it_was_corrected(
    world: BotWorld,
) -> None:
    """Both officials at the desk saw the same mistake and pressed ✏️ 정정 on the same
    tally. The first correction went in; the second official, after typing the counts and
    sending the photo, was told the counts were out of range (they were not) and stayed at
    the photo step, every new photo refused the same way."""
    boss = await official(world)
    clerk = await official(world, "집계", role="clerk")
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    await enter_tally(world, clerk, 1, "10 30")
    [tally] = world.svc.paper_tallies(ROUND, OFFICIAL)

    lists = {}
    for uid in (boss, clerk):
        menu = await world.text(uid, "/admin")
        await world.press(uid, menu, world.t("bot.admin.menu.paper"))
        lists[uid] = current(world, uid, menu)
    correct = world.t("bot.admin.paper_correct", number=1, tally=tally.tally_id)
    await world.press(boss, lists[boss], correct)
    await world.press(clerk, lists[clerk], correct)
    await world.text(boss, "10 35")
    await world.text(clerk, "10 35")
    await world.photo(boss)

    before = len(world.messages(clerk))
    await world.photo(clerk)
    told = said(world, clerk, before)
    assert told[0] == world.t("participation.error.paper_confirmed")
    assert world.t("participation.error.invalid_tally", ballots=10, points=35, scale=5) not in told
    live = [p for p in world.svc.paper_tallies(ROUND, OFFICIAL) if not p.superseded]
    assert [(p.ballots, p.points) for p in live] == [(10, 35)]  # one correction, not two
    # the photo step is over: the next photo is not taken as another try
    before = len(world.messages(clerk))
    await world.photo(clerk)
    assert world.t("participation.error.paper_confirmed") not in said(world, clerk, before)


async def test_a_proposal_hidden_during_the_review_leaves_the_figures_in_review_count(
    world: BotWorld,
) -> None:
    """An official hid two of three proposals during the review: the live figures still said
    '제안 3건 (숨김 2건, 심사 대상 3건)' while the ballots (and the results) hold one."""
    boss = await official(world)
    ids = submit(world, resident(world, "제안자"), 3)
    to_review(world)
    world.svc.hide_proposal(OFFICIAL, ids[1], "duplicate")
    world.svc.hide_proposal(OFFICIAL, ids[2], "duplicate")
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    ballot = await scan(world, resident(world, "현장 주민"), session)
    assert labels(ballot) == ["#1"]

    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.figures"))
    figures = text_of(current(world, boss, menu))
    assert "제안 3건 (숨김 2건, 심사 대상 1건)" in figures
    world.svc.restore_proposal(OFFICIAL, ids[1])
    assert world.svc.review_figures(ROUND)["shortlisted"] == 2


async def test_english_session_names_start_with_a_capital(world: BotWorld) -> None:
    """An English official's sessions list and the paper tally's session picker began each
    line and button with 'session 1 · started ...'."""
    boss = world.user("Officer", language_code="en")
    await world.register(boss, "Suwon-si", locale="en")
    await world.deep_link(boss, world.services.deep_link(world.svc.invite_official(OFFICIAL)))
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.onsite", "en"))
    lines = text_of(current(world, boss, menu)).splitlines()
    assert lines[1].startswith("Session 1 · started Wed 1 Feb 2017, 9:00 AM KST")
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.paper", "en"))
    await world.press(boss, current(world, boss, menu), world.t("bot.admin.paper_new", "en"))
    assert labels(current(world, boss, menu))[0].startswith("Session 1 · ")


async def test_a_proposal_gone_from_the_ballot_since_it_was_drawn_redraws_the_ballot(
    world: BotWorld,
) -> None:
    """An official hid two proposals while a resident held the ballot and one card open:
    the card's score answered '운영 원칙에 따라 숨겨진 제안이에요.' and kept its buttons, and
    the ballot's '#3' answered '해당 제안을 찾을 수 없어요.' with '#3' still listed. Now the
    pressed message becomes the ballot as it is, and an alert says why."""
    ids = submit(world, resident(world, "제안자"), 3)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    voter = resident(world, "현장 주민")
    ballot = await scan(world, voter, session)
    card = await world.press(voter, ballot, "#2")
    second = await scan(world, voter, session)  # scanned again: a second ballot
    world.svc.hide_proposal(OFFICIAL, ids[1], "duplicate")
    world.svc.hide_proposal(OFFICIAL, ids[2], "duplicate")

    before = len(world.messages(voter))
    await world.press(voter, current(world, voter, card), "4")
    assert said(world, voter, before) == []  # nothing sent: the card became the ballot
    assert labels(current(world, voter, card)) == ["#1"]
    assert world.srv.answered_callbacks(voter)[-1].get("text") == world.t(
        "participation.error.proposal_hidden"
    )
    assert world.svc.onsite_ballot(voter, ROUND).scores == {}

    await world.press(voter, second, "#3")
    assert said(world, voter, before) == []
    assert labels(current(world, voter, second)) == ["#1"]
    assert world.srv.answered_callbacks(voter)[-1].get("text") == world.t("bot.onsite.not_listed")


async def test_a_session_or_tally_another_official_handled_meanwhile_redraws_the_list(
    world: BotWorld,
) -> None:
    """Two officials at the desk: one closed the session (or confirmed the tally) while the
    other's screen still offered it. The second press answered '이미 닫힌 현장 세션이에요.'
    ('이미 확인되었거나 정정된 종이 집계입니다.') as a new message, under a screen still
    offering the same buttons. Now the screen is redrawn as it is, with the reason as an
    alert."""
    boss = await official(world)
    other = await official(world, "다른 담당자")
    clerk = await official(world, "집계", role="clerk")
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    await enter_tally(world, clerk, 1, "10 30")

    screens = {}
    for uid in (boss, other):
        menu = await world.text(uid, "/admin")
        await world.press(uid, menu, world.t("bot.admin.menu.onsite"))
        screens[uid] = await world.press(uid, current(world, uid, menu), "⏹")
    world.svc.close_onsite_session(OFFICIAL, session)  # another official, meanwhile
    before = len(world.messages(boss))
    await world.press(boss, current(world, boss, screens[boss]), "예")
    assert said(world, boss, before) == []
    redrawn = current(world, boss, screens[boss])
    assert world.t("bot.admin.session_closed") in text_of(redrawn)
    assert "⏹" not in " ".join(labels(redrawn))
    assert world.srv.answered_callbacks(boss)[-1].get("text") == world.t(
        "participation.error.closed"
    )

    for uid in (boss, other):
        menu = await world.text(uid, "/admin")
        await world.press(uid, menu, world.t("bot.admin.menu.paper"))
        screens[uid] = current(world, uid, menu)
    await world.press(other, screens[other], "✅")
    before = len(world.messages(boss))
    await world.press(boss, screens[boss], "✅")
    assert said(world, boss, before) == []
    redrawn = current(world, boss, screens[boss])
    assert world.t("bot.admin.paper_state.confirmed") in text_of(redrawn)
    assert "✅" not in " ".join(labels(redrawn))
    assert world.srv.answered_callbacks(boss)[-1].get("text") == world.t(
        "participation.error.paper_confirmed"
    )


async def test_a_paper_tally_of_a_group_session_takes_only_that_groups_proposals(
    world: BotWorld,
) -> None:
    """The hall of group 1 counts group 1's proposals: a clerk who typed a group 2 number
    for the group 1 session had the tally entered under that session without a word, where
    an on-site score of that proposal through the session is refused. Now the number step
    says so and asks again; the service refuses it as well."""
    at = round_rules().deadlines
    rules = RoundRules(title="조별 공모", deadlines=at, review_group_size=2)
    world.svc.create_round(OFFICIAL, rules, round_id="grouped")
    world.svc.open_round(OFFICIAL, "grouped")
    author = resident(world, "제안자")
    for i in range(4):
        world.svc.submit_proposal(
            author, "grouped", title=f"조 제안 {i + 1}", body="b", category="culture",
            region="suwon", budget=1_000_000,
        )  # fmt: skip
    world.svc.advance_round(OFFICIAL, "grouped")
    world.svc.advance_round(OFFICIAL, "grouped")
    groups = world.svc.form_review_groups(OFFICIAL, "grouped")
    session = world.svc.open_onsite_session(OFFICIAL, "grouped", group=1)
    clerk = await official(world, "집계", role="clerk")

    menu = await world.text(clerk, "/admin")
    await world.press(clerk, menu, world.t("bot.admin.menu.rounds"))
    await world.press(clerk, current(world, clerk, menu), "조별 공모")
    await world.press(clerk, current(world, clerk, menu), world.t("bot.admin.menu.paper"))
    await world.press(clerk, current(world, clerk, menu), world.t("bot.admin.paper_new"))
    picker = current(world, clerk, menu)
    await world.press(clerk, picker, labels(picker)[0])
    other = int(groups[1][0].rsplit("-", 1)[1])
    told = await world.text(clerk, str(other))
    assert text_of(told) == world.t("bot.admin.paper_wrong_group", number=other, group=1)
    assert world.svc.get_conversation(clerk).step == "admin.paper.number"
    own = int(groups[0][0].rsplit("-", 1)[1])
    told = await world.text(clerk, str(own))
    assert text_of(told) == world.t("bot.admin.paper_ask_counts", number=own, scale=5)

    with pytest.raises(WrongGroup):  # the service's own rule, whoever calls it
        world.svc.enter_paper_tally(
            OFFICIAL, session, groups[1][0], ballots=3, points=9, sheet_sha256="a" * 64
        )


async def test_a_correction_of_a_tally_confirmed_meanwhile_is_refused(world: BotWorld) -> None:
    """The clerk pressed ✏️ 정정 on a pending tally and typed the new counts; meanwhile the
    admin pressed ✅ 확인 on it. The clerk's photo was accepted: the list then showed only the
    pending correction, the figures '종이 집계 1건 (확인 0건)', and the confirmed tally, gone
    from every screen, still counted in the results until someone confirmed the correction."""
    boss = await official(world)
    clerk = await official(world, "집계", role="clerk")
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    await enter_tally(world, clerk, 1, "10 30")
    [tally] = world.svc.paper_tallies(ROUND, OFFICIAL)

    lists = {}
    for uid in (boss, clerk):
        menu = await world.text(uid, "/admin")
        await world.press(uid, menu, world.t("bot.admin.menu.paper"))
        lists[uid] = current(world, uid, menu)
    await world.press(
        clerk, lists[clerk], world.t("bot.admin.paper_correct", number=1, tally=tally.tally_id)
    )
    await world.text(clerk, "10 35")
    await world.press(
        boss, lists[boss], world.t("bot.admin.paper_confirm", number=1, tally=tally.tally_id)
    )
    assert [p.confirmed for p in world.svc.paper_tallies(ROUND, OFFICIAL)] == [True]

    before = len(world.messages(clerk))
    await world.photo(clerk)
    told = said(world, clerk, before)
    assert told == [world.t("participation.error.paper_confirmed")]
    assert labels(world.last(clerk)) == [world.t("bot.admin.menu.paper")]  # back to the list
    tallies = world.svc.paper_tallies(ROUND, OFFICIAL)
    assert [(p.ballots, p.points, p.confirmed, p.superseded) for p in tallies] == [
        (10, 30, True, False)
    ]
    figures = world.svc.review_figures(ROUND)
    assert (figures["papers"], figures["papers_confirmed"]) == (1, 1)
    # the photo step is over: the next photo is not taken as another try
    before = len(world.messages(clerk))
    await world.photo(clerk)
    assert world.t("participation.error.paper_confirmed") not in said(world, clerk, before)
