"""Chats other than a person's private chat with the bot, as Telegram delivers them: the bot
added to a group or a supergroup, commands written there, other admins' posts in the public
channel; a person who blocks the bot and comes back; what a person does to their chat with
the bot (pins, wallpapers), which Telegram sends as messages.

The group side of Telegram is played here by hand (``into_group``, ``group_text`` and a
stand-in for leaveChat that records what was left), so a test can shape each update and see
each call; tests/bot/test_groups_in_sandbox.py runs the bot through the sandbox's own groups
and leaveChat.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from bot import MemoryRateLimiter
from sandbox.errors import forbidden
from sandbox.model import ChatRec
from sandbox.model import message_api
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import text_of

pytestmark = pytest.mark.asyncio

GROUP = -4_000_000_123
SUPERGROUP = -1_000_222_333_444
PUBLIC_GROUP = -4_000_000_777


@pytest.fixture
def left(world: BotWorld) -> Iterator[list[int]]:
    """The chats the bot left (leaveChat, which the sandbox does not know, played here)."""
    chats: list[int] = []

    def leave_chat(_world: Any, _bot: Any, p: Any) -> object:
        chats.append(int(p.chat_id()))
        return True

    methods = world.srv.app.extensions["sandbox"].methods
    methods["leavechat"] = leave_chat
    yield chats
    methods.pop("leavechat", None)


def bot_member(world: BotWorld, status: str) -> dict[str, Any]:
    return {"status": status, "user": world.srv.world.bot().to_api()}


def into_group(world: BotWorld, adder: int, chat_id: int, kind: str = "group") -> None:
    """``adder`` adds the bot to a new group (Telegram sends my_chat_member, left -> member)."""
    w = world.srv.world
    with w.lock:
        bot = w.bot()
        bot.chats[chat_id] = ChatRec(id=chat_id, type=kind, title="연천 주민 모임")
        payload = {
            "chat": {"id": chat_id, "type": kind, "title": "연천 주민 모임"},
            "from": w.user(adder).to_api(),
            "date": int(time.time()),
            "old_chat_member": bot_member(world, "left"),
            "new_chat_member": bot_member(world, "member"),
        }
        w.enqueue(bot, "my_chat_member", payload)


def group_text(world: BotWorld, uid: int, chat_id: int, text: str, kind: str = "group") -> None:
    """``uid`` writes ``text`` in a group the bot is in (since before: no my_chat_member)."""
    w = world.srv.world
    with w.lock:
        bot = w.bot()
        chat = bot.chats.setdefault(chat_id, ChatRec(id=chat_id, type=kind, title="모임"))
        msg = w.new_message(chat, outgoing=False, sender_id=uid)
        msg.text = text
        if text.startswith("/"):
            msg.entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        w.add_message(bot, chat, msg)
        w.enqueue(bot, "message", message_api(msg, chat, bot, w.users))


def notice(world: BotWorld, locale: str = "ko") -> str:
    return world.t("bot.group.private_only", locale, link=f"https://t.me/{world.srv.bot_username}")


@pytest.mark.parametrize("kind, chat_id", [("group", GROUP), ("supergroup", SUPERGROUP)])
@pytest.mark.parametrize("locale", ["ko", "en"])
async def test_added_to_a_group_the_bot_says_it_works_in_private_chats_and_leaves(
    world: BotWorld, left: list[int], kind: str, chat_id: int, locale: str
) -> None:
    uid = world.user(language_code=locale)
    await world.register(uid, "Suwon-si" if locale == "en" else "수원시", locale)
    before = len(world.messages(uid))
    into_group(world, uid, chat_id, kind)
    with structlog.testing.capture_logs() as logs:
        await world.drain()
    assert [text_of(m) for m in world.messages(chat_id)] == [notice(world, locale)]
    assert left == [chat_id]
    assert len(world.messages(uid)) == before  # nothing in the adder's private chat
    assert not [e for e in logs if e["log_level"] in ("error", "warning")], logs


async def test_a_command_in_a_group_the_bot_was_in_before_gets_no_personal_answer(
    world: BotWorld, left: list[int]
) -> None:
    """A registered resident types /my (their proposals and receipts) in a group the bot was
    added to before it left groups: the group sees the notice only, and the bot leaves."""
    uid = world.user()
    await world.register(uid)
    before = len(world.messages(uid))
    group_text(world, uid, GROUP, f"/my@{world.srv.bot_username}")
    await world.drain()
    assert [text_of(m) for m in world.messages(GROUP)] == [notice(world)]
    assert left == [GROUP]
    assert len(world.messages(uid)) == before


async def test_a_group_the_bot_may_not_write_in_is_left_and_no_one_is_marked_blocked(
    world: BotWorld, left: list[int]
) -> None:
    """Telegram refuses the notice (the group lets no one but admins write): the bot still
    leaves, and the person who added it still gets their notices (a 403 of a group is not
    the person blocking the bot)."""
    uid = world.user()
    await world.register(uid)
    methods = world.srv.app.extensions["sandbox"].methods
    send = methods["sendmessage"]

    def refuse_in_group(w: Any, bot: Any, p: Any) -> object:
        if p.chat_id() == GROUP:
            raise forbidden("bot is not a member of the group chat")
        return send(w, bot, p)

    methods["sendmessage"] = refuse_in_group
    try:
        into_group(world, uid, GROUP)
        await world.drain()
    finally:
        methods["sendmessage"] = send
    assert left == [GROUP]
    resident = world.svc.resident(uid)
    assert resident is not None and resident.subscribed


async def test_other_admins_posts_in_the_public_channel_get_no_reply(
    world: BotWorld, left: list[int]
) -> None:
    """The bot is an admin of the channel it posts the ledger's digests to: another admin's
    post, its edit and the bot's own promotion there cause no reply, no error, no leaving."""
    w = world.srv.world
    with w.lock:
        bot = w.bot()
        channel = w.chat_for_bot(bot, "@gg_ledger")
        msg = w.new_message(channel, outgoing=False, sender_id=None)
        msg.text = "오늘 공개된 블록을 확인해 주세요"
        w.add_message(bot, channel, msg)
        post = message_api(msg, channel, bot, w.users)
        admin = w.create_user("관리자").to_api()
        promoted = {
            "chat": post["chat"], "from": admin, "date": int(time.time()),
            "old_chat_member": bot_member(world, "member"),
            "new_chat_member": {**bot_member(world, "administrator"), "can_be_edited": False,
                                "is_anonymous": False, "can_manage_chat": True,
                                "can_delete_messages": True, "can_manage_video_chats": False,
                                "can_restrict_members": True, "can_promote_members": False,
                                "can_change_info": True, "can_invite_users": True,
                                "can_post_stories": False, "can_edit_stories": False,
                                "can_delete_stories": False, "can_post_messages": True},
        }  # fmt: skip
        w.enqueue(bot, "my_chat_member", promoted)
    for kind, value in [("channel_post", post), ("edited_channel_post", {**post, "edit_date": 2})]:
        await world.feed({"update_id": 1, kind: value})  # not asked for (UPDATE_KINDS): fed
    with structlog.testing.capture_logs() as logs:
        await world.drain()
    assert world.srv.channel_posts("@gg_ledger") == []
    assert left == []
    assert not [e for e in logs if e["log_level"] in ("error", "warning")], logs


