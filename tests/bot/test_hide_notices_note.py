"""Before hiding, an official is told what happens to the notices about the proposal: those
not yet sent show the reason instead of its title (but to its author; gateway.broadcast reads
the title when each message goes out), and those already delivered are edited to leave the
title out (gateway.notice_edits, the clock's refresh_notices)."""

from __future__ import annotations

import pytest

from i18n.catalog import Catalog
from tests.bot.test_hide_after_results import to_results
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import text_of
from tests.support.review_day import official

pytestmark = pytest.mark.asyncio


async def test_the_confirmation_says_delivered_notices_are_edited(world: BotWorld) -> None:
    boss = await official(world)
    ids = await to_results(world)
    menu = await world.text(boss, "/admin")
    await world.press(boss, menu, world.t("bot.admin.menu.hide"))
    reasons = await world.text(boss, f"#{world.svc.proposal(ids[0]).number}")
    confirm = await world.press(boss, reasons, world.t("participation.reason.personal_info"))
    said = text_of(confirm)
    assert "제목 대신" in said and "이미 발송된 알림도 잠시 뒤 제목이 빠지도록 수정됩니다." in said
    assert "회수할 수 없" not in said
    english = Catalog.load().text("en", "bot.admin.hide_confirm", reason="Personal data")
    assert "instead of its title" in english and "cannot be recalled" not in english
    assert "already delivered are edited shortly to leave the title out" in english
