"""The clock: one scheduler for the whole instance (STYLE R23).

Only the holder of the Redis lease `clock:leader` runs jobs; a second clock process waits
and takes over within one lease time if the first dies. Jobs (UTC; shown in KST only in
texts):
- `seal_block` every BLOCK_SECONDS: seal a block if the ledger grew (empty periods seal
  nothing) and post the digest of every block not yet posted to PUBLIC_CHANNEL.
- `advance_phases` every 30 s: open/close round phases whose deadline passed, once every update
  received before the deadline has been applied (at most 10 minutes after it), replayed
  dead letters at their first reception and recent dead letters included.
- `remind_judges` every 15 min: 24 h and 1 h before the review deadline, remind judges who
  still have proposals to score (once per round and threshold).
- `drive_broadcasts` every 2 s: deliver the participation outbox at <= 30 messages/s.
- `prune_processed` hourly: forget processed update ids older than 7 days.
- `refresh_results_posts` every 30 s: edit the channel's results posts that show a title
  hidden or erased since (or shown again), see `gateway.results_edits`.
- `refresh_notices` every 30 s: edit the delivered notices (private messages) that name a
  proposal hidden or erased since (or shown again), see `gateway.notice_edits`.
Catch-up: each job's last run is stored (`gateway_job_runs`). On becoming leader a job whose
period has elapsed runs once at once (coalesced: missing five periods runs it once, not
five times); otherwise it resumes on its old rhythm.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import redis
import sqlalchemy as sa
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram import Bot

from gateway import lease
from gateway.broadcast import OutboxSender
from gateway.digest import DigestPublisher
from gateway.store import JobRuns
from gateway.store import ProcessedUpdates
from i18n.catalog import Catalog
from i18n.format import format_datetime
from participation.domain.rules import RECEIVED_LATE_S
from webhook.inbox import StreamLayout
from webhook.inbox import oldest_waiting_ms

log = structlog.get_logger("gateway.clock")

REMIND_BEFORE_H = (24, 1)


class Leadership:
    """A renewable Redis lease: exactly one clock holds it at a time."""

    def __init__(self, client: redis.Redis, key: str, name: str, ttl_ms: int = 30_000) -> None:
        self._redis, self.key, self.name, self.ttl_ms = client, key, name, ttl_ms
        self._renew = client.register_script(lease.RENEW)
        self._release = client.register_script(lease.RELEASE)

    def hold(self) -> bool:
        """Renew the lease if ours, else try to take it; return whether we hold it now."""
        if self._renew(keys=[self.key], args=[self.name, self.ttl_ms]):
            return True
        return bool(self._redis.set(self.key, self.name, nx=True, px=self.ttl_ms))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.name])


# ------------------------------------------------------------------ jobs


async def seal_block(ledger: Any, publisher: DigestPublisher, runs: JobRuns) -> None:
    """Seal a block when the ledger grew, then post every digest not yet posted."""
    before = await asyncio.to_thread(ledger.checkpoint)
    after = await asyncio.to_thread(ledger.seal)
    if after is not None and (before is None or after.size != before.size):
        log.info("block_sealed", block=after.block, size=after.size)
    await publisher.publish_pending()
    await asyncio.to_thread(runs.record, "seal_block")


async def advance_phases(
    service: Any,
    runs: JobRuns,
    client: redis.Redis,
    layout: StreamLayout,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Move every round whose phase deadline passed to its next phase, once the inbox holds
    no update received before that deadline (those are judged at the moment they were
    received, and must be applied in the phase they were sent in; see rules.due_phase).
    Without Redis this tick moves nothing: it cannot tell what still waits.

    A dead letter received in the last ``RECEIVED_LATE_S`` waits too: replayed now, it is
    judged at the moment it was received (the dead-letter path keeps it), so an operator who
    replays the updates that died in a deadline's rush within the clock's wait (at most
    ``ADVANCE_WAIT_S`` after the deadline, as for any update) has them counted in their phase.
    Older ones do not hold a round: an operator had a quarter of an hour already; nor do
    unparsable ones, which a replay cannot apply. Read in the
    same round trip as the partitions (webhook.inbox.oldest_waiting_ms).

    ``clock``: the service's clock. The read vouches only for what was received before it:
    an update received after it (before a deadline the service's later time has passed)
    is not in it, so the read's own moment counts as waiting too."""
    read_at = int(clock().timestamp())  # before the read: it holds all received before this
    dead_since_ms = max(0, read_at - RECEIVED_LATE_S) * 1000
    try:
        oldest = await asyncio.to_thread(
            oldest_waiting_ms, client, layout, dead_since_ms=dead_since_ms
        )
    except redis.RedisError as err:
        log.warning("advance_phases_inbox_unavailable", error=type(err).__name__)
        return
    waiting_since = read_at if oldest is None else min(oldest // 1000, read_at)
    moved = await asyncio.to_thread(service.advance_due_rounds, waiting_since=waiting_since)
    for round_id, phase in moved:
        log.info("phase_advanced", round_id=round_id, phase=phase)
    await asyncio.to_thread(runs.record, "advance_phases")


async def remind_judges(service: Any, bot: Bot, catalog: Catalog, runs: JobRuns) -> None:
    """Remind judges with unscored proposals, 24 h and 1 h before the review deadline."""
    now = int(time.time())
    for view in await asyncio.to_thread(service.rounds):
        deadline = view.deadline if view.phase == "review" else None
        if deadline is None or deadline <= now:
            continue
        # Thresholds already passed; one reminder covers all of them (a clock that was down
        # for a day sends one reminder, not two in a row).
        due = [f"remind:{view.round_id}:{h}"[:64] for h in REMIND_BEFORE_H
               if deadline - now <= h * 3600]  # fmt: skip
        done = [await asyncio.to_thread(runs.last_run, job_id) for job_id in due]
        if not due or all(done):
            continue
        judges = await asyncio.to_thread(service.judges_to_remind, view.round_id)
        for user_id in judges:
            await _remind(service, bot, catalog, user_id, view.title, deadline)
        for job_id in due:
            await asyncio.to_thread(runs.record, job_id)
        log.info("judges_reminded", round_id=view.round_id, judges=len(judges))
    await asyncio.to_thread(runs.record, "remind_judges")


async def _remind(
    service: Any, bot: Bot, catalog: Catalog, user_id: int, title: str, deadline: int
) -> None:
    resident = await asyncio.to_thread(service.resident, user_id)
    locale = getattr(resident, "locale", None) or "ko"
    text = catalog.text(
        locale, "gateway.remind.judge", round=title, deadline=format_datetime(deadline, locale)
    )
    try:
        await bot.send_message(user_id, text)
    except Exception as err:  # one unreachable judge must not stop the others
        log.warning("reminder_failed", error=type(err).__name__)
    await asyncio.sleep(1 / 30)


async def drive_broadcasts(sender: OutboxSender) -> None:
    """Deliver pending notices and broadcasts in drains of up to 50 s, back to back while work
    is left (a long broadcast does not wait for the next tick between two drains)."""
    await sender.drain(budget_s=50.0)
    while sender.backlog:  # losing the lease cancels this job (the scheduler shuts down)
        await sender.drain(budget_s=50.0)


async def prune_processed(processed: ProcessedUpdates, runs: JobRuns) -> None:
    """Forget processed update ids older than a week (Telegram redelivers within 24 h)."""
    removed = await asyncio.to_thread(processed.prune, timedelta(days=7))
    if removed:
        log.info("processed_pruned", removed=removed)
    await asyncio.to_thread(runs.record, "prune_processed")


# ------------------------------------------------------------------ the clock


Job = Callable[..., Awaitable[None]]


class Clock:
    """Hold the leader lease and run the jobs while holding it."""

    def __init__(
        self,
        leadership: Leadership,
        runs: JobRuns,
        jobs: list[tuple[str, Job, float, list[Any]]],
    ) -> None:
        self._leadership = leadership
        self._runs = runs
        self._jobs = jobs  # (id, function, period in seconds, args)
        self._stop = asyncio.Event()
        self.scheduler: AsyncIOScheduler | None = None

    def stop(self) -> None:
        self._stop.set()

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    async def run(self) -> None:
        """Lead when possible, stand by otherwise, until stop()."""
        interval = self._leadership.ttl_ms / 3000
        try:
            while not self._stop.is_set():
                try:
                    held = await asyncio.to_thread(self._leadership.hold)
                except redis.RedisError as err:
                    log.warning("clock_lease_unavailable", error=type(err).__name__)
                    held = False
                if held and self.scheduler is None:
                    await self._lead()
                elif not held and self.scheduler is not None:
                    log.warning("clock_leadership_lost")
                    self._follow()
                try:
                    await asyncio.wait_for(self._stop.wait(), interval)
                except TimeoutError:
                    pass
        finally:
            self._follow()
            try:
                await asyncio.to_thread(self._leadership.release)
            except redis.RedisError:
                pass

    async def _lead(self) -> None:
        """Start the jobs, each due when its period has passed since its last recorded run.

        The last runs are read from the database: when it does not answer (it may come back
        after Redis, which granted the lease), nothing starts and the next round of `run`
        tries again; the clock process stays up."""
        try:
            lasts = [
                await asyncio.to_thread(self._runs.last_run, job_id)
                for job_id, _func, _period, _args in self._jobs
            ]
        except sa.exc.DBAPIError as err:
            log.warning("clock_database_unavailable", error=type(err.orig).__name__)
            return
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        for (job_id, func, period, args), last in zip(self._jobs, lasts, strict=True):
            due = now if last is None or last + timedelta(seconds=period) <= now else None
            first = due or (last + timedelta(seconds=period) if last else now)
            scheduler.add_job(
                func,
                "interval",
                seconds=period,
                args=args,
                id=job_id,
                name=job_id,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(30, int(period)),
                next_run_time=first,
            )
        scheduler.start()
        self.scheduler = scheduler
        log.info("clock_leading", jobs=[j[0] for j in self._jobs])

    def _follow(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
