"""Workers: apply the updates in the Redis streams through a PTB `Application`.

Design (why it is correct):
- **One chat in order.** A chat's updates all sit in one partition stream (webhook.inbox).
  A partition is consumed by exactly one worker at a time: the worker holding its lease
  `lease:updates:{p}` (SET NX PX, renewed every lease/3, dropped on SIGTERM). Within a
  partition entries are applied strictly one after another, in stream order. Different
  partitions run concurrently, as asyncio tasks.
  Stream order is Telegram's order, even with 40 webhook connections in parallel: the Bot API
  server keeps one queue per chat for messages and one per user for button presses, and sends
  a queue's next update only after the previous one was answered with 200
  (tdlib/telegram-bot-api, `WebhookActor::send_update` / `drop_event`); ingress answers 200
  only after the XADD. A message and a button press of the same chat are in two queues there
  and may arrive in either order; that is Telegram's own order, and the handlers accept both
  (a press is checked against the state, not against the last message). Polling reads one
  batch at a time in update_id order.
- **Sharing.** Live workers announce themselves in a sorted set; each takes at most
  ceil(partitions / live workers) leases and hands back the surplus after its current entry,
  so two workers split the partitions and a chat may move from one to the other.
- **Taking over.** A new lease holder first XAUTOCLAIMs every pending entry of the partition
  (idle time 0: holding the lease proves no one else works on it), then replays its own
  pending list from id 0 in order, then reads new entries (`>`). A worker killed with -9 loses
  its lease after at most the lease time; nothing it read is lost, because entries are
  acknowledged (XACK, then XDEL) only after the handler's commit.
- **At most once in effect.** Ingress stores an update_id at most once (`updates:seen:<id>`,
  SET NX for 24 h in the same script as the XADD), so each update is one stream entry, and an
  acknowledged entry is never delivered again. Only an entry read but not acknowledged comes
  back (from the pending list, after a kill -9, a lease takeover or a paused partition), and
  its handler may have committed already. That window, between the handler's commit and the
  XACK, is closed by the domain: the bot passes the update_id as `request_id`, so a replay
  returns the first result and writes nothing (its reply is sent again). The ack is one
  MULTI/EXEC (XACK, XDEL, the processed counter) right after `process_update`, on the
  worker's own connection: no thread, no SQL write per update. When Redis fails at that ack,
  the update_id goes to `gateway_processed_updates` instead, and replayed entries (read from
  the pending list, never new ones) are looked up there and acknowledged without running.
- **Judged when received.** An update is handled with `participation`'s `received_at` set to
  the moment ingress stored it (its stream id's time, Redis's clock at the XADD; for a
  replayed dead letter its field `t`, the first reception, which only the dead-letter path
  writes: `webhook.inbox.received_ms`): the service judges deadlines, button and code expiry
  at that moment (clamped to the last 15 minutes, `rules.judged_at`), so a press that waited
  in the queue (a burst, an outage, the dead letters) at a deadline still counts. The clock
  moves a round past a deadline only once no entry received before it is left in the
  streams, nor a dead letter received in the last 15 minutes (gateway.clock.advance_phases);
  an official's move of a round waits likewise for the entries received before the press
  (`earlier_waiting`, the bot's `extra["inbox_earlier"]`; not for dead letters).
- **Failures.** A handler error that the bot explained (domain errors) counts as processed.
  Infrastructure errors (database or Redis unavailable) leave the entry unacknowledged; the
  partition pauses and retries it with backoff, keeping order; after `max_attempts` failures
  while the database answers, the update goes to the `updates:dead` stream so one poison
  update cannot stall a chat forever (an outage of the database itself never dead-letters).
  A dead letter is the raw update (field `u`, names and Telegram ids included), why it died
  (field `r`: `unparsable:<error type>` or `attempts:<n>:<error type>`, never a message
  text) and when ingress first received it (field `t`, epoch ms, carried through a replay),
  kept for operators (`python -m gateway deadletters`, gateway/deadletters.py) for
  `dead_letter_keep_s` (30 days) and trimmed by age when the next one is added (XADD MINID),
  not forever. Moving it there and acknowledging it is one script (DEAD): a crash leaves the
  update in the partition or in `updates:dead`, never in both or neither.
- **Telling the person.** No attempt that will be retried sends an apology: the worker's
  error handler runs before the bot's and stops it (ApplicationHandlerStop) for a retryable
  error. When the database itself stops answering, the update at the head of the chat's
  partition waits for it (its chat's later updates wait behind it), and its sender is told
  so once when it has waited `delay_notice_s` (a blip that the retry outlives tells nobody):
  `notify_delayed` (the bot's `tell_delayed`) answers a pressed button with a toast, which
  also stops its spinner, or sends a message that what they sent is kept and will be
  handled. The update is applied when the database answers; the handler's own answer to the
  press then fails quietly (answered already). Once an update is
  dead-lettered, `notify_dead` (the bot's `tell_not_handled`) answers a pressed button and
  sends one polite message in the person's language, to a private chat or a person's own
  chat only (`person_to_tell`), within `notice_timeout_s`; its failure is logged by type and
  never stops the partition. After a crash between the move and the message, nobody is told
  (at most once).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
import os
import socket
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from typing import Protocol
from typing import cast

import redis
import redis.asyncio as aredis
import structlog
from telegram import Update
from telegram.ext import Application
from telegram.ext import ApplicationHandlerStop

from gateway import lease
from gateway.store import ProcessedUpdates
from participation.app.base import received_at
from participation.domain.errors import ParticipationError
from webhook.inbox import DEAD_STREAM
from webhook.inbox import GROUP
from webhook.inbox import PROCESSED_COUNTER
from webhook.inbox import StreamLayout
from webhook.inbox import chat_id_of
from webhook.inbox import received_ms
from webhook.inbox import waiting_before

log = structlog.get_logger("gateway.worker")

# The ack, atomically: the entry leaves the pending list and the stream, and (ARGV[3] == "1")
# the processed-updates counter counts it. One EVALSHA instead of MULTI/XACK/XDEL/INCR/EXEC.
ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] == '1' then redis.call('INCR', KEYS[2]) end
return 1
"""

