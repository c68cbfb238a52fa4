"""A person who erases their data loses their dead letters too.

A dead letter (gateway/worker.py, `updates:dead`) keeps the raw update the workers gave up
on: the person's Telegram id, name and whatever they typed, for 30 days, for an operator to
replay. Erasing one's data (settings, bot/settings.py) deleted everything else the
deployment held of the person but left those: their messages stayed in Redis, readable with
`deadletters list --raw`, and an operator's replay would have applied them after the erasure.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis
import structlog.testing

from bot.router import SERVICES_KEY
from gateway import deadletters
from gateway.settings import Settings
from gateway.wiring import Runtime
from tests.support.e2e_bot import BotWorld
from webhook.inbox import StreamLayout

PERSON, OTHER, LONGER = 7100000123, 7100000999, 71000001234  # LONGER starts with PERSON's digits


def private(uid: int, update_id: int, text: str) -> dict[str, Any]:
    chat = {"id": uid, "type": "private", "first_name": "주민"}
    person = {"id": uid, "is_bot": False, "first_name": "주민", "language_code": "ko"}
    message = {"message_id": 5, "date": 1, "chat": chat, "from": person, "text": text}
    return {"update_id": update_id, "message": message}


def updates_of(uid: int) -> list[dict[str, Any]]:
    """The kinds of update a person's dead letter may be: a message, a press, a message in
    a group, an edited message, the person blocking the bot."""
    person = {"id": uid, "is_bot": False, "first_name": "주민"}
    group = {"id": -100200, "type": "group", "title": "동네 모임"}
    bot = {"id": 1, "is_bot": True, "first_name": "bot"}
    pressed = private(1, 0, "카드")["message"] | {"chat": {"id": uid, "type": "private"}}
    return [
        private(uid, 1, "내 전화번호는 010-1234-5678"),
        {
            "update_id": 2,
            "callback_query": {
                "id": "9",
                "from": person,
                "message": pressed,
                "chat_instance": "1",
                "data": "tok",
            },
        },  # fmt: skip
        {
            "update_id": 3,
            "message": {"message_id": 6, "date": 1, "chat": group, "from": person, "text": "봇아"},
        },  # fmt: skip
        {"update_id": 4, "edited_message": private(uid, 0, "고친 글")["message"]},
        {
            "update_id": 5,
            "my_chat_member": {
                "chat": {"id": uid, "type": "private"},
                "from": person,
                "date": 1,
                "old_chat_member": {"user": bot, "status": "member"},
                "new_chat_member": {"user": bot, "status": "kicked", "until_date": 0},
            },
        },  # fmt: skip
    ]


def dead_letter(client: redis.Redis, key: str, raw: bytes, reason: str = "attempts:5:X") -> str:
    entry_id = client.xadd(key, {"u": raw, "r": reason, "t": "1796697791000"})
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def test_forget_deletes_every_dead_letter_of_the_person_and_only_theirs(private_redis: str):
    client = redis.Redis.from_url(private_redis)
    dead = deadletters.DeadLetters(client, StreamLayout(2, "t:"))
    theirs = [dead_letter(client, dead.key, json.dumps(u).encode()) for u in updates_of(PERSON)]
    # another's message sharing the person's contact (their phone number): it goes too
    contact = {"phone_number": "+821012345678", "first_name": "민지", "user_id": PERSON}
    shared = private(OTHER, 8, "") | {"message": {**private(OTHER, 8, "")["message"],
                                                  "contact": contact}}  # fmt: skip
    theirs.append(dead_letter(client, dead.key, json.dumps(shared).encode()))
    # not JSON (what died as unparsable), yet it names the person: it goes too
    broken = b'{"update_id":6,"message":{"from":{"id":%d,"is_bot":false' % PERSON
    theirs.append(dead_letter(client, dead.key, broken, "unparsable:ValueError"))
    kept = [dead_letter(client, dead.key, json.dumps(u).encode()) for u in updates_of(OTHER)]
    kept.append(dead_letter(client, dead.key, json.dumps(private(LONGER, 7, "x")).encode()))
    kept.append(dead_letter(client, dead.key, b'{"id":%d0}' % PERSON, "unparsable:X"))

    assert dead.forget(PERSON) == len(theirs)
    assert [i for i, _ in dead.entries()] == kept
    assert dead.forget(PERSON) == 0
    client.close()


@pytest.mark.asyncio
async def test_erasing_ones_data_in_the_bot_deletes_ones_dead_letters(
    tmp_path: Path, private_redis: str
) -> None:
    client = redis.Redis.from_url(private_redis)
    layout = StreamLayout(2, "t:")
    dead = deadletters.DeadLetters(client, layout)
    async with BotWorld(tmp_path) as world:
        world.services.extra["forget_dead_letters"] = deadletters.forgetter(client, layout)
        uid = world.user("김민지")
        await world.register(uid)
        for n in (11, 12):
            dead_letter(client, dead.key, json.dumps(private(uid, n, "전화 010")).encode())
        others = [dead_letter(client, dead.key, json.dumps(u).encode()) for u in updates_of(OTHER)]
        assert len(list(dead.entries())) == 2 + len(others)
        screen = await world.text(uid, world.t("bot.menu.settings"))
        confirm = await world.press(uid, screen, world.t("bot.settings.erase"))
        await world.press(uid, confirm, world.t("bot.settings.erase_yes"))
        assert world.svc.resident(uid) is None
        assert [i for i, _ in dead.entries()] == others
    client.close()


@pytest.mark.asyncio
async def test_an_erasure_is_confirmed_when_redis_cannot_forget_and_the_log_says_so(
    tmp_path: Path,
) -> None:
    async def unreachable(user_id: int) -> int:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    async with BotWorld(tmp_path) as world:
        world.services.extra["forget_dead_letters"] = unreachable
        uid = world.user()
        await world.register(uid)
        screen = await world.text(uid, world.t("bot.menu.settings"))
        confirm = await world.press(uid, screen, world.t("bot.settings.erase"))
        with structlog.testing.capture_logs() as logs:
            await world.press(uid, confirm, world.t("bot.settings.erase_yes"))
        assert world.svc.resident(uid) is None
        assert world.messages(uid)[-1]["text"] == world.t("bot.settings.erased", count=0)
        failed = [e for e in logs if e["event"] == "dead_letters_not_forgotten"]
        assert failed and failed[0]["error"] == "ConnectionError"
        assert str(uid) not in repr(logs)


def test_the_runtime_gives_the_bot_the_deployments_dead_letters_to_forget(
    tmp_path: Path, private_redis: str
) -> None:
    settings = Settings.from_env({"VAR_DIR": str(tmp_path), "REDIS_URL": private_redis})
    runtime = Runtime(settings)
    try:
        app = runtime.bot_application("http://127.0.0.1:1/bot", "http://127.0.0.1:1/file/bot", "b")
        forget = app.bot_data[SERVICES_KEY].extra["forget_dead_letters"]
        dead = deadletters.DeadLetters(runtime.redis, runtime.layout)
        dead_letter(runtime.redis, dead.key, json.dumps(private(PERSON, 1, "x")).encode())
        kept = dead_letter(runtime.redis, dead.key, json.dumps(private(OTHER, 2, "y")).encode())
        assert asyncio.run(forget(PERSON)) == 1
        assert [i for i, _ in dead.entries()] == [kept]
    finally:
        runtime.close()
