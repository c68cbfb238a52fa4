"""The whole runtime as separate processes, for killing and restarting under load.

`Stack` runs the sandbox Bot API in the test process (it plays Telegram: its webhook delivery
POSTs every update to our `/telegram`, in order, retrying until it gets a 2xx, exactly as
Telegram does) and `python -m gateway web|worker|clock` as subprocesses on one database and
one Redis. The test process keeps its own `Runtime` for setting up rounds and for reading the
results. Randomness is seeded: `SEED` (env `RELIABILITY_SEED`, else random) is printed by every
test that uses it, so a failing run can be repeated.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.__main__ import migrate
from gateway.settings import SANDBOX_TOKEN
from gateway.settings import Settings
from gateway.wiring import Runtime
from ledger.store import entries as ledger_entries
from participation.domain.round import Deadlines
from participation.domain.round import RoundRules
from sandbox.server import SandboxServer
from sandbox.webhook import Backoff

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(1 << 31))
OFFICIAL = 9_100_001
ROUND = "rel2017"
REGION = "yeoncheon"
CONSENT = "2017-02"
# Log events at error level that a healthy run never shows. Ingress' `update_not_stored`
# (Redis down: Telegram retries) is expected only while Redis is restarted.
FATAL_EVENTS = ("update_failed", "handler_failed", "bot_error_outside_update", "role_crashed")


def round_rules() -> RoundRules:
    """An open round whose phases end in 10, 20 and 30 days (the processes use real time)."""
    now = datetime.now(UTC)
    at = lambda days: int((now + timedelta(days=days)).timestamp())  # noqa: E731
    deadlines = Deadlines(submission_ends=at(10), endorsement_ends=at(20), review_ends=at(30))
    return RoundRules(title="reliability", budget_cap=30_000_000, deadlines=deadlines)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 60.0, every: float = 0.05):
    """Return the first truthy `probe()`; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass
class Proc:
    role: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


