"""An official who hides a proposal after the results are out is told that the public
channel's results posts will show the reason instead of its title (the clock edits them,
gateway.results_edits); before the publication there is no such post, and nothing is said."""

from __future__ import annotations

import pytest

from tests.bot.test_official_publish import to_results
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import text_of
from tests.support.review_day import current
from tests.support.review_day import official

pytestmark = pytest.mark.asyncio


async def hide_through_the_bot(world: BotWorld, boss: int, number: int) -> str:
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.hide"))
    reasons = await world.text(boss, f"#{number}")
    confirm = await world.press(boss, reasons, world.t("participation.reason.personal_info"))
    await world.press(boss, confirm, world.t("bot.admin.hide_yes"))
    return text_of(current(world, boss, confirm))


@pytest.mark.parametrize("published", [True, False])
async def test_hiding_after_the_results_says_the_channel_posts_follow(
    world: BotWorld, published: bool
) -> None:
    boss = await official(world)
    ids = await to_results(world)
    if published:
        world.svc.publish_results(OFFICIAL, ROUND)
    said = await hide_through_the_bot(world, boss, world.svc.proposal(ids[0]).number)
    assert world.svc.proposal(ids[0]).hidden
    hidden = world.t("bot.admin.hidden", reason=world.t("participation.reason.personal_info"))
    note = world.t("bot.admin.hidden_channel")
    assert said == (hidden + "\n" + note if published else hidden)
    assert note.endswith("니다.")  # an official's screen: 합쇼체
