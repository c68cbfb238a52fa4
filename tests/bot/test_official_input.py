"""Clumsy or hostile input on the officials' screens gets a polite answer and loses nothing:
numbers too big for the database or written in odd digits, long notices, stickers."""

from __future__ import annotations

import pytest

from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import text_of
from tests.support.review_day import official
from tests.support.review_day import resident
from tests.support.review_day import submit
from tests.support.review_day import to_review

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("123456789012345678901234567890", "participation.error.proposal_not_found"),
        ("#99999999999", "participation.error.proposal_not_found"),
        ("²", "bot.admin.number_needed"),
    ],
)
async def test_a_huge_or_odd_proposal_number_is_not_found_not_an_error(
    world: BotWorld, typed: str, key: str
) -> None:
    """A number past the database's integers (or a superscript digit, which str.isdigit
    takes and int() refuses) said 'something went wrong' on the hiding and paper-tally
    screens; it is a proposal that does not exist (or no number), and the step stays."""
    boss = await official(world)
    pid = submit(world, resident(world, "제안자"), 1)[0]
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.hide"))
    assert text_of(await world.text(boss, typed)) == world.t(key)
    assert world.t("participation.reason.spam") in str(await world.text(boss, "1"))

    to_review(world)
    world.svc.open_onsite_session(OFFICIAL, ROUND)
    menu = await world.text(boss, "/admin")
    papers = await world.press(boss, menu, world.t("bot.admin.menu.paper"))
    pick = await world.press(boss, papers, world.t("bot.admin.paper_new"))
    await world.press(boss, pick, "오전 9:00")
    assert text_of(await world.text(boss, typed)) == world.t(key)
    asked = await world.text(boss, "1")
    assert text_of(asked) == world.t("bot.admin.paper_ask_counts", number=1, scale=5)
    assert pid


async def test_a_notice_over_the_limit_says_how_long_it_is_and_counts_agree(
    world: BotWorld,
) -> None:
    """A 4,000-character notice (or a sticker) is refused with its length and the limit
    written 3,500; the step stays, and the English preview counts '1 person', not
    '1 people'."""
    from tests.bot.test_official_english import english_official

    boss = await english_official(world)
    en = lambda key, **p: world.t(key, "en", **p)  # noqa: E731
    await world.press(boss, await world.text(boss, "/admin"), en("bot.admin.menu.broadcast"))
    assert text_of(world.last(boss)) == en("bot.admin.bc_ask", max="3,500")
    assert "3,500 characters" in text_of(world.last(boss))
    said = text_of(await world.text(boss, "x" * 4000))
    assert said == en("bot.admin.bc_too_long", length="4,000", max="3,500")
    assert "4,000" in said and "3,500" in said
    world.srv.send_contact(boss)  # not text at all
    await world.drain()
    assert text_of(world.last(boss)) == en("bot.admin.bc_invalid", max="3,500")
    audience = await world.text(boss, "<b>Tea & cake</b> at $5, =HALL")
    await world.press(boss, audience, en("bot.admin.bc_all"))
    head = text_of(world.messages(boss)[-3])
    assert head.startswith("To: all subscribers (1 person)")
    shown = text_of(world.messages(boss)[-2])
    assert shown.endswith("<b>Tea & cake</b> at $5, =HALL")  # as typed, not as markup


