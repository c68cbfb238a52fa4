"""Worker memory under a long day: RSS of one `python -m gateway worker` over 100,000 updates.

The worker is the real one (Redis streams, `Application.process_update`, the participation
service on SQLite, replies to the sandbox Bot API). The updates are a cheap real kind:
`/help` from 2,000 different people (each under the per-person rate limit), so every update
runs the whole path (rate-limit script in Redis, processed-id check, resident and conversation
load, catalog text, sendMessage, processed-id record, XACK+XDEL) while the test stays short.
Updates are appended to the streams with `Inbox.put_once` (as ingress does), kept a few
thousand ahead of the worker.

Baseline in the same run: the worker's own RSS after start-up, before its first update.
Targets: RSS under 200 MB after 100,000 updates; no growth between the 50k and 100k marks
(tolerance 2 MB, allocator noise).

    .venv/bin/python bench/bench_memory.py --full    # 100,000 updates (~15-20 min on 2 cores)
    .venv/bin/python bench/bench_memory.py           # 20,000 (~3 min; marks at 10k and 20k)
    .venv/bin/python bench/bench_memory.py --quick   # 5,000
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redis  # noqa: E402
from support.procs import BIN  # noqa: E402
from support.procs import Proc  # noqa: E402
from support.procs import RedisServer  # noqa: E402
from support.procs import base_env  # noqa: E402
from support.procs import exit_on_sigterm  # noqa: E402

from gateway.__main__ import migrate  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402
from sandbox.world import Limits  # noqa: E402
from webhook.inbox import PROCESSED_COUNTER  # noqa: E402
from webhook.inbox import Inbox  # noqa: E402
from webhook.inbox import StreamLayout  # noqa: E402

PEOPLE = 2_000
USER_BASE = 7_300_000_001
AHEAD = 3_000  # updates kept queued in front of the worker
LIMIT_MB = 200.0
TOLERANCE_MB = 2.0
PREFIX = "mem:"


def log(text: str) -> None:
    print(text, flush=True)


def help_update(update_id: int, user_id: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "주민"},
            "from": {"id": user_id, "is_bot": False, "first_name": "주민", "language_code": "ko"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


def feed(inbox: Inbox, client: redis.Redis, total: int, stop: threading.Event) -> None:
    """Append `total` updates, staying at most AHEAD in front of the processed counter."""
    sent = 0
    while sent < total and not stop.is_set():
        done = int(client.get(PREFIX + PROCESSED_COUNTER) or 0)
        room = min(AHEAD - (sent - done), total - sent)
        if room <= 0:
            time.sleep(0.05)
            continue
        for _ in range(room):
            inbox.put_once(help_update(10_000_000 + sent, USER_BASE + sent % PEOPLE))
            sent += 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="5,000 updates")
    size.add_argument("--full", action="store_true", help="100,000 updates")
    parser.add_argument("--updates", type=int, default=None)
    args = parser.parse_args()
    exit_on_sigterm()
    total = args.updates or (5_000 if args.quick else 100_000 if args.full else 20_000)
    marks = [0, total // 10, total // 2, total]

    work = ROOT / "var" / "bench" / f"memory-{os.getpid()}"
    work.mkdir(parents=True)
    db_url = f"sqlite:///{work / 'db.sqlite'}"
    redis_server = RedisServer(work / "redis").start()
    srv = SandboxServer("127.0.0.1", 0, personas=False).start()
    srv.world.limits = Limits(updates_per_bot=10, messages_per_chat=20)
    env = base_env(
        VAR_DIR=str(work / "var"), DATABASE_URL=db_url, REDIS_URL=redis_server.url,
        REDIS_PREFIX=PREFIX, TELEGRAM_API_BASE_URL=srv.api_base_url, LOG_LEVEL="warning",
    )  # fmt: skip
    stop = threading.Event()
    worker: Proc | None = None
    try:
        migrate(db_url)
        settings = Settings.from_env(env)
        bot = srv.world.bot_for_token(settings.telegram_token)
        for i in range(PEOPLE):
            srv.users.create("주민", user_id=USER_BASE + i)
            with srv.world.lock:
                srv.world.private_chat(bot, USER_BASE + i).started = True
        client = redis.Redis.from_url(redis_server.url)
        inbox = Inbox(client, StreamLayout(settings.update_partitions, PREFIX))
        inbox.ensure_groups()
        worker = Proc("worker", [str(BIN / "python"), "-m", "gateway", "worker"],
                      work / "worker.log", env)  # fmt: skip
        lease = f"{PREFIX}lease:updates:0"
        deadline = time.monotonic() + 60
        while not client.exists(lease):
            if not worker.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{worker.tail()}")
            time.sleep(0.1)
        time.sleep(1.0)  # let start-up allocations settle
        log(f"one worker, {total:,} /help updates from {PEOPLE:,} people ...")
        feeder = threading.Thread(target=feed, args=(inbox, client, total, stop), daemon=True)
        readings: dict[int, float] = {0: rss_mb(worker.pid)}
        log(f"  {0:>8,} updates: RSS {readings[0]:6.1f} MB")
        started = time.monotonic()
        feeder.start()
        peak, pending = readings[0], marks[1:]
        while pending:
            done = int(client.get(PREFIX + PROCESSED_COUNTER) or 0)
            rss = rss_mb(worker.pid)
            peak = max(peak, rss)
            if done >= pending[0]:
                readings[pending[0]] = rss
                rate = done / (time.monotonic() - started)
                log(f"  {pending[0]:>8,} updates: RSS {rss:6.1f} MB ({rate:,.0f} updates/s)")
                pending.pop(0)
            if not worker.alive():
                raise RuntimeError(f"the worker died:\n{worker.tail()}")
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        failed = worker.tail(100_000).count('"update_failed"')
        half, last, base = readings[marks[2]], readings[marks[3]], readings[0]
        log("")
        log(f"worker RSS over {total:,} updates ({elapsed:.0f} s, {total / elapsed:,.0f}/s):")
        log(f"  at start {base:.1f} MB; at {marks[2]:,}: {half:.1f} MB = {half / base:.2f}x start")
        log(f"  at {total:,}: {last:.1f} MB = {last / base:.2f}x start; peak {peak:.1f} MB")
        log(f"  growth {marks[2]:,} -> {total:,}: {last - half:+.1f} MB "
            f"(tolerance {TOLERANCE_MB} MB); limit {LIMIT_MB:.0f} MB")  # fmt: skip
        log(f"  handler failures logged: {failed}")
        ok = last < LIMIT_MB and last - half <= TOLERANCE_MB and not failed
        log(f"  result: {'PASS' if ok else 'MISS'}")
    finally:
        stop.set()
        if worker is not None:
            worker.stop()
        srv.stop()
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
