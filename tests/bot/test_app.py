"""The framework: rate limiting, the error handler, server-checked buttons, who may do what."""

from __future__ import annotations

import copy
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import event
from telegram import Update
from telegram.ext import Application

from bot import MemoryRateLimiter
from bot import RateLimiter
from bot import Verdict
from bot import build_application
from bot.router import Ctx
from bot.router import Router
from participation.views import Conversation
from tests.bot.test_submit import BODY
from tests.bot.test_submit import TITLE
from tests.bot.test_submit import to_step
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import TOKEN
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import Msg
from tests.support.e2e_bot import jpegs
from tests.support.e2e_bot import text_of

pytestmark = pytest.mark.asyncio


async def test_too_fast_is_slowed_with_one_polite_notice(tmp_path: Path) -> None:
    limiter = MemoryRateLimiter(rate=0.001, burst=3)
    async with BotWorld(tmp_path, limiter=limiter) as world:
        uid = world.user()
        for n in range(6):
            world.srv.send_text(uid, f"hello {n}")
        await world.drain()
        texts = [text_of(m) for m in world.messages(uid)]
        assert texts.count(world.t("bot.slow_down")) == 1
        assert texts[-1] == world.t("bot.slow_down")


class LimitLater:
    """Lets everything through until ``limit`` is set: the setup of a test is not throttled."""

    def __init__(self) -> None:
        self.limit: MemoryRateLimiter | None = None

    def admit(self, user_id: int) -> Verdict:
        return Verdict.ALLOWED if self.limit is None else self.limit.admit(user_id)


async def test_an_album_of_ten_photos_counts_once_against_the_rate_limit(
    tmp_path: Path,
) -> None:
    """Telegram lets a person send ten photos picked at once, as ten messages. With the
    production bucket (8 at once, then 1 a second) the ninth and tenth were refused and the
    resident was told 'please slow down' for one action. An album now counts once: its
    other messages pass the limiter (they are neither taken nor answered one by one)."""
    limiter = LimitLater()
    async with BotWorld(tmp_path, limiter=limiter) as world:
        uid = world.user()
        await world.register(uid, "성남시")
        await to_step(world, uid, "photo")
        limiter.limit = MemoryRateLimiter(rate=1.0, burst=8)
        answer = [text_of(m) for m in await world.album(uid, 10)]
        assert world.t("bot.slow_down") not in answer
        assert answer[-1] == world.t("bot.submit.album_first_photo") and len(answer) == 2
        assert text_of(await world.text(uid, "/cancel")) == world.t("bot.cancelled")


async def test_albums_sent_too_fast_are_still_slowed_one_token_each(tmp_path: Path) -> None:
    """Each album's first message takes a token: nine albums in a row at the same instant
    are eight answers and one notice."""
    limiter = LimitLater()
    async with BotWorld(tmp_path, limiter=limiter) as world:
        uid = world.user()
        await world.register(uid, "성남시")
        limiter.limit = MemoryRateLimiter(rate=0.001, burst=8)
        before = len(world.messages(uid))
        for _ in range(9):
            world.srv.send_album(uid, jpegs(2))
        await world.drain()
        texts = [text_of(m) for m in world.messages(uid)[before:]]
        assert texts == [world.t("bot.not_understood")] * 8 + [world.t("bot.slow_down")]


