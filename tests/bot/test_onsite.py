"""Residents on the review day through the bot: on-site check-in by the rotating QR code
(an old code refused politely), on-site scoring never of one's own proposal, online group
choice and likes up to the cap, and one channel per person."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from participation.domain.round import Deadlines
from participation.domain.round import RoundRules
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import round_rules
from tests.support.e2e_bot import text_of
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio


async def scan(world: BotWorld, uid: int, session: str) -> dict[str, object]:
    """Open the deep link of the session's current QR code."""
    return await world.deep_link(uid, world.services.deep_link(world.svc.onsite_code(session)))


async def test_scan_check_in_and_score_the_others_never_ones_own(world: BotWorld) -> None:
    other, voter = resident(world, "다른 제안자"), resident(world, "현장 주민")
    submit(world, other, 2, "남의 제안")
    [own] = submit(world, voter, 1, "내 제안")
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)

    ballot = await scan(world, voter, session)
    assert world.t("bot.onsite.checked_in") in [text_of(m) for m in world.messages(voter)]
    assert world.t("bot.onsite.head", scored=0, total=2) in text_of(ballot)
    assert "내 제안" not in text_of(ballot) and labels(ballot) == ["#1", "#2"]

    card = await world.press(voter, ballot, "#2")
    assert "남의 제안 2" in text_of(card) and labels(card)[:5] == ["1", "2", "3", "4", "5"]
    back = await world.press(voter, card, "4")
    assert world.t("bot.onsite.line", number=2, title="남의 제안 2", score=4) in text_of(back)
    assert world.srv.answered_callbacks(voter)[-1].get("text") == world.t(
        "bot.onsite.scored", score=4
    )
    card = await world.press(voter, back, "#2")
    assert "[4]" in labels(card)  # the score can be changed until the deadline
    await world.press(voter, card, "2")
    assert world.svc.onsite_ballot(voter, ROUND).scores == {"gg2017-2": 2}
    with pytest.raises(Exception, match="own"):
        world.svc.onsite_score(voter, own, 5)


async def test_an_old_code_is_refused_politely_and_a_new_one_works(world: BotWorld) -> None:
    author, late = resident(world, "제안자"), resident(world, "늦은 주민")
    submit(world, author, 1)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    old = world.services.deep_link(world.svc.onsite_code(session))
    world.clock.advance(seconds=95)  # the code rotated three times since it was shown
    refused = await world.deep_link(late, old)
    assert text_of(refused) == world.t("participation.error.onsite_code_expired")
    assert world.svc.onsite_sessions(ROUND)[0].checkins == 0
    await scan(world, late, session)
    assert world.svc.onsite_sessions(ROUND)[0].checkins == 1