# Dead-lettering, atomically: the raw update, its reason and when ingress first received it
# (ARGV[6], epoch ms) go to the dead stream (entries older than ARGV[5] ms trimmed, exactly),
# and the entry leaves its partition (XACK, XDEL).
DEAD = """
redis.call('XADD', KEYS[2], 'MINID', ARGV[5], '*', 'u', ARGV[3], 'r', ARGV[4], 't', ARGV[6])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""

_failures: contextvars.ContextVar[list[BaseException]] = contextvars.ContextVar("failures")
# When the update being handled was received (epoch ms, `webhook.inbox.received_ms`): see
# `earlier_waiting`.
handled_ms: contextvars.ContextVar[int | None] = contextvars.ContextVar("handled_ms", default=None)
# Its stream and entry id: a replayed entry queued behind it is not waited for.
handled_entry: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "handled_entry", default=None
)


def default_retryable() -> tuple[type[BaseException], ...]:
    """Return the exception types that mean 'try again later', not 'the update is bad'."""
    import sqlalchemy.exc

    return (
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        # a commit on a connection that died inside the transaction (database restarted)
        sqlalchemy.exc.PendingRollbackError,
        redis.ConnectionError,
        redis.TimeoutError,
        ConnectionError,
        TimeoutError,
    )


class RetryLater(Exception):
    """The update hit an infrastructure failure; it stays pending and is retried in order."""


class Unparsable(Exception):
    """PTB cannot build an Update from the stored JSON: dead-lettered at once, never retried."""


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    lease_ms: int = 15_000
    short_balance_s: float = 0.2  # lease round interval while under the fair share
    block_ms: int = 1_000
    batch: int = 16
    max_attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 15.0
    dead_letter_keep_s: int = 30 * 86_400
    notice_timeout_s: float = 3.0  # telling the person of a dead letter holds the partition
    delay_notice_s: float = 2.0  # an update held this long by a database outage: tell once


@dataclass(frozen=True, kw_only=True)
class Person:
    """Whom to tell that an update was dead-lettered: ids and a language, nothing they wrote."""

    chat_id: int
    user_id: int | None
    language_code: str | None
    callback_query_id: str | None


class PersonNotice(Protocol):
    """Tell a person about their update: not handled (bot.tell_not_handled) or delayed by an
    outage (bot.tell_delayed), bound to the app."""

    def __call__(
        self,
        *,
        chat_id: int,
        user_id: int | None,
        language_code: str | None,
        callback_query_id: str | None,
    ) -> Awaitable[None]: ...


def person_to_tell(update: Mapping[str, Any]) -> Person | None:
    """Return whom to tell that the raw `update` was dead-lettered, or None.

    The update's chat (webhook.inbox.chat_id_of, as ingress partitions it) when that is a
    private chat; for an update without a chat (an inline query, a press on an inline
    message), the sender's own private chat when the sender is a person and not a bot.
    Groups, channels and updates from no one are told nothing.
    """
    chat_id = chat_id_of(update)
    body = next((v for k, v in update.items() if k != "update_id" and isinstance(v, dict)), None)
    if chat_id is None or body is None:
        return None
    sender = body.get("from") if isinstance(body.get("from"), dict) else {}
    chat = body.get("chat")
    if not isinstance(chat, dict) and isinstance(body.get("message"), dict):
        chat = body["message"].get("chat")
    if isinstance(chat, dict):
        if chat.get("type") != "private":
            return None
    elif sender.get("is_bot") is not False or sender.get("id") != chat_id:
        return None
    user_id, language = sender.get("id"), sender.get("language_code")
    query_id = body.get("id") if "callback_query" in update else None
    return Person(
        chat_id=chat_id,
        user_id=user_id if isinstance(user_id, int) else None,
        language_code=language if isinstance(language, str) else None,
        callback_query_id=str(query_id) if isinstance(query_id, (str, int)) else None,
    )


def consumer_name() -> str:
    """Return a name unique to this process (host, pid, random suffix)."""
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


class UpdateWorker:
    """Consume partition streams and apply each update through `application`."""

    def __init__(
        self,
        client: aredis.Redis,
        layout: StreamLayout,
        application: Application[Any, Any, Any, Any, Any, Any],
        processed: ProcessedUpdates,
        *,
        name: str | None = None,
        config: WorkerConfig | None = None,
        retryable: tuple[type[BaseException], ...] | None = None,
        notify_dead: PersonNotice | None = None,
        notify_delayed: PersonNotice | None = None,
    ) -> None:
        self._redis = client
        self.client = client  # the caller owns it (and closes it)
        self.layout = layout
        self.application = application
        self._processed = processed
        self.name = name or consumer_name()
        self.config = config or WorkerConfig()
        self._retryable = retryable if retryable is not None else default_retryable()
        self._pause_on: tuple[type[BaseException], ...] = (
            RetryLater, redis.RedisError, *self._retryable,
        )  # fmt: skip
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._leaving: set[int] = set()
        self._stop = asyncio.Event()
        self._attempts: dict[bytes, int] = {}
        self._renew = client.register_script(lease.RENEW)
        self._release = client.register_script(lease.RELEASE)
        self._ack_script = client.register_script(ACK)
        self._dead_script = client.register_script(DEAD)
        self._notify_dead = notify_dead
        self._notify_delayed = notify_delayed
        # entry id -> (partition, the notice's task): scheduled once per entry, cancelled
        # when the entry is settled before it fires
        self._delay_notices: dict[bytes, tuple[int, asyncio.Task[None]]] = {}

    # ---------------------------------------------------------------- lifecycle

    def stop(self) -> None:
        """Ask the worker to drain: finish the current entries, release leases, return."""
        self._stop.set()

    async def run(self) -> None:
        """Run until stop(): keep leases, consume owned partitions, then drain."""
        _check_blocking(self.application)
        # first, so that it can stop the bot's own error handler from apologising for an
        # attempt that will be retried
        others = dict(self.application.error_handlers)
        self.application.error_handlers.clear()
        self.application.add_error_handler(self._note_failure)
        self.application.error_handlers.update(others)
        await self.application.initialize()
        log.info("worker_started", worker=self.name, partitions=self.layout.partitions)
        try:
            await self._ensure_groups()
            while not self._stop.is_set():
                pause = self.config.lease_ms / 3000
                try:
                    if await self._balance():
                        # Under our share: another worker is handing partitions back after
                        # its current entry. Look again soon, or those chats wait a whole
                        # round (up to lease/3 = 5 s: the p99 tail of a rebalance).
                        pause = min(pause, self.config.short_balance_s)
                except redis.RedisError as err:
                    log.warning("lease_round_failed", worker=self.name, error=type(err).__name__)
                    await self._drop_all()
                try:
                    await asyncio.wait_for(self._stop.wait(), pause)
                except TimeoutError:
                    pass
        finally:
            await self._drain()
            self.application.remove_error_handler(self._note_failure)
            await self.application.shutdown()
            log.info("worker_stopped", worker=self.name)

    async def _ensure_groups(self) -> None:
        while not self._stop.is_set():
            try:
                await ensure_groups_async(self._redis, self.layout)
                return
            except redis.RedisError as err:
                log.warning("redis_unavailable", worker=self.name, error=type(err).__name__)
                await asyncio.sleep(1)

    async def _drain(self) -> None:
        self._leaving.update(self._tasks)
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self._drop_all()
        try:
            await self._redis.zrem(self.layout.key("workers:alive"), self.name)
        except redis.RedisError:
            pass

    async def _drop_all(self) -> None:
        for partition in list(self._tasks):
            self._leaving.add(partition)
        for partition, task in list(self._tasks.items()):
            if task.done():
                self._forget(partition)

    # ---------------------------------------------------------------- leases

    def _lease(self, partition: int) -> str:
        return self.layout.key(f"lease:updates:{partition}")

    async def _balance(self) -> bool:
        """Heartbeat, renew owned leases, take free ones up to a fair share, hand back surplus.

        Return True when this worker holds fewer than its share while a partition is free or
        another worker holds more than its share (a surplus about to be handed back).
        """
        now_ms = int(time.time() * 1000)
        alive = self.layout.key("workers:alive")
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(alive, {self.name: now_ms})
        pipe.zremrangebyscore(alive, 0, now_ms - self.config.lease_ms)
        pipe.zcard(alive)
        live = max(1, int((await pipe.execute())[2]))
        share = math.ceil(self.layout.partitions / live)
        for partition, task in list(self._tasks.items()):
            if task.done():
                self._forget(partition)
                continue
            if not await self._renew(
                keys=[self._lease(partition)], args=[self.name, self.config.lease_ms]
            ):
                log.warning("lease_lost", worker=self.name, partition=partition)
                self._leaving.add(partition)
        owned = [p for p in self._tasks if p not in self._leaving]
        for partition in owned[share:]:
            self._leaving.add(partition)  # surplus: the task releases it after its entry
        free = share - len(owned)
        for partition in self._scan_order():
            if free <= 0 or self._stop.is_set():
                break
            if partition in self._tasks:
                continue
            key = self._lease(partition)
            if await self._redis.set(key, self.name, nx=True, px=self.config.lease_ms):
                self._tasks[partition] = asyncio.create_task(
                    self._consume(partition), name=f"partition-{partition}"
                )
                free -= 1
        if free <= 0 or self._stop.is_set():
            return False
        # Under our share with nothing free: worth looking again soon only while another
        # worker holds more than its share (it hands the surplus back after its current entry).
        holders = await self._redis.mget([self._lease(p) for p in range(self.layout.partitions)])
        counts: dict[bytes | None, int] = {}
        for holder in holders:
            counts[holder] = counts.get(holder, 0) + 1
        return None in counts or any(n > share for n in counts.values())

    def _scan_order(self) -> list[int]:
        # Start the scan at a per-worker offset so that workers do not all race for 0, 1, 2...
        n = self.layout.partitions
        start = hash(self.name) % n
        return [(start + i) % n for i in range(n)]

    def _forget(self, partition: int) -> None:
        self._tasks.pop(partition, None)
        self._leaving.discard(partition)

    # ---------------------------------------------------------------- consuming

    async def _consume(self, partition: int) -> None:
        """Apply the partition's entries in order while this worker holds its lease."""
        stream = self.layout.stream(partition)
        delay = self.config.backoff_s
        try:
            await self._claim_pending(stream)
            replay = True  # first our pending list (from id 0), then new entries
            while partition not in self._leaving:
                try:
                    entries = await self._read(stream, "0" if replay else ">")
                    if replay and not entries:
                        replay = False
                        continue
                    for entry_id, fields in entries:
                        if partition in self._leaving:
                            break
                        await self._apply(partition, stream, entry_id, fields, replayed=replay)
                    delay = self.config.backoff_s
                except self._pause_on as err:
                    # also the database failing around the handler (processed-update checks)
                    log.warning("partition_paused", partition=partition, error=type(err).__name__)
                    replay = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.config.max_backoff_s)
        finally:
            self._drop_notices(partition)  # its entries are another worker's now
            try:
                await self._release(keys=[self._lease(partition)], args=[self.name])
            except redis.RedisError:
                pass  # the lease expires by itself

    async def _claim_pending(self, stream: str) -> None:
        cursor = "0-0"
        while True:
            try:
                answer = await self._redis.xautoclaim(
                    stream, GROUP, self.name, min_idle_time=0, start_id=cursor, count=100
                )
            except redis.ResponseError as err:
                if "NOGROUP" not in str(err):
                    raise
                await ensure_groups_async(self._redis, self.layout)
                return
            cursor = answer[0].decode() if isinstance(answer[0], bytes) else answer[0]
            if answer[1]:
                log.info("updates_claimed", stream=stream, count=len(answer[1]))
            if cursor == "0-0":
                return

    async def _read(self, stream: str, start: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        try:
            answer = await self._redis.xreadgroup(
                GROUP,
                self.name,
                {stream: start},
                count=self.config.batch,
                block=None if start == "0" else self.config.block_ms,
            )
        except redis.ResponseError as err:
            if "NOGROUP" not in str(err):
                raise
            await ensure_groups_async(self._redis, self.layout)
            return []
        if not answer:
            return []
        entries: list[tuple[bytes, dict[bytes, bytes]]] = cast(Any, answer)[0][1]
        # A pending entry deleted meanwhile shows as (id, None): acknowledge it and move on.
        return [(i, f if f is not None else {}) for i, f in entries]

    async def _apply(
        self,
        partition: int,
        stream: str,
        entry_id: bytes,
        fields: dict[bytes, bytes],
        *,
        replayed: bool = False,
    ) -> None:
        """Apply one entry; acknowledge it once its effects are committed.

        `replayed`: the entry comes from the pending list (it may have been applied already).
        """
        raw = fields.get(b"u")
        structlog.contextvars.clear_contextvars()
        if raw is None:
            await self._ack(stream, entry_id, processed=False)
            return
        received = received_ms(entry_id, fields)  # a replayed dead letter: first reception
        dead = partial(self._dead_letter, stream, entry_id, raw, received=received)
        try:
            data = json.loads(raw)
            update_id = int(data["update_id"])
        except (ValueError, TypeError, KeyError) as err:  # not what ingress stores: poison
            await dead(f"unparsable:{type(err).__name__}", {})
            return
        structlog.contextvars.bind_contextvars(
            update_id=update_id, partition=partition, worker=self.name
        )
        if replayed and await asyncio.to_thread(self._processed.contains, update_id):
            log.info("update_redelivered_skipped")
            await self._ack(stream, entry_id, processed=True)  # its ack had failed
            self._settled(entry_id)
            return
        started = time.perf_counter()
        try:
            await self._process(data, received, (stream, entry_id.decode()))
        except Unparsable as err:  # ingress checks the shape only; PTB found more wrong
            await dead(f"unparsable:{err}", data)
            return
        except RetryLater as err:
            attempts = self._attempts.get(entry_id, 0) + 1
            if not await self._database_answers():
                attempts = min(attempts, self.config.max_attempts - 1)  # an outage, not poison
                self._tell_if_still_waiting(partition, entry_id, data)
            self._attempts[entry_id] = attempts
            if attempts < self.config.max_attempts:
                raise
            await dead(f"attempts:{attempts}:{err}", data)
            self._attempts.pop(entry_id, None)
            self._settled(entry_id)
            return
        try:
            await self._ack(stream, entry_id, processed=True)
        except redis.RedisError:
            # The effects are in: remember that outside Redis so the replay skips the handler.
            await asyncio.to_thread(self._processed.add, update_id)
            raise
        self._attempts.pop(entry_id, None)
        self._settled(entry_id)
        log.info("update_processed", ms=round((time.perf_counter() - started) * 1000, 1))

    def _tell_if_still_waiting(
        self, partition: int, entry_id: bytes, data: Mapping[str, Any]
    ) -> None:
        """Schedule the delay notice of an entry held by an outage (once per entry)."""
        if self._notify_delayed is None or entry_id in self._delay_notices:
            return
        task = asyncio.create_task(self._tell_later(data), name=f"delay-notice-{partition}")
        self._delay_notices[entry_id] = (partition, task)

    async def _tell_later(self, data: Mapping[str, Any]) -> None:
        await asyncio.sleep(self.config.delay_notice_s)
        await self._tell(data, self._notify_delayed, "delay")

    def _settled(self, entry_id: bytes) -> None:
        """Forget the delay notice of a settled entry; one not sent yet never is."""
        found = self._delay_notices.pop(entry_id, None)
        if found is not None:
            found[1].cancel()

    def _drop_notices(self, partition: int) -> None:
        """Forget the delay notices of a partition this worker leaves."""
        for entry_id, (owner, _task) in list(self._delay_notices.items()):
            if owner == partition:
                self._settled(entry_id)

    async def _database_answers(self) -> bool:
        """Return whether the database answers now (a failing update is then to blame)."""
        try:
            await asyncio.to_thread(self._processed.contains, -1)
        except self._retryable:
            return False
        return True

    async def _process(
        self, data: dict[str, Any], received: int, entry: tuple[str, str] | None = None
    ) -> None:
        """Run the update's handlers, judged at the moment ingress `received` it (epoch ms);
        `entry`: its stream and entry id (`earlier_waiting`)."""
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as err:  # PTB raises whatever a bad field provokes (TypeError, ...)
            raise Unparsable(type(err).__name__) from err
        failures: list[BaseException] = []
        token = _failures.set(failures)
        when, ms = received_at.set(received // 1000), handled_ms.set(received)
        place = handled_entry.set(entry)
        try:
            await self.application.process_update(update)
        finally:
            handled_entry.reset(place)
            handled_ms.reset(ms)
            received_at.reset(when)
            _failures.reset(token)
        retry = [f for f in failures if isinstance(f, self._retryable)]
        if retry:
            raise RetryLater(type(retry[0]).__name__)

    async def _dead_letter(
        self,
        stream: str,
        entry_id: bytes,
        raw: bytes,
        reason: str,
        data: Mapping[str, Any],
        *,
        received: int,
    ) -> None:
        """Move the entry to `updates:dead` with `reason` and the time ingress `received` it
        (epoch ms, kept through a replay) and acknowledge it (one script), then tell the person.
        Entries older than `dead_letter_keep_s` go (exact MINID trimming: dead letters are
        rare, and a kept update holds personal data)."""
        log.error("update_dead_lettered", reason=reason)
        oldest_ms = int((time.time() - self.config.dead_letter_keep_s) * 1000)
        await self._dead_script(
            keys=[stream, self.layout.key(DEAD_STREAM)],
            args=[GROUP, entry_id, raw, reason, f"{oldest_ms}-0", received],
        )
        await self._tell(data, self._notify_dead, "dead_letter")

    async def _tell(self, data: Mapping[str, Any], notice: PersonNotice | None, what: str) -> None:
        """Tell the update's sender with `notice` (`what`: the logs' name for it); never
        raises, waits `notice_timeout_s` at most."""
        person = person_to_tell(data)
        if notice is None or person is None:
            log.info(f"{what}_untold", reason="no notice" if person else "no private chat")
            return
        try:
            await asyncio.wait_for(
                notice(
                    chat_id=person.chat_id,
                    user_id=person.user_id,
                    language_code=person.language_code,
                    callback_query_id=person.callback_query_id,
                ),
                self.config.notice_timeout_s,
            )
        except Exception as err:  # type only: a message may quote the person
            log.warning(f"{what}_notice_failed", error=type(err).__name__)
            return
        log.info(f"{what}_told")

    async def _ack(self, stream: str, entry_id: bytes, *, processed: bool) -> None:
        keys = [stream, self.layout.key(PROCESSED_COUNTER)]
        await self._ack_script(keys=keys, args=[GROUP, entry_id, 1 if processed else 0])

    async def _note_failure(self, update: object, context: Any) -> None:
        """Error handler (the first): remember the handler's exception for the ack decision.

        A retryable one ends the update here (ApplicationHandlerStop): the bot's own error
        handler would apologise, and the update is tried again (or dead-lettered, and then
        the person is told once).
        """
        failures = _failures.get(None)
        error = context.error
        if failures is None or error is None:
            return
        failures.append(error)
        if isinstance(error, ParticipationError):  # a rule the bot explained to the person
            log.info("handler_refused", error=type(error).__name__)
            return
        # Type and traceback only: exception messages may quote what a person typed.
        log.error("handler_failed", error=type(error).__name__, exc_info=error)
        if isinstance(error, self._retryable):
            raise ApplicationHandlerStop


def _check_blocking(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Refuse non-blocking handlers: the ack must wait for the handler's commit."""
    for group in application.handlers.values():
        for handler in group:
            if handler.block is False:
                raise ValueError(f"{handler!r} has block=False; the worker needs block=True")


async def ensure_groups_async(client: aredis.Redis, layout: StreamLayout) -> None:
    """Create stream + group `workers` for every partition, ignoring 'already exists'."""
    for stream in layout.streams():
        try:
            await client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise


async def run_until_signalled(worker: UpdateWorker) -> None:
    """Run `worker`, draining on SIGTERM/SIGINT."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()


WorkerFactory = Callable[[], Awaitable[UpdateWorker]]


def earlier_waiting(client: redis.Redis, layout: StreamLayout) -> Callable[[], Awaitable[bool]]:
    """Return the bot's `extra["inbox_earlier"]`: an `async () -> bool` telling whether an
    update received before the one being handled is still in the inbox (False outside a
    worker). An official's move of a round waits on it, so that it does not cut off the
    actions received before the press (they are judged at that moment, in the old phase)."""

    async def earlier() -> bool:
        ms = handled_ms.get()
        if ms is None:
            return False
        return await asyncio.to_thread(waiting_before, client, layout, ms, handled_entry.get())

    return earlier
