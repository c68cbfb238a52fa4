"""Dead letters: the person is told once, and operators list, replay and drop them.

The real bot runs against the sandbox Bot API (tests.support.e2e_bot.BotWorld); its updates
go through a Redis inbox to an `UpdateWorker`, on a private redis-server and on the real
Redis. A poison press is one whose service call commits and then fails with a retryable
error every time (half-applied), so a replay shows whether it is applied twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
import structlog.testing
from sqlalchemy.exc import OperationalError

from bot import tell_delayed
from bot import tell_not_handled
from gateway import deadletters
from gateway import store
from gateway.store import ProcessedUpdates
from gateway.worker import UpdateWorker
from gateway.worker import WorkerConfig
from gateway.worker import person_to_tell
from tests.gateway.support import RedisServer
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from webhook.inbox import Inbox
from webhook.inbox import StreamLayout
from webhook.inbox import ensure_groups
from webhook.inbox import oldest_waiting_ms
from webhook.inbox import received_ms

ROOT = Path(__file__).resolve().parents[2]
FAST = WorkerConfig(lease_ms=1500, block_ms=50, backoff_s=0.02, max_backoff_s=0.1)


@pytest.fixture(params=["private", pytest.param("real", marks=pytest.mark.integration)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Yield (redis url, key prefix): a redis-server of the test's own, or the real Redis."""
    if request.param == "private":
        server = RedisServer(tmp_path / "r").start()
        try:
            yield server.url, ""
        finally:
            server.kill()
        return
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    try:
        yield url, prefix
    finally:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


class Gateway:
    """The world's updates through a Redis inbox to an UpdateWorker running the world's bot."""

    def __init__(self, world: BotWorld, url: str, prefix: str) -> None:
        self.world, self.url = world, url
        self.layout = StreamLayout(2, prefix)
        self.client = redis.Redis.from_url(url)
        self.inbox = Inbox(self.client, self.layout)
        self.dead = deadletters.DeadLetters(self.client, self.layout)
        self.told: list[dict[str, Any]] = []
        self.delayed: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        store.metadata.create_all(world.ledger.engine)

    async def tell(self, **person: Any) -> None:
        self.told.append(person)
        await tell_not_handled(self.world.app, **person)

    async def tell_delayed(self, **person: Any) -> None:
        self.delayed.append(person)
        await tell_delayed(self.world.app, **person)

    async def fetch(self) -> int:
        """Move the sandbox's pending updates into the inbox (as the feeder does)."""
        updates = await self.world.app.bot.get_updates(offset=self.world.offset, timeout=0)
        for update in updates:
            self.world.offset = update.update_id + 1
            self.inbox.put_once(update.to_dict())
        return len(updates)

    async def work(self, until: Callable[[], bool]) -> None:
        """Run one worker on the world's bot until `until()` (then drain it)."""
        client = aredis.Redis.from_url(self.url)
        worker = UpdateWorker(client, self.layout, self.world.app,
                              ProcessedUpdates(self.world.ledger.engine), name="w",
                              config=FAST, notify_dead=self.tell,
                              notify_delayed=self.tell_delayed)  # fmt: skip
        # captured, not rendered: the dev renderer takes a second per logged traceback
        with structlog.testing.capture_logs() as logs:
            task = asyncio.create_task(worker.run())
            deadline = time.monotonic() + 20
            while not until() and time.monotonic() < deadline and not task.done():
                await asyncio.sleep(0.02)
            worker.stop()
            await task
        self.logs += logs
        await client.aclose()
        await self.world.app.initialize()  # worker.run shut the app down; BotWorld goes on
        assert until(), "timed out"

    def backlog(self) -> int:
        return sum(int(self.client.xlen(s)) for s in self.layout.streams())

    def processed(self) -> int:
        return int(self.client.get(self.layout.key("metrics:updates_processed")) or 0)

    def cli(self, *argv: str) -> int:
        runtime = SimpleNamespace(catalog=self.world.catalog, redis=self.client, layout=self.layout)
        return deadletters.main(["deadletters", *argv], runtime)