@pytest.fixture
def telegram_on_test_time(world: BotWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram stamps each message with the moment it was sent: the sandbox's dates follow
    the test's clock (the service's), so that a scan's time and the code's window agree."""
    import sandbox.world

    now = SimpleNamespace(time=lambda: world.clock().timestamp(), monotonic=time.monotonic)
    monkeypatch.setattr(sandbox.world, "time", now)


async def test_a_scan_that_waited_in_the_queue_still_checks_in(
    world: BotWorld, telegram_on_test_time: None
) -> None:
    """A hall of people scanning at once: a check-in sent while its code was shown but
    applied 80 s later (the queue behind a burst, or a database outage) counts. It was
    checked when applied and refused as expired, though the person scanned the code on
    the screen; they were told to scan again."""
    author, late = resident(world, "제안자"), resident(world, "줄 선 주민")
    submit(world, author, 1)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    world.srv.open_deep_link(late, world.services.deep_link(world.svc.onsite_code(session)))
    world.clock.advance(seconds=80)  # the update waits; the code on the screen rotated twice
    await world.drain()
    said = [text_of(m) for m in world.messages(late)]
    assert world.t("participation.error.onsite_code_expired") not in said
    assert world.t("bot.onsite.checked_in") in said
    assert world.svc.onsite_sessions(ROUND)[0].checkins == 1


async def test_a_newcomer_who_scans_then_registers_is_checked_in(
    world: BotWorld, telegram_on_test_time: None
) -> None:
    """Someone new scans the hall's QR code, reads the privacy notice, agrees and picks
    their city: two minutes later the code they scanned is two windows old. The check-in
    counts from the moment of the scan; it was refused as expired after registering."""
    author = resident(world, "제안자")
    submit(world, author, 1)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    newcomer = world.user("처음 온 주민")
    await world.deep_link(newcomer, world.services.deep_link(world.svc.onsite_code(session)))
    world.clock.advance(seconds=70)  # reading what is kept and why
    agree = world.t("bot.privacy.agree")
    await world.press(newcomer, world.with_button(newcomer, agree), agree)
    world.clock.advance(seconds=50)  # finding their city on the list
    region = world.t("participation.region.suwon")
    await world.press(newcomer, world.with_button(newcomer, region), region)
    said = [text_of(m) for m in world.messages(newcomer)]
    assert world.t("participation.error.onsite_code_expired") not in said
    assert world.t("bot.onsite.checked_in") in said
    assert world.svc.onsite_sessions(ROUND)[0].checkins == 1


async def test_a_person_who_erased_their_data_and_scans_again_is_checked_in_already(
    world: BotWorld,
) -> None:
    """Checked in, then erased their data: the scan again leads through the privacy notice
    and the city, as for anyone new, and then says they are checked in already (it said
    checked in and appended a second onsite.checked_in entry under their pseudonym)."""
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    voter = resident(world, "현장 주민")
    await scan(world, voter, session)
    world.svc.erase_personal_data(voter)
    size, before = world.ledger.size(), len(world.messages(voter))
    world.clock.advance(seconds=40)
    await scan(world, voter, session)
    agree = world.t("bot.privacy.agree")
    await world.press(voter, world.with_button(voter, agree), agree)
    region = world.t("participation.region.suwon")
    await world.press(voter, world.with_button(voter, region), region)
    said = [text_of(m) for m in world.messages(voter)[before:]]
    assert world.t("bot.onsite.already_checked_in") in said
    assert world.t("bot.onsite.checked_in") not in said
    assert onsite_kinds(world) == ["onsite.checked_in"]
    assert world.ledger.size() == size + 1  # the registration's entry only
    assert world.svc.onsite_sessions(ROUND)[0].checkins == 1


async def test_a_code_opened_after_it_expired_is_still_refused(
    world: BotWorld, telegram_on_test_time: None
) -> None:
    """The scan's own time is what counts: a link kept (a photo of the screen) and opened
    95 s later is refused, however quickly it is applied."""
    author, late = resident(world, "제안자"), resident(world, "늦은 주민")
    submit(world, author, 1)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    old = world.services.deep_link(world.svc.onsite_code(session))
    world.clock.advance(seconds=95)
    refused = await world.deep_link(late, old)
    assert text_of(refused) == world.t("participation.error.onsite_code_expired")
    assert world.svc.onsite_sessions(ROUND)[0].checkins == 0


async def test_online_voter_likes_up_to_the_cap_and_takes_a_like_back(world: BotWorld) -> None:
    author, fan = resident(world, "제안자"), resident(world, "온라인 주민")
    submit(world, author, 8)
    submit(world, fan, 1, "팬의 제안")
    to_review(world)
    menu = await world.text(fan, world.t("bot.menu.review"))
    assert world.t("bot.online.head", used=0, cap=6) in text_of(menu)
    assert "팬의 제안" not in text_of(menu)
    for n in range(1, 7):
        menu = await world.press(fan, menu, world.t("bot.online.like", number=n))
    assert world.t("bot.online.head", used=6, cap=6) in text_of(menu)
    refused = await world.press(fan, menu, world.t("bot.online.like", number=7))
    assert text_of(refused) == world.t("participation.error.like_cap", cap=6)
    menu = world.with_button(fan, world.t("bot.online.unlike", number=1))
    await world.press(fan, menu, world.t("bot.online.unlike", number=1))
    menu = world.with_button(fan, world.t("bot.online.like", number=7))  # redrawn in place
    await world.press(fan, menu, world.t("bot.online.like", number=7))
    assert world.svc.online_ballot(fan, ROUND).liked == {f"gg2017-{n}" for n in range(2, 8)}


async def test_a_person_counted_on_site_cannot_count_online_and_back(world: BotWorld) -> None:
    author, hall, home = resident(world, "제안자"), resident(world, "현장"), resident(world, "집")
    submit(world, author, 2)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    ballot = await scan(world, hall, session)
    await world.press(hall, await world.press(hall, ballot, "#1"), "5")
    online = await world.text(hall, world.t("bot.menu.review"))
    refused = await world.press(hall, online, world.t("bot.online.like", number=1))
    assert text_of(refused) == world.t("participation.error.counted_onsite")
    assert world.svc.online_ballot(hall, ROUND).liked == set()

    online = await world.text(home, world.t("bot.menu.review"))
    await world.press(home, online, world.t("bot.online.like", number=1))
    ballot = await scan(world, home, session)
    refused = await world.press(home, await world.press(home, ballot, "#2"), "3")
    assert text_of(refused) == world.t("participation.error.counted_online")
    assert world.svc.onsite_ballot(home, ROUND).scores == {}


async def test_with_review_groups_the_voter_chooses_one_group_once(world: BotWorld) -> None:
    at = round_rules().deadlines
    rules = RoundRules(
        title="조별 공모",
        deadlines=Deadlines(
            submission_ends=at.submission_ends,
            endorsement_ends=at.endorsement_ends,
            review_ends=at.review_ends,
        ),
        review_group_size=2,
    )
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
    groups = world.svc.form_review_groups(OFFICIAL, "grouped")
    assert len(groups) == 2

    pick = await world.text(voter, world.t("bot.menu.review"))
    assert world.t("bot.online.pick_group", cap=6) == text_of(pick)
    ask = await world.press(voter, pick, world.t("bot.online.group_button", group=2, count=2))
    again = await world.press(voter, ask, world.t("bot.online.choose_no"))
    assert text_of(again) == text_of(pick)
    ask = await world.press(voter, again, world.t("bot.online.group_button", group=2, count=2))
    chosen = await world.press(voter, ask, world.t("bot.online.choose_yes", group=2))
    assert world.t("bot.online.head_group", group=2, used=0, cap=6) in text_of(chosen)
    shown = {line.split()[0] for line in text_of(chosen).splitlines() if line.startswith("#")}
    numbers = {f"#{int(pid.rsplit('-', 1)[1])}" for pid in groups[1]}
    assert shown == numbers
    assert world.svc.enrollment(voter, "grouped") is not None


def onsite_kinds(world: BotWorld) -> list[str]:
    """Return the kinds of the ledger's on-site check-in entries, in order."""
    ledger = world.ledger
    kinds = [json.loads(leaf)["entry"]["kind"] for leaf in ledger.entries(0, ledger.size())]
    return [kind for kind in kinds if kind == "onsite.checked_in"]


