"""Arriving: /start, the privacy notice, the 시·군 keyboard, the main menu."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import labels
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


def sticker(world: BotWorld, uid: int) -> dict[str, Any]:
    """Return a raw update: ``uid`` sends a sticker (the sandbox's chat sends none)."""
    person = world.srv.users.get(uid)
    chat = {"id": uid, "type": "private", "first_name": person["first_name"]}
    size = {"width": 512, "height": 512, "is_animated": False, "is_video": False}
    return {
        "update_id": 900_000_000 + uid % 1000,
        "message": {
            "message_id": 90_000,
            "date": int(time.time()),
            "chat": chat,
            "from": person,
            "sticker": {"file_id": "CAACAgIAAx", "file_unique_id": "AgAD", "type": "regular"}
            | size,
        },
    }


@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_a_photo_or_sticker_where_a_button_is_expected_is_pointed_at_the_buttons(
    world: BotWorld, locale: str
) -> None:
    """The region and field steps wait for a button: whatever else arrives (a photo, a
    sticker) is answered with a text that fits it, not 'instead of typing'."""
    uid = world.user("Alex" if locale == "en" else "민지", language_code=locale)
    await world.text(uid, "/start")
    agree = world.t("bot.privacy.agree", locale)
    await world.press(uid, world.with_button(uid, agree), agree)
    region = world.t("bot.start.press_region", locale)
    reply = await world.photo(uid)
    assert text_of(reply) == region and labels(reply)
    await world.feed(sticker(world, uid))
    assert text_of(world.last(uid)) == region
    assert world.svc.get_conversation(uid).step == "start.region"
    await world.press(uid, world.last(uid), "Suwon-si" if locale == "en" else "수원시")
    await world.text(uid, world.t("bot.menu.submit", locale))
    await world.text(uid, "마을 공동 텃밭 만들기")
    await world.text(uid, "빈 땅에 주민이 함께 가꾸는 텃밭을 만들어요.")
    field = world.t("bot.submit.press_category", locale)
    reply = await world.photo(uid)
    assert text_of(reply) == field and labels(reply)
    assert world.svc.get_conversation(uid).step == "submit.category"
    for said in (region, field):
        assert "글 대신" not in said and "instead of" not in said.lower()


async def test_a_redelivered_consent_press_is_no_failure(world: BotWorld) -> None:
    """A worker that stopped after redrawing the notice ('thank you for agreeing') leaves
    the press to another worker, whose redraw changes nothing: Telegram answers 'message is
    not modified'. The person is not told something went wrong and can still register."""
    uid = world.user()
    await world.text(uid, "/start")
    notice = world.last(uid)
    tap = world.srv.press(uid, notice["message_id"], world.data_of(notice, "✅"))
    await world.drain()
    await world.feed(tap)  # the runtime hands the same update to a second worker
    assert world.t("bot.error.generic") not in [text_of(m) for m in world.messages(uid)]
    agreed = next(m for m in world.messages(uid) if m["message_id"] == notice["message_id"])
    assert text_of(agreed) == world.t("bot.privacy.agreed")
    assert world.svc.get_conversation(uid).step == "start.region"
    regions = world.last(uid)
    assert text_of(regions) == world.t("bot.start.choose_region")
    await world.press(uid, regions, labels(regions)[0])
    resident = world.svc.resident(uid)
    assert resident is not None and resident.registered
