"""The long-running roles: worker, clock (with the update feeder) and the all-in-one `run`.

Each role runs in its own asyncio loop; `run` puts every role in a thread of one process
(web on werkzeug, the sandbox Bot API when there is no token, WORKERS workers, the clock).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import redis
import redis.asyncio as aredis
import structlog
from telegram import Bot
from telegram.error import TelegramError

from bot import UPDATE_KINDS
from bot import tell_delayed
from bot import tell_not_handled
from bot.transport import AiohttpRequest
from gateway.broadcast import DeliveryJournal
from gateway.broadcast import OutboxSender
from gateway.broadcast import SendWindow
from gateway.clock import Clock
from gateway.clock import Job
from gateway.clock import Leadership
from gateway.clock import advance_phases
from gateway.clock import drive_broadcasts
from gateway.clock import prune_processed
from gateway.clock import remind_judges
from gateway.clock import seal_block
from gateway.digest import DigestPublisher
from gateway.notice_edits import DeliveredNotices
from gateway.notice_edits import NoticeEditor
from gateway.notice_edits import refresh_notices
from gateway.results import publisher_of
from gateway.results_edits import ResultsEditor
from gateway.results_edits import refresh_results_posts
from gateway.store import ResultsPosts
from gateway.wiring import Runtime
from gateway.wiring import settle_heap
from gateway.worker import UpdateWorker
from gateway.worker import WorkerConfig
from gateway.worker import consumer_name
from gateway.worker import ensure_groups_async

log = structlog.get_logger("gateway.processes")


def run_loop(main: Coroutine[Any, Any, None], event_loop: str = "uvloop") -> None:
    """Run a role's coroutine to the end on a new event loop, as `asyncio.run` does.

    "uvloop" (the default, EVENT_LOOP) runs it on uvloop: libuv's loop and transports in C.
    A worker's press crosses the loop some ten times (two thread hops, two Bot API calls,
    the Redis calls), and with asyncio's pure-Python loop that plumbing was a fifth of the
    worker's CPU (bench/README.md). "asyncio" keeps the standard loop (an escape hatch;
    tests run the worker on it too, so both are exercised).
    """
    if event_loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)
    else:
        asyncio.run(main)


class Stopper:
    """Stop callbacks registered by roles, callable from any thread or a signal handler."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []
        self.stopped = threading.Event()
        self.crashed = False

    def add(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        def schedule() -> None:
            loop.call_soon_threadsafe(callback)

        self._callbacks.append(schedule)
        if self.stopped.is_set():
            self._callbacks[-1]()

    def stop(self) -> None:
        self.stopped.set()
        for callback in self._callbacks:
            try:
                callback()
            except RuntimeError:
                pass  # that loop already ended


def install_signals(stopper: Stopper) -> None:
    """SIGTERM and SIGINT drain the process (main thread only)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: stopper.stop())


async def bot_username(rt: Runtime, base_url: str, base_file_url: str) -> str:
    async with telegram_bot(rt.settings.telegram_token, base_url, base_file_url) as b:
        return str(b.username)


def telegram_bot(token: str, base_url: str, base_file_url: str) -> Bot:
    """A Bot on the gateway's Bot API transport (bot.transport.AiohttpRequest)."""
    return Bot(
        token, base_url=base_url, base_file_url=base_file_url, request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )  # fmt: skip


def worker_threads(partitions: int) -> int:
    """Return the size of a worker loop's thread pool (asyncio's default executor).

    A partition's updates run one after another, so each partition task has at most one
    `asyncio.to_thread` call in flight, and that call may sit waiting for the ledger's group
    commit. With a thread for every partition the worker may hold (all of them when it is
    alone), no update waits for a thread behind other updates' commit waits, and the group
    commit can take every waiting press into its batch. asyncio's own default, min(32,
    cpu + 4), is 6 on 2 cores: fewer than the 8 partitions each of 2 workers holds (of 16).
    Waiting threads cost no CPU; the cap keeps a huge UPDATE_PARTITIONS from making hundreds.
    """
    return min(max(partitions, min(32, (os.cpu_count() or 1) + 4)), 64)


async def worker_main(rt: Runtime, stopper: Stopper, sandbox_api: str | None = None) -> None:
    """Run one update worker until stopped."""
    executor = ThreadPoolExecutor(worker_threads(rt.layout.partitions), "worker-hop")
    asyncio.get_running_loop().set_default_executor(executor)  # asyncio.run shuts it down
    base, files = rt.bot_endpoints(sandbox_api)
    username = await bot_username(rt, base, files)
    client = aredis.Redis.from_url(rt.redis_url, socket_timeout=10, socket_connect_timeout=5)
    application = rt.bot_application(base, files, username, client)
    config = WorkerConfig(lease_ms=rt.settings.worker_lease_ms)
    worker = UpdateWorker(
        client, rt.layout, application, rt.processed(), name=consumer_name(), config=config,
        notify_dead=partial(tell_not_handled, application),
        notify_delayed=partial(tell_delayed, application),
    )  # fmt: skip
    stopper.add(asyncio.get_running_loop(), worker.stop)
    settle_heap()
    try:
        await worker.run()
    finally:
        await client.aclose()


def clock_jobs(rt: Runtime, bot: Bot) -> list[tuple[str, Job, float, list[Any]]]:
    """Return the clock's jobs, (id, function, period in seconds, arguments), posting and
    sending with `bot`."""
    s = rt.settings
    publisher = DigestPublisher(
        rt.ledger, rt.digests(), bot, rt.catalog,
        channel=s.public_channel, base_url=s.public_base_url, locale=s.default_locale,
        posted=rt.redis, posted_key=rt.layout.key("digest:posted:"),
    )  # fmt: skip
    window = SendWindow()  # the bot's 30/s, shared by the outbox's sends and notice edits
    sender = OutboxSender(rt.service, bot, rt.catalog, official_of=rt.broadcast_owner,
                          journal=DeliveryJournal(rt.engine), window=window)  # fmt: skip
    editor = ResultsEditor(publisher_of(rt, bot), ResultsPosts(rt.engine), rt.service)
    notices = NoticeEditor(bot, rt.catalog, DeliveredNotices(rt.engine), rt.service,
                           window=window)  # fmt: skip
    runs = rt.runs()
    return [
        ("seal_block", seal_block, s.block_seconds, [rt.ledger, publisher, runs]),
        ("advance_phases", advance_phases, 30, [rt.service, runs, rt.redis, rt.layout]),
        ("remind_judges", remind_judges, 900, [rt.service, bot, rt.catalog, runs]),
        ("drive_broadcasts", drive_broadcasts, 2, [sender]),
        ("prune_processed", prune_processed, 3600, [rt.processed(), runs]),
        ("refresh_results_posts", refresh_results_posts, 30, [editor, runs]),
        ("refresh_notices", refresh_notices, 30, [notices, runs]),
    ]


async def clock_main(rt: Runtime, stopper: Stopper, sandbox_api: str | None = None) -> None:
    """Run the clock (and the update feeder) until stopped."""
    s = rt.settings
    base, files = rt.bot_endpoints(sandbox_api)
    async with telegram_bot(s.telegram_token, base, files) as bot:
        name = consumer_name()
        clock = Clock(
            Leadership(rt.redis, rt.layout.key("clock:leader"), name, s.clock_lease_ms),
            rt.runs(),
            clock_jobs(rt, bot),
        )
        feeder = Feeder(rt, bot, Leadership(rt.redis, rt.layout.key("feeder:leader"), name))
        loop = asyncio.get_running_loop()
        stopper.add(loop, clock.stop)
        stopper.add(loop, feeder.stop)
        settle_heap()
        await asyncio.gather(clock.run(), feeder.run())


class Feeder:
    """Point Telegram at our ingress (webhook), or poll it into the same streams.

    With a webhook URL (or the sandbox, which delivers to our `/telegram`) it calls
    setWebhook with the secret once; otherwise the lease holder long-polls getUpdates and
    appends each update with `Inbox.put_once`, advancing the offset only once it is stored.
    Both name the kinds the bot handles (`bot.UPDATE_KINDS`) as allowed_updates, which
    Telegram keeps until changed: an earlier deployment's list is replaced on start.
    """

    def __init__(self, rt: Runtime, bot: Bot, leadership: Leadership) -> None:
        self._rt, self._bot, self._leadership = rt, bot, leadership
        self._stop = asyncio.Event()
        self._webhook_deleted = False

    def stop(self) -> None:
        self._stop.set()

    def webhook_url(self) -> str | None:
        s = self._rt.settings
        if s.webhook_url:
            return s.webhook_url
        if s.sandbox:
            return f"http://127.0.0.1:{s.port}/telegram"
        return None

    async def run(self) -> None:
        url = self.webhook_url()
        while not self._stop.is_set():
            try:
                if url is not None:
                    await self._bot.set_webhook(
                        url, secret_token=self._rt.settings.webhook_secret,
                        allowed_updates=list(UPDATE_KINDS), max_connections=40,
                    )  # fmt: skip
                    log.info("webhook_set")
                    return
                if await asyncio.to_thread(self._leadership.hold):
                    if not self._webhook_deleted:
                        await self._bot.delete_webhook()
                        self._webhook_deleted = True
                    await self._poll_once()
                else:
                    await asyncio.sleep(5)
            except (TelegramError, redis.RedisError) as err:
                log.warning("feeder_retrying", error=type(err).__name__)
                await asyncio.sleep(2)
        await asyncio.to_thread(self._leadership.release)

    async def _poll_once(self) -> None:
        inbox = self._rt.inbox()
        key = self._rt.layout.key("feeder:offset")
        offset = int(await asyncio.to_thread(self._rt.redis.get, key) or 0)
        # One long poll per lease renewal (poll 20 s < lease 30 s): never two pollers at once.
        updates = await self._bot.get_updates(
            offset=offset, timeout=20, allowed_updates=list(UPDATE_KINDS)
        )
        for update in updates:
            await asyncio.to_thread(inbox.put_once, update.to_dict())
            await asyncio.to_thread(self._rt.redis.set, key, update.update_id + 1)


async def prepare_streams(rt: Runtime) -> None:
    client = aredis.Redis.from_url(rt.redis_url)
    try:
        await ensure_groups_async(client, rt.layout)
    finally:
        await client.aclose()


def run_in_thread(
    name: str, target: Callable[[], Any], stopper: Stopper | None = None
) -> threading.Thread:
    """Run `target` in a daemon thread; a crash is logged and (with `stopper`) stops all."""

    def body() -> None:
        try:
            target()
        except Exception:
            log.exception("role_crashed", role=name)
            if stopper is not None:
                stopper.crashed = True
                stopper.stop()

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread
