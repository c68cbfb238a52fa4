"""Groups in the sandbox, through python-telegram-bot's own client: a person creates a group
(or a supergroup) and adds the bot (my_chat_member, then the new_chat_members service
message, as Telegram sends them), writes there (privacy mode: only what is meant for the bot
reaches it), and the bot writes there and leaves (leaveChat)."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest
from telegram.error import Forbidden

from sandbox.server import SandboxServer
from tests.sandbox.conftest import TOKEN

pytestmark = pytest.mark.asyncio


def person(sandbox: SandboxServer, name: str = "민지") -> int:
    return int(sandbox.users.create(first_name=name, language_code="ko")["id"])


async def test_a_group_has_a_negative_id_and_a_supergroup_one_of_minus_100(
    sandbox: SandboxServer,
) -> None:
    uid = person(sandbox)
    group = sandbox.create_group(uid, "연천 주민 모임")
    supergroup = sandbox.create_group(uid, "경기 큰 모임", supergroup=True)
    assert group["type"] == "group" and group["title"] == "연천 주민 모임"
    assert int(str(group["id"])) < 0 and not str(group["id"]).startswith("-100")
    assert supergroup["type"] == "supergroup" and str(supergroup["id"]).startswith("-100")
    assert group["id"] != supergroup["id"]


async def test_adding_the_bot_sends_my_chat_member_then_new_chat_members(
    bot: Bot, sandbox: SandboxServer
) -> None:
    uid = person(sandbox)
    other = person(sandbox, "준호")
    group = sandbox.create_group(uid, "연천 주민 모임", members=[other])
    sandbox.add_bot_to_group(uid, int(str(group["id"])))
    updates = await bot.get_updates(timeout=0)
    assert len(updates) == 2
    change, joined = updates[0].my_chat_member, updates[1].message
    assert change is not None and joined is not None
    assert change.chat.id == group["id"] and change.chat.type == "group"
    assert change.chat.title == "연천 주민 모임"
    assert change.from_user.id == uid
    assert change.old_chat_member.status == ChatMemberStatus.LEFT
    assert change.new_chat_member.status == ChatMemberStatus.MEMBER
    assert change.new_chat_member.user.id == bot.id
    assert joined.chat.id == group["id"] and joined.from_user.id == uid
    assert [u.id for u in joined.new_chat_members] == [bot.id]
    assert joined.new_chat_members[0].is_bot
    assert updates[1].update_id == updates[0].update_id + 1


async def test_only_members_add_the_bot_and_only_once(sandbox: SandboxServer) -> None:
    uid, stranger = person(sandbox), person(sandbox, "낯선이")
    group_id = int(str(sandbox.create_group(uid, "모임")["id"]))
    with pytest.raises(ValueError, match="not a member"):
        sandbox.add_bot_to_group(stranger, group_id)
    sandbox.add_bot_to_group(uid, group_id)
    with pytest.raises(ValueError, match="already"):
        sandbox.add_bot_to_group(uid, group_id)


async def test_allowed_updates_apply_to_the_group_updates(bot: Bot, sandbox: SandboxServer) -> None:
    await bot.get_updates(timeout=0, allowed_updates=["message"])
    uid = person(sandbox)
    sandbox.add_bot_to_group(uid, int(str(sandbox.create_group(uid, "모임")["id"])))
    updates = await bot.get_updates(timeout=0)
    assert [u.message is not None for u in updates] == [True]
    assert updates[0].message.new_chat_members


async def test_group_messages_reach_the_bot_as_privacy_mode_lets_them(
    bot: Bot, sandbox: SandboxServer
) -> None:
    """Privacy mode (getMe: can_read_all_group_messages false): commands for the bot,
    replies to its messages and service messages reach it; other talk does not."""
    uid = person(sandbox)
    group_id = int(str(sandbox.create_group(uid, "모임")["id"]))
    sandbox.add_bot_to_group(uid, group_id)
    last = (await bot.get_updates(timeout=0))[-1].update_id
    sandbox.send_group_text(uid, group_id, "안녕하세요 여러분")
    sandbox.send_group_text(uid, group_id, "/my@ttabok_sandbox_bot")
    sandbox.send_group_text(uid, group_id, "/help")
    sandbox.send_group_text(uid, group_id, "/help@another_bot")
    sent = await bot.send_message(group_id, "저는 개인 대화에서만 일해요")
    sandbox.send_group_text(uid, group_id, "그렇군요", reply_to=sent.message_id)
    updates = await bot.get_updates(offset=last + 1, timeout=0)
    texts = [u.message.text for u in updates]
    assert texts == ["/my@ttabok_sandbox_bot", "/help", "그렇군요"]
    first = updates[0].message
    assert first.chat.id == group_id and first.chat.type == "group"
    assert first.from_user.id == uid and first.entities[0].type == "bot_command"
    assert updates[2].message.reply_to_message.message_id == sent.message_id
    seen = [m["text"] for m in sandbox.messages(group_id, incoming=True)]
    assert "안녕하세요 여러분" in seen  # in the group all the same


async def test_send_message_to_a_group_the_bot_is_in_and_not_in(
    bot: Bot, sandbox: SandboxServer
) -> None:
    uid = person(sandbox)
    group_id = int(str(sandbox.create_group(uid, "모임")["id"]))
    supergroup_id = int(str(sandbox.create_group(uid, "큰 모임", supergroup=True)["id"]))
    with pytest.raises(Forbidden, match="^Forbidden: bot is not a member of the group chat$"):
        await bot.send_message(group_id, "안녕하세요")
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await bot.send_message(supergroup_id, "안녕하세요")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(-4_999_999_999, "안녕하세요")
    sandbox.add_bot_to_group(uid, group_id)
    sent = await bot.send_message(group_id, "안녕하세요")
    assert sent.chat.type == "group" and sent.from_user.id == bot.id
    assert [m["text"] for m in sandbox.messages(group_id)] == ["안녕하세요"]


async def test_leave_chat_leaves_the_group_with_my_chat_member_left(
    bot: Bot, sandbox: SandboxServer
) -> None:
    uid = person(sandbox)
    group_id = int(str(sandbox.create_group(uid, "모임", supergroup=True)["id"]))
    sandbox.add_bot_to_group(uid, group_id)
    last = (await bot.get_updates(timeout=0))[-1].update_id
    assert await bot.leave_chat(group_id) is True
    updates = await bot.get_updates(offset=last + 1, timeout=0)
    assert len(updates) == 1
    change = updates[0].my_chat_member
    assert change.chat.id == group_id and change.from_user.id == bot.id
    assert change.old_chat_member.status == ChatMemberStatus.MEMBER
    assert change.new_chat_member.status == ChatMemberStatus.LEFT
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await bot.send_message(group_id, "아직 있나요?")
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await bot.leave_chat(group_id)
    sandbox.send_group_text(uid, group_id, "/my@ttabok_sandbox_bot")
    assert await bot.get_updates(offset=last + 2, timeout=0) == ()  # no longer reaches it
    sandbox.add_bot_to_group(uid, group_id)  # and may be added again
    assert len(await bot.get_updates(offset=last + 2, timeout=0)) == 2


async def test_leave_chat_refuses_private_and_unknown_chats(
    bot: Bot, sandbox: SandboxServer, resident: int
) -> None:
    with pytest.raises(BadRequest, match="Chat member status can't be changed in private chats"):
        await bot.leave_chat(resident)
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.leave_chat(-4_999_999_999)


async def test_groups_survive_a_restart(tmp_path: object) -> None:
    first = SandboxServer(data_dir=str(tmp_path)).start()
    uid = int(first.users.create(first_name="유지")["id"])
    group_id = int(str(first.create_group(uid, "모임")["id"]))
    first.add_bot_to_group(uid, group_id)
    first.send_group_text(uid, group_id, "여기요")
    first.stop()
    second = SandboxServer(data_dir=str(tmp_path))
    try:
        texts = [m["text"] for m in second.messages(group_id, incoming=True)]
        assert texts[-1] == "여기요"
        assert second.create_group(uid, "다른 모임")["id"] != group_id
        assert second.groups(uid)[0]["bot_member"] is True
    finally:
        second.world.stop()


async def test_what_people_do_in_a_group_before_the_bot_connects_waits_for_it(
    sandbox: SandboxServer,
) -> None:
    """The web chat acts before the bot's first call (the default bot has no token yet):
    the join and a command for it are still queued for it."""
    uid = person(sandbox)
    group_id = int(str(sandbox.create_group(uid, "모임")["id"]))
    sandbox.add_bot_to_group(uid, group_id)
    sandbox.send_group_text(uid, group_id, "/help@ttabok_sandbox_bot")
    async with Bot(
        TOKEN, base_url=sandbox.api_base_url, base_file_url=sandbox.file_base_url
    ) as late:
        updates = await late.get_updates(timeout=0)
    assert [u.my_chat_member is not None for u in updates] == [True, False, False]
    assert updates[2].message.text == "/help@ttabok_sandbox_bot"


async def test_get_chat_and_chat_member_of_a_group(bot: Bot, sandbox: SandboxServer) -> None:
    uid, outsider = person(sandbox), person(sandbox, "바깥")
    group_id = int(str(sandbox.create_group(uid, "모임")["id"]))
    sandbox.add_bot_to_group(uid, group_id)
    chat = await bot.get_chat(group_id)
    assert (chat.type, chat.title) == ("group", "모임")
    assert (await bot.get_chat_member(group_id, uid)).status == ChatMemberStatus.MEMBER
    assert (await bot.get_chat_member(group_id, outsider)).status == ChatMemberStatus.LEFT
    assert (await bot.get_chat_member(group_id, bot.id)).status == ChatMemberStatus.MEMBER