@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_scanning_the_halls_code_again_checks_in_once(world: BotWorld, locale: str) -> None:
    """In a busy hall nothing seems to happen, so people scan again: the second scan wrote a
    second onsite.checked_in entry and '현장 참석' receipt, and said welcome and sent the
    ballot all over again, while the headcount stayed 1. Now it writes nothing and says they
    are checked in already, with the ballot once more."""
    submit(world, resident(world, "제안자"), 2)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    voter = resident(world, "현장 주민", locale=locale)
    await scan(world, voter, session)
    size, receipts = world.ledger.size(), world.svc.my_receipts(voter)
    before = len(world.messages(voter))
    world.clock.advance(seconds=40)
    ballot = await scan(world, voter, session)
    told = [text_of(m) for m in world.messages(voter)[before:]]
    assert told[0] == world.t("bot.onsite.already_checked_in", locale)
    assert world.t("bot.onsite.checked_in", locale) not in told
    assert len(told) == 2 and told[1] == text_of(ballot)
    assert world.t("bot.onsite.head", locale, scored=0, total=2) in text_of(ballot)
    assert world.ledger.size() == size and world.svc.my_receipts(voter) == receipts
    assert onsite_kinds(world) == ["onsite.checked_in"]
    assert world.svc.onsite_sessions(ROUND)[0].checkins == 1


async def test_a_rescan_delivered_twice_still_writes_nothing(world: BotWorld) -> None:
    """The runtime may hand the re-scan's update to a second worker: it is answered the
    same way again and still writes nothing."""
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    session = world.svc.open_onsite_session(OFFICIAL, ROUND)
    voter = resident(world, "현장 주민")
    await scan(world, voter, session)
    size = world.ledger.size()
    before = len(world.messages(voter))
    world.clock.advance(seconds=40)
    raw = world.srv.open_deep_link(voter, world.services.deep_link(world.svc.onsite_code(session)))
    await world.drain()
    await world.feed(raw)  # the same update again
    told = [text_of(m) for m in world.messages(voter)[before:]]
    assert told[0] == told[2] == world.t("bot.onsite.already_checked_in")
    assert world.t("bot.error.generic") not in told and len(told) == 4
    assert world.ledger.size() == size and onsite_kinds(world) == ["onsite.checked_in"]


async def test_scanning_back_into_an_earlier_session_moves_there(world: BotWorld) -> None:
    """Checked in to session A, then B, then A again: that is a move back to A (its on-site
    scores go through A again), recorded and welcomed as a check-in."""
    submit(world, resident(world, "제안자"), 1)
    to_review(world)
    first = world.svc.open_onsite_session(OFFICIAL, ROUND)
    second = world.svc.open_onsite_session(OFFICIAL, ROUND)
    voter = resident(world, "현장 주민")
    await scan(world, voter, first)
    world.clock.advance(seconds=40)
    await scan(world, voter, second)
    world.clock.advance(seconds=40)
    before = len(world.messages(voter))
    await scan(world, voter, first)
    told = [text_of(m) for m in world.messages(voter)[before:]]
    assert told[0] == world.t("bot.onsite.checked_in")
    assert world.svc.onsite_ballot(voter, ROUND).session_id == first
    assert onsite_kinds(world) == ["onsite.checked_in"] * 3