async def test_an_answered_albums_id_reused_later_is_not_let_past_the_rate_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rest of an answered album passes the limiter uncounted; a message that only
    carries the same media_group_id later (a client reusing it) must not: beyond the ids
    one album can hold it is a new album, which takes a token and gets its answer. Before,
    three more albums under one reused id passed the limiter and were dropped unanswered."""
    import sandbox.client

    monkeypatch.setattr(sandbox.client.secrets, "randbits", lambda bits: 42)  # one group id
    limiter = LimitLater()
    async with BotWorld(tmp_path, limiter=limiter) as world:
        uid = world.user()
        await world.register(uid, "성남시")
        limiter.limit = MemoryRateLimiter(rate=0.001, burst=3)
        before = len(world.messages(uid))
        updates = [world.srv.send_album(uid, jpegs(10)) for _ in range(4)]
        assert {u["message"]["media_group_id"] for album in updates for u in album} == {"42"}
        await world.drain()
        texts = [text_of(m) for m in world.messages(uid)[before:]]
        assert texts == [world.t("bot.not_understood")] * 3 + [world.t("bot.slow_down")]


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_two_workers_send_one_notice_per_burst(tmp_path: Path, store: str) -> None:
    """A flood handed to two Applications in turn (separate user_data, as two worker
    processes; one of them restarted halfway) gets one slow-down notice per burst."""
    now = [1_000_000.0]
    limiters, close = two_limiters(store, tmp_path, lambda: now[0])
    try:
        async with BotWorld(tmp_path) as world:  # its Application only fetches the updates
            workers = [await worker(world, limiter) for limiter in limiters]
            uid, slow = world.user(), world.t("bot.slow_down")

            async def send(count: int) -> list[str]:
                before = len(world.messages(uid))
                for n in range(count):
                    world.srv.send_text(uid, f"hello {n}")
                    await process_next(world, workers[n % 2])
                return [text_of(m) for m in world.messages(uid)[before:]]

            with structlog.testing.capture_logs() as events:
                first = await send(4)  # allowed, allowed, notice (worker 0), quiet (worker 1)
                await workers[0].shutdown()
                workers[0] = await worker(world, limiters[0])  # worker 0 restarts: no memory
                first += await send(2)  # still the same burst: quiet on both
                now[0] += 1.0  # one token back: allowed, and the burst is over
                second = await send(3)  # allowed, notice, quiet
            for app in workers:
                await app.shutdown()
        throttled = [e["notified"] for e in events if e["event"] == "update_throttled"]
        assert throttled == [True, False, False, False, True, False]
        assert first.count(slow) == 1 and first[-1] == slow, first
        assert second.count(slow) == 1 and second[-1] == slow and len(second) > 1, second
    finally:
        await close()


def two_limiters(
    store: str, tmp_path: Path, clock: Callable[[], float]
) -> tuple[list[RateLimiter], Callable[[], Awaitable[None]]]:
    """Return two workers' limiters on one store (burst 2, a token a second), and a closer."""
    if store == "memory":
        shared = MemoryRateLimiter(rate=1.0, burst=2, monotonic=clock)

        async def nothing() -> None:
            return None

        return [shared, shared], nothing
    import redis.asyncio as aredis

    from gateway.ratelimit import AsyncRedisRateLimiter
    from tests.gateway.support import RedisServer
    from webhook.inbox import StreamLayout

    server = RedisServer(tmp_path / "redis").start()
    clients = [aredis.Redis.from_url(server.url) for _ in range(2)]
    limiters: list[RateLimiter] = [
        AsyncRedisRateLimiter(c, StreamLayout(1), b"p" * 16, rate=1.0, burst=2, clock=clock)
        for c in clients
    ]

    async def close() -> None:
        for c in clients:
            await c.aclose()
        server.kill()

    return limiters, close