async def test_a_notice_telegram_split_in_three_is_refused_whole_not_taken_from_its_end(
    world: BotWorld,
) -> None:
    """Telegram's apps send a text over 4,096 characters as several messages. The first
    part of a 9,089-character notice is refused as too long; the parts after it (4,039 and
    1,009 characters, cut at line breaks) were then taken as the notice: the last 1,009
    characters would go out to every subscriber. Each part after the first is now refused
    as the rest of that text, the step stays, and the next notice is taken."""
    boss = await official(world)
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.broadcast"))
    before = len(world.messages(boss))
    world.srv.send_text(boss, "\n".join(["공지 문장입니다. " * 10] * 90))  # 9,089 characters
    await world.drain()
    parts = [m for m in world.srv.messages(boss, incoming=True) if not m["outgoing"]]
    assert [len(m["text"]) for m in parts[-3:]] == [4039, 4039, 1009]  # cut at line breaks
    said = [text_of(m) for m in world.messages(boss)[before:]]
    assert said == [
        world.t("bot.admin.bc_too_long", length="4,038", max="3,500"),
        world.t("bot.error.rest_of_long"),
        world.t("bot.error.rest_of_long"),
    ]
    assert world.svc.get_conversation(boss).step == "admin.bc.text"
    audience = await world.text(boss, "내일 오전 10시에 현장 심사를 시작합니다.")
    assert text_of(audience) == world.t("bot.admin.bc_audience")
    assert (
        world.svc.get_conversation(boss).data["text"] == "내일 오전 10시에 현장 심사를 시작합니다."
    )


async def test_a_notice_whose_first_part_fits_is_not_sent_without_its_rest(
    world: BotWorld,
) -> None:
    """A 4,501-character notice with a paragraph break after 3,000 characters: Telegram's
    app cuts it there, and the first part (3,000 characters) fits the 3,500 limit. It was
    taken as the whole notice (the audience question came) and the last 1,500 characters
    got 'How can I help?': a press on 'All' would have sent two thirds of the notice to
    every subscriber. When the rest follows, the notice is now refused whole: the step
    asks for the text again and the audience buttons no longer send anything."""
    boss = await official(world)
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.broadcast"))
    before = len(world.messages(boss))
    world.srv.send_text(boss, "가" * 3000 + "\n" + "나" * 1500)
    await world.drain()
    parts = [m for m in world.srv.messages(boss, incoming=True) if not m["outgoing"]]
    assert [len(m["text"]) for m in parts[-2:]] == [3000, 1500]  # cut at the line break
    answer = world.messages(boss)[before:]
    assert [text_of(m) for m in answer] == [
        world.t("bot.admin.bc_audience"),
        world.t("bot.error.rest_of_taken"),
    ]
    stored = world.svc.get_conversation(boss)
    assert stored.step == "admin.bc.text" and "text" not in stored.data
    await world.press(boss, answer[0], world.t("bot.admin.bc_all"))
    assert text_of(world.last(boss)) == world.t("participation.error.button_expired")
    assert world.svc.get_conversation(boss).step == "admin.bc.text"
    audience = await world.text(boss, "내일 오전 10시에 현장 심사를 시작합니다.")
    assert text_of(audience) == world.t("bot.admin.bc_audience")


async def test_a_notice_cut_after_a_banner_of_emoji_is_not_sent_without_its_rest(
    world: BotWorld,
) -> None:
    """Telegram's apps count UTF-16 code units, an emoji outside the BMP two: a banner of
    22 lines of flower emoji (1,121 characters, 2,221 units) over a 2,500-character notice
    is cut after the banner, in the limit's second half. The bot took a part under 2,048
    characters as too short to be cut: the banner alone was taken as the notice and the
    rest got 'How can I help?'. The rest now refuses the notice whole, as for Hangul."""
    boss = await official(world)
    await world.press(boss, await world.text(boss, "/admin"), world.t("bot.admin.menu.broadcast"))
    before = len(world.messages(boss))
    banner = "\n".join(["🌱🌸🌼🌻🌷" * 10] * 22)
    world.srv.send_text(boss, banner + "\n" + "가" * 2500)
    await world.drain()
    parts = [m for m in world.srv.messages(boss, incoming=True) if not m["outgoing"]]
    assert [m["text"] for m in parts[-2:]] == [banner, "가" * 2500]  # cut after the banner
    answer = world.messages(boss)[before:]
    assert [text_of(m) for m in answer] == [
        world.t("bot.admin.bc_audience"),
        world.t("bot.error.rest_of_taken"),
    ]
    stored = world.svc.get_conversation(boss)
    assert stored.step == "admin.bc.text" and "text" not in stored.data