def public_chat(
    world: BotWorld, chat_id: int = SUPERGROUP, kind: str = "supergroup", username: str = ""
) -> dict[str, Any]:
    """The public chat as a (super)group the bot is in: return its ``Chat`` object."""
    w = world.srv.world
    with w.lock:
        title = "경기 장부"
        w.bot().chats[chat_id] = ChatRec(id=chat_id, type=kind, title=title, username=username)
        chat: dict[str, Any] = {"id": chat_id, "type": kind, "title": title}
        return {**chat, "username": username} if username else chat


def promoted_in(world: BotWorld, chat: dict[str, Any], by: int) -> None:
    """``by`` makes the bot an admin of ``chat`` (my_chat_member, member -> administrator)."""
    w = world.srv.world
    with w.lock:
        change = {
            "chat": chat, "from": w.user(by).to_api(), "date": int(time.time()),
            "old_chat_member": bot_member(world, "member"),
            "new_chat_member": {**bot_member(world, "administrator"), "can_be_edited": False,
                                "is_anonymous": False, "can_manage_chat": True,
                                "can_delete_messages": True, "can_manage_video_chats": False,
                                "can_restrict_members": True, "can_promote_members": False,
                                "can_change_info": True, "can_invite_users": True,
                                "can_post_stories": False, "can_edit_stories": False,
                                "can_delete_stories": False},
        }  # fmt: skip
        w.enqueue(w.bot(), "my_chat_member", change)