async def worker(
    world: BotWorld, limiter: RateLimiter
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Start another worker's Application on the same sandbox, database and ledger."""
    services = replace(world.services, rate_limiter=limiter)
    app = build_application(TOKEN, world.srv.api_base_url, world.srv.file_base_url, services)
    await app.initialize()
    return app


async def process_next(world: BotWorld, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Take the pending updates from the sandbox and let ``app`` process them."""
    for update in await world.app.bot.get_updates(offset=world.offset, timeout=0):
        world.offset = update.update_id + 1
        await app.process_update(Update.de_json(update.to_dict(), app.bot))


async def test_an_unregistered_person_is_led_to_the_privacy_notice(world: BotWorld) -> None:
    uid = world.user()
    await world.text(uid, "안녕하세요")
    assert text_of(world.last(uid)) == world.t("bot.privacy.notice")
    await world.text(uid, world.t("bot.menu.browse"))  # menus need registration
    texts = [text_of(m) for m in world.messages(uid)[-2:]]
    assert texts == [world.t("bot.privacy.press_button"), world.t("bot.privacy.notice")]
    declined = await world.press(uid, world.last(uid), world.t("bot.privacy.decline"))
    assert text_of(declined) == world.t("bot.privacy.declined")
    assert world.svc.resident(uid) is None


async def test_an_album_before_registration_gets_the_privacy_notice_once(
    world: BotWorld,
) -> None:
    """Photos picked together arrive as one message each: a newcomer's album got the
    welcome and the privacy notice, then 'press a button' and the notice again for every
    other photo. Now it gets what one photo gets."""
    one, uid = world.user("하나"), world.user()
    await world.photo(one)
    single = [text_of(m) for m in world.messages(one)]
    answer = await world.album(uid, 4)
    assert [text_of(m) for m in answer] == single
    assert single[-1] == world.t("bot.privacy.notice")
    agree = world.t("bot.privacy.agree")
    await world.press(uid, world.with_button(uid, agree), agree)
    assert world.svc.get_conversation(uid).step == "start.region"


def sql_of(world: BotWorld) -> tuple[list[str], Callable[[], None]]:
    """Start recording the SQL statements run on the service's database; return them and
    the function that stops the recording."""
    seen: list[str] = []

    def on_execute(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()))

    event.listen(world.ledger.engine, "before_cursor_execute", on_execute)
    return seen, lambda: event.remove(world.ledger.engine, "before_cursor_execute", on_execute)


async def press_counted(world: BotWorld, uid: int, card: Msg, label: str) -> list[str]:
    """Press ``label`` on ``card``; return the SQL statements the press ran."""
    seen, stop = sql_of(world)
    try:
        await world.press(uid, card, label)
    finally:
        stop()
    return seen


async def test_an_album_with_no_step_leaves_no_conversation_behind(world: BotWorld) -> None:
    """A registered resident with no step stored sends three photos: the first is answered,
    and the album's marker (so that the other two are not answered each) was stored as a
    conversation with an empty step, which stayed for good. Now the person's next message
    ends it: the row is gone. A 공감 press in between neither reads nor writes more than
    one without the marker (the press path is left alone)."""
    author, uid = world.user("박서연"), world.user()
    await world.register(author, "연천군")
    await world.register(uid, "성남시")
    cards = []
    for n in (1, 2):
        card = world.svc.submit_proposal(
            author, ROUND, title=f"마을 텃밭 {n}", body="빈 땅을 텃밭으로 가꿔요.",
            category="environment", region="yeoncheon", budget=1_500_000,
        )  # fmt: skip
        link = f"https://t.me/{world.srv.bot_username}?start=p_{card.proposal_id}"
        cards.append(await world.deep_link(uid, link))
    assert world.svc.get_conversation(uid).version == 0
    endorse = world.t("bot.card.endorse", count=0)
    plain = await press_counted(world, uid, cards[0], endorse)

    answer = await world.album(uid, 3)
    assert [text_of(m) for m in answer] == [world.t("bot.not_understood")]
    marked = await press_counted(world, uid, cards[1], endorse)
    assert marked == plain
    assert not any("pt_conversation" in sql and not sql.startswith("SELECT") for sql in marked)

    await world.text(uid, "안녕하세요")
    assert world.svc.get_conversation(uid) == Conversation(step="", data={}, version=0)


async def test_album_and_long_text_markers_do_not_ride_along_with_the_flow(
    world: BotWorld,
) -> None:
    """The marker of an answered album (at the title step) and of a long text refused at
    the body step (Telegram's app sent it in two parts) were copied into every later step
    of the proposal, whose saves carry the stored data over, and stayed there until the
    draft was submitted or cancelled. They only concern the messages right after them: a
    step's next save now leaves them out, and so does the text's last part."""
    uid = world.user()
    await world.register(uid, "성남시")
    await to_step(world, uid, "title")
    answer = await world.album(uid, 3)
    assert [text_of(m) for m in answer] == [world.t("bot.submit.need_text_title")]
    assert "album" in world.svc.get_conversation(uid).data
    await world.text(uid, TITLE)
    stored = world.svc.get_conversation(uid)
    assert stored.step == "submit.body" and "album" not in stored.data

    before = len(world.messages(uid))
    world.srv.send_text(uid, "마을 공원에 그늘막을 설치해 주세요 " * 268)  # sent in two parts
    await world.drain()
    said = [text_of(m) for m in world.messages(uid)[before:]]
    assert len(said) == 2 and said[1] == world.t("bot.error.rest_of_long")
    await world.text(uid, BODY)
    stored = world.svc.get_conversation(uid)
    assert stored.step == "submit.category" and "cut" not in stored.data
    assert stored.data["draft"] == {"round": ROUND, "title": TITLE, "body": BODY}


async def test_an_english_client_gets_english(world: BotWorld) -> None:
    uid = world.user("Alex", language_code="en")
    await world.text(uid, "/start")
    assert text_of(world.last(uid)) == world.t("bot.privacy.notice", "en")
    await world.register(uid, "Suwon-si", "en")
    assert text_of(world.last(uid)) == world.t("bot.start.registered", "en")


async def test_forged_and_foreign_buttons_do_nothing(world: BotWorld) -> None:
    owner, other = world.user(), world.user("남")
    await world.text(owner, "/start")
    notice = world.last(owner)
    update = world.srv.press(owner, notice["message_id"], world.data_of(notice, "✅"))
    forged = copy.deepcopy(update)
    forged["update_id"] += 1000
    forged["callback_query"]["data"] = "AAAAAAAAAAAAAAAA"
    foreign = copy.deepcopy(update)
    foreign["update_id"] += 2000
    foreign["callback_query"]["from"] = world.srv.users.get(other)
    for raw in (forged, foreign):
        await world.feed(raw)
    assert world.svc.resident(owner) is None and world.svc.resident(other) is None
    assert world.svc.get_conversation(owner).step == "start.consent"
    assert world.messages(other) == [] and world.last(owner) == notice
    answers = world.srv.answered_callbacks(owner)  # one query id: the first answer counts
    assert [a.get("text") for a in answers] == [world.t("bot.button.expired")]
    await world.drain()  # the owner's own tap still works: nothing was consumed
    assert world.svc.get_conversation(owner).step == "start.region"


async def test_an_expired_button_says_so(world: BotWorld) -> None:
    uid = world.user()
    await world.text(uid, "/start")
    notice = world.last(uid)
    world.clock.advance(days=2)
    await world.press(uid, notice, "✅")
    assert world.srv.answered_callbacks(uid)[-1].get("text") == world.t("bot.button.expired")
    assert world.svc.get_conversation(uid).step == "start.consent"


async def test_unknown_command_and_unknown_text(world: BotWorld) -> None:
    uid = world.user()
    await world.register(uid)
    assert text_of(await world.text(uid, "/frobnicate")) == world.t("bot.unknown_command")
    assert text_of(await world.text(uid, "음...")) == world.t("bot.not_understood")


async def test_a_rule_is_explained_and_a_crash_is_apologised_for(tmp_path: Path) -> None:
    from participation.domain import errors as e

    class Boom:
        @staticmethod
        def register(router: Router) -> None:
            async def rule(ctx: Ctx, args: list[str]) -> None:
                raise e.DuplicateEndorsement()

            async def crash(ctx: Ctx, args: list[str]) -> None:
                raise RuntimeError("boom")

            router.command("rule", public=True)(rule)
            router.command("crash", public=True)(crash)

    async with BotWorld(tmp_path) as world:
        from bot import build_application

        await world.app.shutdown()  # the app BotWorld started: its connection is kept alive
        world.app = build_application(
            TOKEN,
            world.srv.api_base_url,
            world.srv.file_base_url,
            world.services,
            screens=[Boom],
        )
        await world.app.initialize()
        uid = world.user()
        reply = await world.text(uid, "/rule")
        assert text_of(reply) == world.t("participation.error.duplicate_endorsement")
        with structlog.testing.capture_logs() as logs:
            reply = await world.text(uid, "/crash")
        assert text_of(reply) == world.t("bot.error.generic")
        assert any(log["event"] == "update_failed" for log in logs)


async def test_blocking_the_bot_stops_notifications(world: BotWorld) -> None:
    uid = world.user()
    await world.register(uid)
    world.srv.block_bot(uid)
    await world.drain()
    resident = world.svc.resident(uid)
    assert resident is not None and not resident.subscribed