class Stack:
    """Sandbox + web + workers + clock on `db_url` and `redis_url`."""

    def __init__(
        self,
        tmp: Path,
        db_url: str,
        redis_url: str,
        *,
        prefix: str = "",
        partitions: int = 8,
        block_seconds: int = 1,
        lease_ms: int = 2000,
    ) -> None:
        self.tmp, self.db_url, self.redis_url = tmp, db_url, redis_url
        self.logs = tmp / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.sandbox = SandboxServer(
            "127.0.0.1", 0, personas=False,
            webhook_backoff=Backoff(first=0.05, longest=0.5, request_timeout=10.0),
        ).start()  # fmt: skip
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")},
            "VAR_DIR": str(tmp / "var"), "DATABASE_URL": db_url, "REDIS_URL": redis_url,
            "REDIS_PREFIX": prefix, "UPDATE_PARTITIONS": str(partitions), "LOG_LEVEL": "info",
            "WORKER_LEASE_MS": str(lease_ms), "CLOCK_LEASE_MS": "3000",
            "BLOCK_SECONDS": str(block_seconds),
            "TELEGRAM_API_BASE_URL": self.sandbox.api_base_url, "PORT": str(self.port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}", "PYTHONDONTWRITEBYTECODE": "1",
        }  # fmt: skip
        self.settings = Settings.from_env(self.env)  # creates the pepper and secret under var/
        migrate(db_url)
        self.rt = Runtime(self.settings)
        self.procs: list[Proc] = []
        self.killed: set[int] = set()  # pids this test killed on purpose
        self.kill_times: list[tuple[str, float]] = []  # (role, time.time()) of every kill -9
        self.web_url = f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ processes

    def spawn(self, role: str) -> Proc:
        log = self.logs / f"{role}-{len(self.procs)}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "gateway", role], cwd=ROOT, env=self.env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        proc = Proc(role, popen, log)
        self.procs.append(proc)
        return proc

    def live(self, role: str) -> list[Proc]:
        return [p for p in self.procs if p.role == role and p.alive()]

    def start(self, *, workers: int = 2, clock: bool = True) -> Stack:
        self.spawn("web")
        for _ in range(workers):
            self.spawn("worker")
        if clock:
            self.spawn("clock")
        self.wait_web()
        self.wait("every worker to hold a partition", self.workers_hold_leases, 60)
        return self

    def wait_web(self) -> None:
        def up() -> bool:
            try:
                return httpx.get(f"{self.web_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait("the web process", up, 60)

    def workers_hold_leases(self) -> bool:
        layout, client = self.rt.layout, self.rt.redis
        holders = {
            (client.get(layout.key(f"lease:updates:{p}")) or b"").decode()
            for p in range(layout.partitions)
        }
        return all(any(f"-{w.pid}-" in h for h in holders) for w in self.live("worker"))

    def kill9(self, proc: Proc) -> None:
        self.killed.add(proc.pid)
        self.kill_times.append((proc.role, time.time()))
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait()

    def check_alive(self) -> None:
        """Fail at once, with its log, when a process died that the test did not kill."""
        for proc in self.procs:
            if not proc.alive() and proc.pid not in self.killed:
                tail = proc.log.read_text(errors="replace")[-3000:]
                raise AssertionError(
                    f"{proc.role} {proc.pid} exited ({proc.popen.returncode}):\n{tail}"
                )

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 60.0, every: float = 0.05):
        """`wait_until`, failing early when a process of the stack died by itself."""

        def checked() -> Any:
            self.check_alive()
            return probe()

        return wait_until(what, checked, timeout, every)

    def replace(self, proc: Proc) -> Proc:
        """kill -9 `proc` and start another process of the same role."""
        self.kill9(proc)
        return self.spawn(proc.role)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.popen.wait(20)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        self.sandbox.stop()
        self.rt.close()
        keep = os.environ.get("RELIABILITY_LOGS")  # a directory to keep the logs in (debugging)
        if keep:
            shutil.copytree(self.logs, Path(keep) / f"{self.tmp.name}-{time.time_ns()}")

    # ------------------------------------------------------------------ logs

    def events(self, *names: str) -> list[dict[str, Any]]:
        """Return the JSON log events of every process (all events when no `names`)."""
        found = []
        for path in sorted(self.logs.glob("*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut by kill -9
                if not names or event.get("event") in names:
                    event["_log"] = path.name
                    found.append(event)
        return found

    def stray_errors(self) -> list[str]:
        """Return errors logged outside structlog that show a crash: a partition task died,
        or the bot's error handler itself failed."""
        marks = ("Task exception was never retrieved", "uncaught error was raised while handling")
        return [
            f"{path.name}: {line}"
            for path in sorted(self.logs.glob("*.log"))
            for line in path.read_text(errors="replace").splitlines()
            if any(mark in line for mark in marks)
        ]

    def tracebacks(self) -> list[str]:
        """Return raw (non-JSON) traceback lines: something crashed outside structlog."""
        out = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace")
            if "Traceback (most recent call last)" in text:
                out.append(f"{path.name}: {text[-2000:]}")
        return out

    # ------------------------------------------------------------------ the domain

    def open_round(self, proposals: int, authors_from: int) -> list[str]:
        """Create an open round with `proposals` proposals; return their ids."""
        svc = self.rt.service
        rules = round_rules()
        svc.grant_first_official(OFFICIAL)
        svc.create_round(OFFICIAL, rules, round_id=ROUND)
        svc.open_round(OFFICIAL, ROUND)
        ids = []
        for n in range(proposals):
            author = authors_from + n
            self.resident(author)
            card = svc.submit_proposal(
                author, ROUND, title=f"proposal {n}", body="body " * 10,
                category=rules.categories[0], region=REGION, budget=1_000_000,
            )  # fmt: skip
            ids.append(card.proposal_id)
        return ids

    def resident(self, user_id: int) -> int:
        """Register `user_id` and open their chat with the bot in the sandbox."""
        world = self.sandbox.world
        with world.lock:
            if user_id not in world.users:
                world.create_user(f"r{user_id}", id=user_id, language_code="ko")
            world.private_chat(world.bot_for_token(SANDBOX_TOKEN), user_id).started = True
        if self.rt.service.resident(user_id) is None:
            self.rt.service.register(user_id, region=REGION, consent_version=CONSENT)
        return user_id

    def card_with_button(self, user_id: int, action: str, args: dict[str, Any]) -> dict[str, Any]:
        """Send the person a bot message with one button for `action`; return (message, data)."""
        token = self.rt.service.issue_button(user_id, action, args, ttl_s=3600)
        answer = httpx.post(
            f"{self.sandbox.api_base_url}{SANDBOX_TOKEN}/sendMessage",
            json={"chat_id": user_id, "text": "card",
                  "reply_markup": {"inline_keyboard": [[{"text": "b", "callback_data": token}]]}},
        ).json()  # fmt: skip
        assert answer["ok"], answer
        return {"message_id": answer["result"]["message_id"], "data": token, "user": user_id}

    def press(self, button: dict[str, Any]) -> int:
        """Tap the button (the sandbox queues the update for delivery); return its update_id."""
        update = self.sandbox.press(button["user"], button["message_id"], button["data"])
        return int(update["update_id"])

    # ------------------------------------------------------------------ reading the results

    def pending_deliveries(self) -> int:
        world = self.sandbox.world
        with world.lock:
            return len(world.bot_for_token(SANDBOX_TOKEN).updates)

    def ledger_requests(self) -> Counter[int]:
        """Return how many ledger entries each Telegram update produced (dedup key tg:<id>)."""
        e = ledger_entries.c
        with self.rt.engine.connect() as conn:
            keys = conn.execute(sa.select(e.dedup_key).where(e.dedup_key.like("tg:%"))).scalars()
            return Counter(int(k.split(":", 1)[1]) for k in keys)

    def seq_gaps(self) -> list[int]:
        e = ledger_entries.c
        with self.rt.engine.connect() as conn:
            seqs = list(conn.execute(sa.select(e.seq).order_by(e.seq)).scalars())
        return [s for i, s in enumerate(seqs) if s != i]

    def export_and_verify(self) -> subprocess.CompletedProcess[str]:
        """Run `python -m ledger export` then `python -m ledger verify` with the trusted vkey."""
        out = self.tmp / f"export-{time.time_ns()}"
        env = {k: v for k, v in self.env.items() if k in ("PATH", "HOME", "LANG")}
        export = subprocess.run(
            [sys.executable, "-m", "ledger", "export", "--db", self.db_url, "--out", str(out)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert export.returncode == 0, export.stderr
        vkey = self.rt.ledger.vkeys()[0]
        return subprocess.run(
            [sys.executable, "-m", "ledger", "verify", str(out), "--vkey", vkey,
             "--processes", "2", "--locale", "en"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def digest_blocks(self) -> list[int]:
        """Return the block number of every digest post in the public channel, in order."""
        return [number for number, _date in self.digest_posts()]

    def digest_posts(self) -> list[tuple[int, int]]:
        """Return (block number, message date in epoch seconds) of every digest post, in order."""
        out = []
        for post in self.sandbox.channel_posts(self.settings.public_channel):
            found = re.search(r"/verify\?b=(\d+)", post.get("html") or post.get("text") or "")
            out.append((int(found.group(1)) if found else -1, int(post.get("date") or 0)))
        return out
