"""Polling mode: with no public URL the feeder long-polls getUpdates into the same streams."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from telegram import Bot
from telegram import Update

from gateway.clock import Leadership
from gateway.processes import Feeder
from gateway.settings import SANDBOX_TOKEN
from gateway.settings import Settings
from gateway.wiring import Runtime
from ledger import LedgerKey
from tests.gateway.support import RedisServer


def test_polling_feeds_the_streams_once_each_and_keeps_its_offset(tmp_path: Path):
    from sandbox.server import SandboxServer

    sandbox = SandboxServer("127.0.0.1", 0, personas=False).start()
    server = RedisServer(tmp_path / "r").start()
    key = tmp_path / "ledger.key"
    LedgerKey.generate("gg").to_file(key)
    settings = Settings.from_env({
        "VAR_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": SANDBOX_TOKEN,
        "TELEGRAM_API_BASE_URL": sandbox.api_base_url, "REDIS_URL": server.url,
        "PSEUDONYM_PEPPER": base64.b64encode(b"p" * 32).decode(), "LEDGER_KEY_FILE": str(key),
        "UPDATE_PARTITIONS": "2",
    })  # fmt: skip
    rt = Runtime(settings)
    uid = int(sandbox.users.create("민지")["id"])
    for text in ("하나", "둘", "셋"):
        sandbox.send_text(uid, text)

    async def feed() -> None:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            feeder = Feeder(rt, bot, Leadership(rt.redis, "feeder:leader", "test", ttl_ms=30_000))
            assert feeder.webhook_url() is None
            task = asyncio.create_task(feeder.run())
            stream = rt.layout.stream(rt.layout.partition_of(uid))
            for _ in range(100):
                if rt.redis.xlen(stream) >= 3:
                    break
                await asyncio.sleep(0.05)
            feeder.stop()
            sandbox.send_text(uid, "넷")  # ends the long poll in flight
            await asyncio.wait_for(task, 30)

    try:
        asyncio.run(feed())
        stream = rt.layout.stream(rt.layout.partition_of(uid))
        texts = [json.loads(f[b"u"])["message"]["text"] for _i, f in rt.redis.xrange(stream)]
        assert texts[:3] == ["하나", "둘", "셋"]
        assert len(texts) == len(set(texts))
        offset = int(rt.redis.get("feeder:offset"))
        assert offset == json.loads(rt.redis.xrange(stream)[-1][1][b"u"])["update_id"] + 1
        assert rt.redis.get("feeder:leader") is None  # released on stop
    finally:
        rt.close()
        server.kill()
        sandbox.stop()


# The kinds Telegram sends a bot that is admin of the public channel and talks to residents,
# none of which the bot handles (a reaction to its message, the channel's member changes and
# reaction counts, another admin's post and its edit).
UNHANDLED = ("message_reaction", "message_reaction_count", "chat_member", "channel_post",
             "edited_channel_post")  # fmt: skip


def unhandled_updates(sandbox: Any, uid: int) -> None:
    """Queue one update of each UNHANDLED kind, as Telegram builds them."""
    world = sandbox.world
    with world.lock:
        bot = world.bot()
        user = world.user(uid).to_api()
        private = {"id": uid, "type": "private", "first_name": user["first_name"]}
        channel = world.chat_for_bot(bot, "@gg_ledger")
        chat = {"id": channel.id, "type": "channel", "title": "gg_ledger", "username": "gg_ledger"}
        post = {"message_id": 7, "date": 1, "chat": chat, "sender_chat": chat, "text": "공지"}
        member = {"chat": chat, "from": user, "date": 1,
                  "old_chat_member": {"status": "left", "user": user},
                  "new_chat_member": {"status": "member", "user": user}}  # fmt: skip
        count = {
            "chat": chat,
            "message_id": 1,
            "date": 1,
            "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 3}],
        }
        reaction = {
            "chat": private,
            "message_id": 1,
            "user": user,
            "date": 1,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        }
        for kind, payload in [("message_reaction", reaction), ("message_reaction_count", count),
                              ("chat_member", member), ("channel_post", post),
                              ("edited_channel_post", {**post, "edit_date": 2})]:  # fmt: skip
            world.enqueue(bot, kind, payload)


def runtime(tmp_path: Path, sandbox: Any, redis_url: str, **env: str) -> Runtime:
    key = tmp_path / "ledger.key"
    LedgerKey.generate("gg").to_file(key)
    settings = Settings.from_env({
        "VAR_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": SANDBOX_TOKEN,
        "TELEGRAM_API_BASE_URL": sandbox.api_base_url, "REDIS_URL": redis_url,
        "PSEUDONYM_PEPPER": base64.b64encode(b"p" * 32).decode(), "LEDGER_KEY_FILE": str(key),
        "UPDATE_PARTITIONS": "2", **env,
    })  # fmt: skip
    return Runtime(settings)


def test_polling_asks_only_for_the_kinds_the_bot_handles(tmp_path: Path):
    """A person's reaction to a bot message, the public channel's member changes, reaction
    counts and other admins' posts are never fetched: each would cost a stream entry, a
    worker pass and (with a person) a rate-limit token, and the channel's would all queue in
    one partition ahead of the residents whose chats share it."""
    from sandbox.server import SandboxServer

    sandbox = SandboxServer("127.0.0.1", 0, personas=False).start()
    server = RedisServer(tmp_path / "r").start()
    rt = runtime(tmp_path, sandbox, server.url)
    uid = int(sandbox.users.create("민지")["id"])

    def stored() -> list[dict[str, Any]]:
        found = []
        for stream in rt.layout.streams():
            found += [json.loads(f[b"u"]) for _i, f in rt.redis.xrange(stream)]
        return found

    async def until(count: int) -> None:
        for _ in range(200):
            if len(stored()) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(stored())} updates stored, waited for {count}")

    async def feed() -> None:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            feeder = Feeder(rt, bot, Leadership(rt.redis, "feeder:leader", "test", ttl_ms=30_000))
            task = asyncio.create_task(feeder.run())
            sandbox.send_text(uid, "하나")
            await until(1)  # the feeder's getUpdates has set its allowed_updates
            unhandled_updates(sandbox, uid)
            sandbox.send_text(uid, "둘")
            await until(2)
            sandbox.block_bot(uid)
            await until(3)
            feeder.stop()
            sandbox.send_text(uid, "셋")  # ends the long poll in flight
            await asyncio.wait_for(task, 30)

    try:
        asyncio.run(feed())
        kinds = [next(k for k in u if k != "update_id") for u in stored()]
        assert not set(kinds) & set(UNHANDLED), kinds
        assert kinds[:3] == ["message", "message", "my_chat_member"], kinds
    finally:
        rt.close()
        server.kill()
        sandbox.stop()


def test_the_webhook_asks_only_for_the_kinds_the_bot_handles(tmp_path: Path):
    """Telegram keeps a webhook's allowed_updates until the next setWebhook names others: the
    feeder names the bot's kinds, which replace what an earlier deployment asked for."""
    from sandbox.server import SandboxServer

    sandbox = SandboxServer("127.0.0.1", 0, personas=False).start()
    server = RedisServer(tmp_path / "r").start()
    rt = runtime(tmp_path, sandbox, server.url, TELEGRAM_WEBHOOK_URL="https://127.0.0.1:9/tg",
                 TELEGRAM_WEBHOOK_SECRET="s" * 32)  # fmt: skip

    async def feed() -> list[str]:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            await bot.set_webhook("https://127.0.0.1:9/tg", allowed_updates=Update.ALL_TYPES)
            feeder = Feeder(rt, bot, Leadership(rt.redis, "feeder:leader", "test", ttl_ms=30_000))
            await asyncio.wait_for(feeder.run(), 30)
            info = await bot.get_webhook_info()
            await bot.delete_webhook()
            return list(info.allowed_updates or ())

    try:
        allowed = asyncio.run(feed())
        assert sorted(allowed) == sorted(
            ["message", "edited_message", "callback_query", "my_chat_member"]
        )
    finally:
        rt.close()
        server.kill()
        sandbox.stop()