@pytest.mark.parametrize(
    "configured, kind, chat_id, username",
    [
        ("@gg_ledger", "supergroup", SUPERGROUP, "gg_ledger"),
        ("@GG_Ledger", "supergroup", SUPERGROUP, "gg_ledger"),  # usernames ignore case
        (str(SUPERGROUP), "supergroup", SUPERGROUP, ""),
        (str(PUBLIC_GROUP), "group", PUBLIC_GROUP, ""),
    ],
)
async def test_the_public_chat_is_never_left_whatever_its_type(
    tmp_path: Path, configured: str, kind: str, chat_id: int, username: str
) -> None:
    """PUBLIC_CHANNEL may name a group or supergroup, by @name or by id: the bot posts the
    digests there as an admin and sees every message of its members. Its promotion, a
    member's text and a command there each got the 'I help only in a private chat' notice,
    and the bot left the chat the ledger's digests go to. Nothing there is answered now,
    and it stays."""
    async with BotWorld(tmp_path, public_chat=configured) as world:
        calls: list[int] = []
        methods = world.srv.app.extensions["sandbox"].methods
        methods["leavechat"] = lambda _w, _b, p: calls.append(int(p.chat_id())) or True
        chat = public_chat(world, chat_id, kind, username)
        uid = world.user()
        await world.register(uid)
        before = len(world.messages(uid))
        promoted_in(world, chat, uid)
        group_text(world, uid, chat_id, "블록 123의 요약을 확인했어요", kind)
        group_text(world, uid, chat_id, f"/start@{world.srv.bot_username}", kind)
        with structlog.testing.capture_logs() as logs:
            await world.drain()
        assert world.messages(chat_id) == [] and calls == []
        assert len(world.messages(uid)) == before
        assert not [e for e in logs if e["log_level"] in ("error", "warning")], logs
        into_group(world, uid, GROUP)  # any other group is still told and left
        await world.drain()
        assert [text_of(m) for m in world.messages(GROUP)] == [notice(world)]
        assert calls == [GROUP]


async def test_writing_in_the_public_chat_costs_no_rate_limit_tokens(tmp_path: Path) -> None:
    """Messages in the public (super)group are nobody's requests to the bot: a resident who
    talks there is not slowed down in their private chat."""
    clock = Ticks()
    limiter = MemoryRateLimiter(rate=1.0, burst=2, monotonic=clock)
    async with BotWorld(tmp_path, limiter=limiter) as world:
        uid = world.user()
        await world.register(uid)
        public_chat(world, username="gg_ledger")
        clock.step = 0.0  # from here on the bucket does not refill
        for n in range(3):
            group_text(world, uid, SUPERGROUP, f"블록 {n} 확인", "supergroup")
        await world.drain()
        reply = await world.text(uid, "/help")
        assert text_of(reply) != world.t("bot.slow_down")
        assert world.messages(SUPERGROUP) == []


