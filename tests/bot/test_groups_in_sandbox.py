"""The real bot in a sandbox group: added to a group, or written to in a group it was added to
before, it says once that it works in private chats and leaves (on_member, on_group), through
the sandbox's own groups and leaveChat (no stand-ins), with the updates polled as the gateway
polls them (allowed_updates = UPDATE_KINDS)."""

from __future__ import annotations

import pytest
import structlog

from bot import UPDATE_KINDS
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import text_of

pytestmark = pytest.mark.asyncio


def notice(world: BotWorld, locale: str) -> str:
    return world.t("bot.group.private_only", locale, link=f"https://t.me/{world.srv.bot_username}")


async def drain(world: BotWorld) -> None:
    """Process every pending update, polled with the gateway's allowed_updates."""
    while True:
        updates = await world.app.bot.get_updates(
            offset=world.offset, timeout=0, allowed_updates=list(UPDATE_KINDS)
        )
        if not updates:
            return
        for update in updates:
            world.offset = update.update_id + 1
            await world.app.process_update(update)


@pytest.mark.parametrize("supergroup", [False, True])
@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_added_to_a_group_the_bot_posts_the_notice_and_leaves(
    world: BotWorld, supergroup: bool, locale: str
) -> None:
    uid = world.user(language_code=locale)
    await world.register(uid, "Suwon-si" if locale == "en" else "수원시", locale)
    before = len(world.messages(uid))
    other = world.user("준호")
    group = world.srv.create_group(uid, "연천 주민 모임", [other], supergroup=supergroup)
    group_id = int(str(group["id"]))
    world.srv.add_bot_to_group(uid, group_id)
    with structlog.testing.capture_logs() as logs:
        await drain(world)
    said = [text_of(m) for m in world.srv.messages(group_id) if text_of(m)]
    assert said == [notice(world, locale)]
    assert not world.srv.groups(uid)[0]["bot_member"]  # it left
    history = world.srv.messages(group_id, incoming=True)
    assert history[-1]["left_chat_member"]["username"] == world.srv.bot_username
    assert len(world.messages(uid)) == before  # nothing in the adder's private chat
    assert [e["event"] for e in logs if e["event"].startswith("group_")] == ["group_left"]
    assert not [e for e in logs if e["log_level"] in ("error", "warning")], logs
    resident = world.svc.resident(uid)
    assert resident is not None and resident.subscribed  # leaving a group is no blocking


async def test_a_command_in_a_group_the_bot_was_added_to_before_gets_the_notice(
    world: BotWorld,
) -> None:
    """The bot was added before it left groups (its join was never processed): a resident's
    /my there gets the notice in the group, no personal answer, and the bot leaves."""
    uid = world.user()
    await world.register(uid)
    before = len(world.messages(uid))
    group_id = int(str(world.srv.create_group(uid, "모임")["id"]))
    joined = world.srv.add_bot_to_group(uid, group_id)
    world.offset = int(str(joined[-1]["update_id"])) + 1  # handled by an older bot
    world.srv.send_group_text(uid, group_id, "다들 안녕하세요")  # privacy mode: not for the bot
    world.srv.send_group_text(uid, group_id, f"/my@{world.srv.bot_username}")
    with structlog.testing.capture_logs() as logs:
        await drain(world)
    said = [text_of(m) for m in world.srv.messages(group_id) if text_of(m)]
    assert said == [notice(world, "ko")]
    assert not world.srv.groups(uid)[0]["bot_member"]
    assert len(world.messages(uid)) == before
    assert not [e for e in logs if e["log_level"] in ("error", "warning")], logs
    world.srv.send_group_text(uid, group_id, f"/my@{world.srv.bot_username}")
    await drain(world)  # gone: nothing reaches it, nothing more is said
    assert [text_of(m) for m in world.srv.messages(group_id) if text_of(m)] == said


async def test_a_command_written_right_after_adding_the_bot_is_no_warning(
    world: BotWorld,
) -> None:
    """Someone adds the bot and at once writes /start@bot there: the bot takes the join, says
    so and leaves; then the command (queued before it left) finds it gone. Telegram refuses
    the notice and leaveChat (403, not a member): the bot is out already, which is what it
    wanted, so nothing is logged as a warning (an operator would look for a failure)."""
    uid = world.user()
    group_id = int(str(world.srv.create_group(uid, "모임")["id"]))
    world.srv.add_bot_to_group(uid, group_id)
    world.srv.send_group_text(uid, group_id, f"/start@{world.srv.bot_username}")
    with structlog.testing.capture_logs() as logs:
        await drain(world)
    said = [text_of(m) for m in world.srv.messages(group_id) if text_of(m)]
    assert said == [notice(world, "ko")]
    assert not world.srv.groups(uid)[0]["bot_member"]
    events = [e["event"] for e in logs if e["event"].startswith("group_")]
    assert events[0] == "group_left" and "group_leave_failed" not in events, logs
    assert not [e for e in logs if e["log_level"] in ("error", "warning")], logs
