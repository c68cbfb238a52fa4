"""Before hiding, an official is told what happens to the notices about the proposal: those
not yet sent show the reason instead of its title (but to its author), and those already
delivered cannot be recalled (gateway.broadcast reads the title when each message goes out)."""

from __future__ import annotations

import pytest

from i18n.catalog import Catalog
from tests.bot.test_hide_after_results import to_results
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import text_of
from tests.support.review_day import official

pytestmark = pytest.mark.asyncio


async def test_the_confirmation_says_delivered_notices_cannot_be_recalled(world: BotWorld) -> None:
    boss = await official(world)
    ids = await to_results(world)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.hide"))
    reasons = await world.text(boss, f"#{world.svc.proposal(ids[0]).number}")
    confirm = await world.press(boss, reasons, world.t("participation.reason.personal_info"))
    said = text_of(confirm)
    assert "제목 대신" in said and "이미 발송된 알림은 회수할 수 없습니다." in said
    english = Catalog.load().text("en", "bot.admin.hide_confirm", reason="Personal data")
    assert "instead of its title" in english and "cannot be recalled" in english