async def test_a_person_who_unblocks_the_bot_gets_broadcasts_again(world: BotWorld) -> None:
    uid = world.user()
    await world.register(uid)
    waiting = world.svc.enqueue_broadcast(OFFICIAL, "bot.slow_down", {})
    world.srv.block_bot(uid)
    await world.drain()
    assert world.svc.broadcast_progress(waiting) == {"blocked": 1, "total": 1}
    assert (
        world.svc.broadcast_progress(world.svc.enqueue_broadcast(OFFICIAL, "x", {}))["total"] == 0
    )
    world.srv.block_bot(uid, blocked=False)
    await world.drain()
    resident = world.svc.resident(uid)
    assert resident is not None and resident.subscribed
    assert world.svc.broadcast_progress(world.svc.enqueue_broadcast(OFFICIAL, "x", {})) == {
        "pending": 1,
        "total": 1,
    }


async def test_blocking_and_unblocking_right_after_a_flood_are_both_recorded(
    tmp_path: Path,
) -> None:
    """The rate limiter stops a flood of texts and presses, but a block or an unblock is not
    something a person floods, and one that is dropped is lost: an unblock dropped kept the
    person marked as having blocked the bot, without notices or broadcasts, for good."""
    clock = Ticks()
    async with BotWorld(
        tmp_path, limiter=MemoryRateLimiter(rate=1.0, burst=3, monotonic=clock)
    ) as world:
        uid = world.user()
        await world.register(uid)
        clock.step = 0.0  # from here on the bucket does not refill
        for n in range(4):
            world.srv.send_text(uid, f"여보세요 {n}")
        await world.drain()
        assert text_of(world.last(uid)) == world.t("bot.slow_down")
        world.srv.block_bot(uid)
        await world.drain()
        resident = world.svc.resident(uid)
        assert resident is not None and not resident.subscribed
        world.srv.block_bot(uid, blocked=False)
        await world.drain()
        resident = world.svc.resident(uid)
        assert resident is not None and resident.subscribed


class Ticks:
    """A monotonic clock that moves ``step`` seconds each time it is read."""

    def __init__(self) -> None:
        self.now, self.step = 0.0, 60.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def service_message(world: BotWorld, uid: int, **what: object) -> None:
    """Telegram tells the bot of something done in the person's chat with it (a pin, a new
    wallpaper, an auto-delete timer): a message from the person with no text of theirs."""
    w = world.srv.world
    with w.lock:
        bot = w.bot()
        chat = w.private_chat(bot, uid)
        msg = w.new_message(chat, outgoing=False, sender_id=uid)
        payload = {**message_api(msg, chat, bot, w.users), **what}
        w.enqueue(bot, "message", payload)


async def test_what_a_person_does_to_their_chat_is_not_taken_as_a_message(
    world: BotWorld,
) -> None:
    """Pinning the bot's message, setting a wallpaper or an auto-delete timer reaches the bot
    as a service message: it is not an answer to the step (the title stays asked, not
    corrected) and gets no 'How can I help?'."""
    uid = world.user()
    await world.register(uid)
    asked = await world.text(uid, "/propose")
    w = world.srv.world
    with w.lock:
        bot = w.bot()
        chat = w.private_chat(bot, uid)
        pinned = message_api(chat.messages[asked["message_id"]], chat, bot, w.users)
    before = len(world.messages(uid))
    wallpaper = {"type": {"type": "fill", "dark_theme_dimming": 0,
                          "fill": {"type": "solid", "color": 0xFFFFFF}}}  # fmt: skip
    service_message(world, uid, pinned_message=pinned)
    service_message(world, uid, chat_background_set=wallpaper)
    service_message(
        world, uid, message_auto_delete_timer_changed={"message_auto_delete_time": 86400}
    )
    await world.drain()
    assert [m["text"] for m in world.messages(uid)[before:]] == []
    await world.text(uid, "마을 도서관 주말 개방")
    assert world.svc.get_conversation(uid).step != "submit.title"  # the title was taken
