"""The web app and a worker in the test process, on a private Redis and a temporary SQLite.

Faster than separate processes (hypothesis runs hundreds of examples) yet the same code path:
updates go through the Flask app's `POST /telegram` into the Redis streams, and an
`UpdateWorker` with the real bot (`Runtime.bot_application`) applies them, replying through
the sandbox Bot API. Every structlog event and every stdlib log record at ERROR is kept, so
a test can say that nothing reached an unhandled exception.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aredis
import structlog

from gateway.__main__ import migrate
from gateway.settings import SANDBOX_TOKEN
from gateway.settings import Settings
from gateway.wiring import Runtime
from gateway.worker import UpdateWorker
from gateway.worker import WorkerConfig
from sandbox.server import SandboxServer
from tests.gateway.support import RedisServer
from tests.reliability.stack import CONSENT
from tests.reliability.stack import OFFICIAL
from tests.reliability.stack import REGION
from tests.reliability.stack import ROUND
from tests.reliability.stack import round_rules
from webhook.app import create_app
from webhook.inbox import PROCESSED_COUNTER
from webhook.inbox import RECEIVED_COUNTER

FAILURES = ("update_failed", "handler_failed", "bot_error_outside_update", "role_crashed")
FAST = WorkerConfig(lease_ms=1000, block_ms=50, backoff_s=0.02, max_backoff_s=0.2)


class ErrorRecords(logging.Handler):
    """Keep stdlib log records at ERROR (PTB's and asyncio's own error reports)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Gateway:
    """Sandbox + web app + one worker, in process. Use as a context manager."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.redis_server = RedisServer(tmp / "redis").start()
        self.sandbox = SandboxServer("127.0.0.1", 0, personas=False).start()
        db = f"sqlite:///{tmp}/db.sqlite"
        env = {
            "VAR_DIR": str(tmp / "var"), "DATABASE_URL": db, "REDIS_URL": self.redis_server.url,
            "UPDATE_PARTITIONS": "4", "TELEGRAM_API_BASE_URL": self.sandbox.api_base_url,
        }  # fmt: skip
        migrate(db)
        self.rt = Runtime(Settings.from_env(env))
        self.web = create_app(self.rt.webhook_deps()).test_client()
        self.secret = self.rt.settings.webhook_secret
        self.update_ids = itertools.count(1_000_000)
        self.events: list[dict[str, Any]] = []
        self.errors = ErrorRecords()
        self._capture: Any = None

    def __enter__(self) -> Gateway:
        self._capture = structlog.testing.capture_logs()
        self.events = self._capture.__enter__()
        logging.getLogger().addHandler(self.errors)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self.errors)
        self._capture.__exit__(*exc)
        self.sandbox.stop()
        self.rt.close()
        self.redis_server.kill()

    # ------------------------------------------------------------------ the world

    def open_round(self) -> str:
        """An open round with one proposal by an author; return the proposal id."""
        svc = self.rt.service
        svc.grant_first_official(OFFICIAL)
        rules = round_rules()
        svc.create_round(OFFICIAL, rules, round_id=ROUND)
        svc.open_round(OFFICIAL, ROUND)
        author = self.person(8_300_000)
        card = svc.submit_proposal(
            author, ROUND, title="proposal", body="body " * 10, category=rules.categories[0],
            region=REGION, budget=1_000_000,
        )  # fmt: skip
        return str(card.proposal_id)

    def person(self, user_id: int, *, registered: bool = True, language: str = "ko") -> int:
        """A sandbox user who started the bot (and registered, unless told otherwise)."""
        world = self.sandbox.world
        with world.lock:
            if user_id not in world.users:
                world.create_user(f"p{user_id}", id=user_id, language_code=language)
            world.private_chat(world.bot_for_token(SANDBOX_TOKEN), user_id).started = True
        if registered and self.rt.service.resident(user_id) is None:
            self.rt.service.register(user_id, region=REGION, consent_version=CONSENT)
        return user_id

    def bot_message(self, user_id: int, data: str) -> int:
        """Put a bot message with one button carrying `data` in the chat; return its id."""
        import httpx

        answer = httpx.post(
            f"{self.sandbox.api_base_url}{SANDBOX_TOKEN}/sendMessage",
            json={"chat_id": user_id, "text": "buttons",
                  "reply_markup": {"inline_keyboard": [[{"text": "b", "callback_data": data}]]}},
        ).json()  # fmt: skip
        assert answer["ok"], answer
        return int(answer["result"]["message_id"])

    # ------------------------------------------------------------------ ingress and worker

    def post(self, update: dict[str, Any] | bytes, secret: str | None = None) -> int:
        """POST an update (a dict, or raw bytes) to /telegram; return the status code."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.secret if secret is None else secret}
        if isinstance(update, bytes):
            answer = self.web.post("/telegram", data=update, headers=headers,
                                   content_type="application/json")  # fmt: skip
        else:
            answer = self.web.post("/telegram", json=update, headers=headers)
        return int(answer.status_code)

    def deliver(self, update: dict[str, Any]) -> int:
        """POST a sandbox-made update (as Telegram's webhook would); return the status."""
        return self.post(update)

    def drain(self, timeout: float = 120) -> None:
        """Run a worker with the real bot until every stored update is applied."""
        asyncio.run(self._drain(timeout))

    async def _drain(self, timeout: float) -> None:
        client = aredis.Redis.from_url(self.rt.redis_url)
        app = self.rt.bot_application(
            self.sandbox.api_base_url, self.sandbox.file_base_url, self.sandbox.bot_username,
            client,
        )  # fmt: skip
        worker = UpdateWorker(client, self.rt.layout, app, self.rt.processed(), name="w",
                              config=FAST)  # fmt: skip
        task = asyncio.create_task(worker.run())
        layout = self.rt.layout
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not task.done():
                received, processed = await client.mget(
                    [layout.key(RECEIVED_COUNTER), layout.key(PROCESSED_COUNTER)]
                )
                dead = await client.xlen(layout.key("updates:dead"))
                if int(processed or 0) + int(dead) >= int(received or 0):
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the worker did not apply every stored update")
        finally:
            worker.stop()
            await task
            await client.aclose()

    def dead_letters(self) -> int:
        return int(self.rt.redis.xlen(self.rt.layout.key("updates:dead")))

    # ------------------------------------------------------------------ what happened

    def failures(self) -> list[dict[str, Any]]:
        """Return failure events and stdlib errors: an exception nobody handled politely."""
        bad: list[dict[str, Any]] = [e for e in self.events if e.get("event") in FAILURES]
        bad += [{"event": "stdlib", "message": r.getMessage()} for r in self.errors.records]
        return bad

    def said(self, user_id: int) -> int:
        """Return how many messages the bot sent the person plus buttons it answered."""
        return len(self.sandbox.messages(user_id)) + len(self.sandbox.answered_callbacks(user_id))
