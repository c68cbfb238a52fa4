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
