"""Arriving: /start, the privacy notice, the 시·군 keyboard, the main menu."""

from __future__ import annotations

import pytest

from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import text_of

pytestmark = pytest.mark.asyncio


async def test_a_resident_registers_with_consent_and_a_region(world: BotWorld) -> None:
    uid = world.user()
    await world.register(uid, "연천군")
    resident = world.svc.resident(uid)
    assert resident is not None and resident.registered and resident.region == "yeoncheon"
    menu = world.last(uid)
    assert text_of(menu) == world.t("bot.start.registered")
    keyboard = [b for row in menu["reply_markup"]["keyboard"] for b in row]
    assert [k if isinstance(k, str) else k["text"] for k in keyboard] == [
        world.t(f"bot.menu.{k}")
        for k in ("submit", "browse", "activity", "receipts", "help", "settings")
    ]