def poisoned(real: Callable[..., Any]) -> Callable[..., Any]:
    """Return `real` that commits and then fails as if the database had dropped the line."""

    def call(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    return call


def ledger_size(world: BotWorld) -> int:
    return int(world.ledger.size())


async def an_english_fan_shown_a_card(world: BotWorld) -> tuple[int, Any, dict[str, Any]]:
    """Return an English-speaking resident, another's proposal and its card shown to them."""
    author, fan = world.user("김순자"), world.user("Jane Fanning", language_code="en")
    await world.register(author)
    await world.register(fan, "Suwon-si", "en")
    card = world.svc.submit_proposal(
        author, ROUND, title="마을 텃밭", body="b", category="culture", region="suwon",
        budget=10_000,
    )  # fmt: skip
    shown = await world.deep_link(
        fan, f"https://t.me/{world.srv.bot_username}?start=p_{card.proposal_id}"
    )
    return fan, card, shown


@pytest.mark.asyncio
async def test_a_poison_press_is_told_once_listed_without_personal_data_and_replayed_once(
    tmp_path: Path, target: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    url, prefix = target
    async with BotWorld(tmp_path) as world:
        gw = Gateway(world, url, prefix)
        fan, card, shown = await an_english_fan_shown_a_card(world)
        endorse = world.t("bot.card.endorse", "en", count=0)
        size, seen = ledger_size(world), len(world.messages(fan))
        answered = len(world.srv.answered_callbacks(fan))

        real = world.svc.toggle_endorsement
        monkeypatch.setattr(world.svc, "toggle_endorsement", poisoned(real))
        world.srv.press(fan, shown["message_id"], world.data_of(shown, endorse))
        assert await gw.fetch() == 1
        await gw.work(lambda: gw.backlog() == 0 and len(world.messages(fan)) > seen)

        # dead after max_attempts; the person got one polite message, and the button answered
        [(dead_id, fields)] = list(gw.dead.entries())
        assert fields[b"r"] == b"attempts:5:OperationalError"
        new = [m.get("text") for m in world.messages(fan)[seen:]]
        assert new == [world.t("bot.error.dead_letter", "en")]  # no apology per attempt
        assert len(world.srv.answered_callbacks(fan)) == answered + 1  # by the handler
        assert len(gw.told) == 1 and gw.told[0]["chat_id"] == fan
        assert world.svc.proposal(card.proposal_id).endorsements == 1  # the half that applied
        assert ledger_size(world) == size + 1
        events = [e["event"] for e in gw.logs]
        assert events.count("update_dead_lettered") == 1 and events.count("dead_letter_told") == 1
        logged = repr([{k: v for k, v in e.items() if k != "exc_info"} for e in gw.logs])
        assert "Jane" not in logged and "마을" not in logged and "attempts:5:" in logged

        # the list names the entry and nothing of the person
        capsys.readouterr()
        assert gw.cli("list") == 0
        listed = capsys.readouterr().out
        assert dead_id in listed and "callback_query" in listed
        assert "attempts:5:OperationalError" in listed
        assert f"update {json.loads(fields[b'u'])['update_id']} " in listed
        for secret in ("Jane", "Fanning", str(fan), "마을", world.data_of(shown, endorse)):
            assert secret not in listed, secret
        assert gw.cli("list", "--raw", dead_id) == 0
        raw = capsys.readouterr()
        assert "Jane" in raw.out and "personal data" in raw.err

        # the fault is gone: a replay applies it; its first outcome stands (not a second toggle)
        monkeypatch.setattr(world.svc, "toggle_endorsement", real)
        assert gw.cli("replay", dead_id) == 0
        assert list(gw.dead.entries()) == [] and gw.backlog() == 1
        done = gw.processed()
        await gw.work(lambda: gw.processed() == done + 1)
        assert world.svc.proposal(card.proposal_id).endorsements == 1
        assert ledger_size(world) == size + 1

        # replayed twice (the same update dead-lettered again): still applied once
        gw.client.xadd(gw.dead.key, {"u": fields[b"u"]})
        assert gw.cli("replay", "--all") == 0
        await gw.work(lambda: gw.processed() == done + 2)
        assert world.svc.proposal(card.proposal_id).endorsements == 1
        assert ledger_size(world) == size + 1
        assert len(gw.told) == 1  # nobody was told anything more

        # unknown ids: named, exit 1; drop removes and counts
        capsys.readouterr()
        assert gw.cli("replay", "1-1") == 1 and "1-1" in capsys.readouterr().err
        kept = [_i(gw.client.xadd(gw.dead.key, {"u": fields[b"u"]})) for _ in range(3)]
        assert gw.cli("drop", kept[0], "12-0", "not-an-id") == 1
        out = capsys.readouterr()
        assert "12-0" in out.err and "not-an-id" in out.err and "Dropped: 1" in out.out
        assert [i for i, _f in gw.dead.entries()] == kept[1:]
        assert gw.cli("drop", "--all") == 0 and "Dropped: 2" in capsys.readouterr().out
        assert list(gw.dead.entries()) == []
        assert gw.cli("list") == 0 and "There are no dead letters." in capsys.readouterr().out
        gw.inbox.close()
        gw.client.close()


@pytest.mark.asyncio
async def test_a_press_that_fails_before_its_answer_is_answered_with_the_notice(
    tmp_path: Path, target: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = target
    async with BotWorld(tmp_path) as world:
        gw = Gateway(world, url, prefix)
        uid = world.user("민지")
        await world.register(uid)
        page = await world.text(uid, world.t("bot.menu.browse"))
        seen, answered = len(world.messages(uid)), len(world.srv.answered_callbacks(uid))
        real = world.svc.open_update

        def failing(user_id: int, **kwargs: Any) -> Any:
            if kwargs.get("token"):  # the press: its buttons are looked up in the database
                raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
            return real(user_id, **kwargs)

        monkeypatch.setattr(world.svc, "open_update", failing)
        world.srv.press(uid, page["message_id"], world.data_of(page, "최신순"))
        assert await gw.fetch() == 1
        await gw.work(lambda: len(world.messages(uid)) > seen)
        assert [m.get("text") for m in world.messages(uid)[seen:]] == [
            world.t("bot.error.dead_letter")
        ]
        assert len(world.srv.answered_callbacks(uid)) == answered + 1  # by the notice
        [(_id, fields)] = list(gw.dead.entries())
        assert fields[b"r"] == b"attempts:5:OperationalError"
        gw.inbox.close()
        gw.client.close()


class Outage:
    """The database down until `end()`: the service's entry call and the worker's own check
    (ProcessedUpdates) fail as a dropped connection does; `attempts` counts the calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, world: BotWorld) -> None:
        self.down, self.attempts = True, 0
        real_open, real_contains = world.svc.open_update, ProcessedUpdates.contains

        def open_update(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                self.attempts += 1
                raise OperationalError("SELECT 1", {}, Exception("connection refused"))
            return real_open(*args, **kwargs)

        def contains(processed: ProcessedUpdates, update_id: int) -> bool:
            if self.down:
                raise OperationalError("SELECT 1", {}, Exception("connection refused"))
            return real_contains(processed, update_id)

        monkeypatch.setattr(world.svc, "open_update", open_update)
        monkeypatch.setattr(ProcessedUpdates, "contains", contains)

    def end_when(self, told: list[Any]) -> None:
        """End the outage once someone was told (the retries go on meanwhile)."""
        if self.down and told:
            self.down = False


@pytest.mark.asyncio
async def test_a_database_outage_tells_the_presser_once_and_the_press_counts_after_it(
    tmp_path: Path, target: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = target
    async with BotWorld(tmp_path) as world:
        gw = Gateway(world, url, prefix)
        fan, card, shown = await an_english_fan_shown_a_card(world)
        size, seen = ledger_size(world), len(world.messages(fan))
        answered = len(world.srv.answered_callbacks(fan))
        outage = Outage(monkeypatch, world)
        world.srv.press(fan, shown["message_id"], world.data_of(shown, world.t(
            "bot.card.endorse", "en", count=0)))  # fmt: skip
        assert await gw.fetch() == 1

        def done() -> bool:
            outage.end_when(gw.delayed)
            return world.svc.proposal(card.proposal_id).endorsements == 1 and gw.backlog() == 0

        await gw.work(done)
        events = [e["event"] for e in gw.logs]
        # retried all along (an outage never dead-letters), the notice sent after 2 s
        assert events.count("partition_paused") > FAST.max_attempts
        assert len(gw.delayed) == 1 and gw.delayed[0]["callback_query_id"] is not None
        # the toast came first and stopped the spinner; the handler's own answer then failed
        # quietly; the card shows the endorsement; no apology, no dead letter
        toasts = world.srv.answered_callbacks(fan)[answered:]
        assert [q["text"] for q in toasts] == [world.t("bot.error.delayed_press", "en")]
        assert [m.get("text") for m in world.messages(fan)[seen:]] == []
        assert world.t("bot.card.unendorse", "en", count=1) in repr(world.messages(fan))
        assert list(gw.dead.entries()) == [] and gw.told == []
        assert ledger_size(world) == size + 1
        assert events.count("delay_told") == 1
        logged = repr([{k: v for k, v in e.items() if k != "exc_info"} for e in gw.logs])
        assert "Jane" not in logged and str(fan) not in logged
        gw.inbox.close()
        gw.client.close()


@pytest.mark.asyncio
async def test_a_message_sent_during_an_outage_is_answered_that_it_waits_then_handled(
    tmp_path: Path, target: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = target
    async with BotWorld(tmp_path) as world:
        gw = Gateway(world, url, prefix)
        uid = world.user("민지")
        await world.register(uid)
        seen = len(world.messages(uid))
        outage = Outage(monkeypatch, world)
        world.srv.send_text(uid, world.t("bot.menu.help"))
        assert await gw.fetch() == 1

        def done() -> bool:
            outage.end_when(gw.delayed)
            return not outage.down and gw.backlog() == 0 and len(world.messages(uid)) > seen + 1

        await gw.work(done)
        texts = [m.get("text") for m in world.messages(uid)[seen:]]
        assert texts[0] == world.t("bot.error.delayed")
        assert len(texts) == 2 and texts[1] not in (
            world.t("bot.error.generic"), world.t("bot.error.dead_letter"))  # fmt: skip
        assert len(gw.delayed) == 1 and gw.delayed[0]["callback_query_id"] is None
        assert list(gw.dead.entries()) == []
        gw.inbox.close()
        gw.client.close()


@pytest.mark.asyncio
async def test_a_blip_shorter_than_the_notice_delay_tells_nobody(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = RedisServer(tmp_path / "r").start()
    try:
        async with BotWorld(tmp_path) as world:
            gw = Gateway(world, server.url, "")
            uid = world.user("민지")
            await world.register(uid)
            seen = len(world.messages(uid))
            outage = Outage(monkeypatch, world)
            world.srv.send_text(uid, world.t("bot.menu.help"))
            assert await gw.fetch() == 1
            started = time.monotonic()

            def done() -> bool:  # the database is back 0.3 s after the first failure
                if outage.attempts and time.monotonic() - started > 0.3:
                    outage.down = False
                handled = gw.backlog() == 0 and len(world.messages(uid)) > seen
                # and the worker runs on past the moment a notice left behind would fire
                return handled and time.monotonic() - started > FAST.delay_notice_s + 0.5

            await gw.work(done)
            assert gw.delayed == [] and outage.attempts == 1
            assert len(world.messages(uid)) == seen + 1
            assert world.messages(uid)[-1].get("text") != world.t("bot.error.delayed")
            gw.inbox.close()
            gw.client.close()
    finally:
        server.kill()


def _i(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


@pytest.mark.asyncio
async def test_unparsable_updates_are_dead_with_a_reason_and_told_only_with_a_chat(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "r").start()
    try:
        async with BotWorld(tmp_path) as world:
            gw = Gateway(world, server.url, "")
            uid = world.user("민지")
            await world.register(uid)
            seen = len(world.messages(uid))
            chatless = {"update_id": 990_001, "poll": {"id": "p1"}}  # no question, options...
            bad_entities = {
                "update_id": 990_002,
                "message": {
                    "message_id": 77, "date": 1487808000, "text": "안녕하세요",
                    "chat": {"id": uid, "type": "private", "first_name": "민지"},
                    "from": {"id": uid, "is_bot": False, "first_name": "민지",
                             "language_code": "ko"},
                    "entities": [{"type": "bold"}],  # no offset and length: PTB cannot parse
                },
            }  # fmt: skip
            for update in (chatless, bad_entities):
                gw.inbox.put_once(update)
            await gw.work(lambda: gw.dead.client.xlen(gw.dead.key) == 2)
            reasons = {json.loads(f[b"u"])["update_id"]: f[b"r"] for _i, f in gw.dead.entries()}
            assert reasons[990_002] == b"unparsable:TypeError"  # entities without offset
            assert reasons[990_001].startswith(b"unparsable:")
            assert [p["chat_id"] for p in gw.told] == [uid]  # the poll had no one to tell
            new = [m.get("text") for m in world.messages(uid)[seen:]]
            assert new == [world.t("bot.error.dead_letter")]
            # a stream entry that is not what ingress stores (not JSON, no update_id) is
            # dead-lettered as well instead of failing the partition on every read
            stream = gw.layout.stream(0)
            gw.client.xadd(stream, {"u": b"{not json"})
            gw.client.xadd(stream, {"u": b'{"message": {}}'})
            await gw.work(lambda: gw.dead.client.xlen(gw.dead.key) == 4)
            reasons = sorted(f[b"r"] for _i, f in gw.dead.entries())
            assert reasons.count(b"unparsable:JSONDecodeError") == 1
            assert reasons.count(b"unparsable:KeyError") == 1
            assert len(gw.told) == 1  # nobody to tell for those
            gw.inbox.close()
            gw.client.close()
    finally:
        server.kill()


def test_the_cli_is_wired_into_python_m_gateway(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r").start()
    try:
        client = server.client()
        client.xadd("updates:dead", {"u": b'{"update_id": 5, "message": {"text": "secret"}}'})
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
            "VAR_DIR": str(tmp_path / "var"), "REDIS_URL": server.url,
            "PYTHONDONTWRITEBYTECODE": "1",
        }  # fmt: skip
        run = partial(subprocess.run, cwd=ROOT, env=env, capture_output=True, text=True)
        listed = run([sys.executable, "-m", "gateway", "deadletters", "list"])
        assert listed.returncode == 0, listed.stderr
        assert "업데이트 5  message  사유 -" in listed.stdout  # an old entry without a reason
        assert "update 5  message  reason -" in listed.stdout and "secret" not in listed.stdout
        missing = run([sys.executable, "-m", "gateway", "deadletters", "drop", "3-0"])
        assert missing.returncode == 1 and "Not found: 3-0" in missing.stderr
        # neither IDs nor --all: a usage error, in the language --locale names
        for argv, said in ((["--locale", "en", "deadletters", "replay"], "give IDs or --all"),
                           (["deadletters", "drop", "--all", "1-0", "--locale", "ko"],
                            "ID를 하나 이상 주시거나 --all을 주십시오")):  # fmt: skip
            usage = run([sys.executable, "-m", "gateway", *argv])
            assert usage.returncode == 2 and said in usage.stderr, usage.stderr
            assert "deadletters" in usage.stderr.splitlines()[0]  # the command's own usage
        assert [i for i, _f in deadletters.DeadLetters(client, StreamLayout(1)).entries()]
        runtime = SimpleNamespace(catalog=None, redis=client, layout=StreamLayout(1))
        with pytest.raises(SystemExit) as usage_error:
            deadletters.main(["deadletters", "replay"], runtime)
        assert usage_error.value.code == 2
        client.close()
    finally:
        server.kill()


def private(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": "A"}


def person(user_id: int, **more: Any) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "A", **more}


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"update_id": 1, "message": {"chat": private(7), "from": person(7, language_code="en")}},
         (7, 7, "en", None)),
        ({"update_id": 1, "callback_query": {"id": "q9", "from": person(7),
                                             "message": {"chat": private(7)}}},
         (7, 7, None, "q9")),
        ({"update_id": 1, "callback_query": {"id": "q9", "from": person(7),
                                             "inline_message_id": "i"}},
         (7, 7, None, "q9")),  # a press on an inline message: the person's own chat
        ({"update_id": 1, "inline_query": {"id": "q", "from": person(7), "query": ""}},
         (7, 7, None, None)),
        ({"update_id": 1, "message": {"chat": {"id": -100, "type": "group"}, "from": person(7)}},
         None),  # a group is never told
        ({"update_id": 1, "channel_post": {"chat": {"id": -100, "type": "channel"}}}, None),
        ({"update_id": 1, "inline_query": {"id": "q", "from": {**person(7), "is_bot": True}}},
         None),
        ({"update_id": 1, "poll": {"id": "p"}}, None),
    ],
)  # fmt: skip
def test_whom_a_dead_letter_is_told_to(update: dict[str, Any], expected: Any) -> None:
    found = person_to_tell(update)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        got = (found.chat_id, found.user_id, found.language_code, found.callback_query_id)
        assert got == expected


def test_the_inbox_counts_a_replayed_update_as_first_received_and_recent_dead_letters(
    private_redis: str,
) -> None:
    """oldest_waiting_ms: a replayed entry at the time ingress first received it, wherever
    it waits in its partition; dead letters only when asked, received since `dead_since_ms`,
    and only those that carry that time."""
    client = redis.Redis.from_url(private_redis)
    layout = StreamLayout(1)
    dead = deadletters.DeadLetters(client, layout)
    ensure_groups(client, layout)
    base = 1_487_321_000_000
    stream = layout.stream(0)
    client.xadd(stream, {"u": b'{"update_id": 1}'}, id=f"{base + 5000}-0")
    update = {"update_id": 2, "message": {"chat": {"id": 7, "type": "private"}}}
    dead_id = client.xadd(dead.key, {"u": json.dumps(update), "r": "attempts:5:X", "t": base})
    client.xadd(dead.key, {"u": json.dumps(update)})  # written before the field existed
    assert oldest_waiting_ms(client, layout) == base + 5000  # the clock asks; the bot does not
    assert oldest_waiting_ms(client, layout, dead_since_ms=base) == base
    assert oldest_waiting_ms(client, layout, dead_since_ms=base + 1) == base + 5000

    dead_id = dead_id.decode()
    assert dead.replay(dead_id, dead.get(dead_id) or {}) == 0
    [_later, (replayed_id, replayed)] = client.xrange(stream)
    assert replayed[b"t"] == str(base).encode()
    assert received_ms(replayed_id, replayed) == base
    assert oldest_waiting_ms(client, layout) == base  # behind a later one: still the oldest
    client.xdel(stream, replayed_id)  # applied
    assert oldest_waiting_ms(client, layout) == base + 5000

    [(legacy_id, legacy)] = list(dead.entries())
    assert dead.replay(legacy_id, legacy) == 0
    [_later, (_id, fields)] = client.xrange(stream)
    assert set(fields) == {b"u"}  # judged at its replay, as before

    # only the dead-letter path writes the field: never ingress, whatever the update holds
    Inbox(client, layout).put_once({"update_id": 3, "t": base, "message": {"t": base}})
    assert set(client.xrange(stream)[-1][1]) == {b"u"}
    # a time later than the entry itself (no replay makes one) is not believed
    assert received_ms(b"1000-0", {b"t": b"2000"}) == 1000
    assert received_ms(b"1000-0", {b"t": b"x"}) == 1000
    client.close()


def test_an_unparsable_dead_letter_holds_no_deadline(private_redis: str) -> None:
    """A dead letter that died unparsable dies again when replayed as it is: the clock does not
    wait for it (up to 10 minutes at every deadline), only for those a replay can apply."""
    client = redis.Redis.from_url(private_redis)
    layout = StreamLayout(1)
    dead = deadletters.DeadLetters(client, layout)
    ensure_groups(client, layout)
    base = 1_487_321_000_000
    client.xadd(dead.key, {"u": b"{not json", "r": "unparsable:JSONDecodeError", "t": base})
    assert oldest_waiting_ms(client, layout, dead_since_ms=base) is None
    client.xadd(dead.key, {"u": b'{"update_id": 4}', "r": "attempts:5:X", "t": base + 7})
    assert oldest_waiting_ms(client, layout, dead_since_ms=base) == base + 7
    client.close()


def test_the_list_shows_when_ingress_received_each_dead_letter_in_kst(
    private_redis: str, capsys: Any
) -> None:
    """`t` (epoch ms, 0aa4715) shown as the death time is: KST; '-' for an entry written
    before the field existed; '?' for one that is not a time ingress could have written
    (not digits, or later than the death itself), so nothing else reaches the list."""
    from i18n.catalog import Catalog

    client = redis.Redis.from_url(private_redis)
    layout = StreamLayout(1)
    dead = deadletters.DeadLetters(client, layout)
    base = 1_487_321_000_000  # 2017-02-17 17:43:20 KST
    update = json.dumps({"update_id": 5, "message": {"chat": {"id": 7}, "text": "김순자"}})
    for n, t in enumerate([str(base), None, "김순자", str(base + 120_000)], start=1):
        fields = {"u": update, "r": "attempts:5:X", **({"t": t} if t else {})}
        client.xadd(dead.key, fields, id=f"{base + 60_000}-{n}")  # died 17:44:20 KST
    runtime = SimpleNamespace(catalog=Catalog.load(), redis=client, layout=layout)
    assert deadletters.main(["deadletters", "list"], runtime) == 0
    out = capsys.readouterr().out
    died = "2017-02-17 17:44:20 KST"
    for label in ("수신", "received"):
        assert f"{base + 60_000}-1  {died}  " in out
        assert f"{label} 2017-02-17 17:43:20 KST" in out
        assert f"{label} -" in out and f"{label} ?" in out
    assert out.count(" ?") == 4 and "김순자" not in out and "2017-02-17 17:45:20" not in out
    assert deadletters.summary(f"{base}-0", {b"t": str(base).encode()})["received"] == (
        "2017-02-17 17:43:20 KST"
    )
    client.close()
