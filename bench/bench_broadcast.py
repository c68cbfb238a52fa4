"""Broadcast to every subscriber through the sandbox with Telegram's flood limits on.

An official's announcement (`participation.notice.broadcast`) is queued by
`ParticipationService.enqueue_broadcast` for N subscribed residents; the clock's
`OutboxSender` (with its `DeliveryJournal`, exactly as `python -m gateway clock` builds it)
drains the outbox into the sandbox Bot API, which enforces 30 messages/s per bot and 1/s per
chat with 429 `retry_after`, as Telegram does.

Figures: achieved messages/s between the first and the last send, as a ratio of the allowed
30/s (target >= 0.95); lost (a subscriber with no message) and duplicated (one with two)
from the sandbox's own record of every chat, which must both be zero; 429s received; the
official's progress message (one message, edited as it goes).

    .venv/bin/python bench/bench_broadcast.py           # 2,000 subscribers (~67 s of sending)
    .venv/bin/python bench/bench_broadcast.py --full    # 10,000 subscribers (~333 s)
    .venv/bin/python bench/bench_broadcast.py --quick   # 300 subscribers (~10 s)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from support.procs import exit_on_sigterm  # noqa: E402
from telegram import Bot  # noqa: E402

from gateway.broadcast import DeliveryJournal  # noqa: E402
from gateway.broadcast import OutboxSender  # noqa: E402
from gateway.clock import drive_broadcasts  # noqa: E402
from gateway.settings import SANDBOX_TOKEN  # noqa: E402
from i18n.catalog import Catalog  # noqa: E402
from ledger import Ledger  # noqa: E402
from ledger import LedgerKey  # noqa: E402
from participation.domain.events import KINDS  # noqa: E402
from participation.service import ParticipationService  # noqa: E402
from participation.store import tables  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402

ALLOWED_PER_SECOND = 30.0  # Telegram's bulk limit, enforced by the sandbox
TARGET_RATIO = 0.95
OFFICIAL = 9_000_001
RESIDENT_BASE = 7_200_000_001
KEY = "participation.notice.broadcast"


def log(text: str) -> None:
    print(text, flush=True)


def setup(svc: ParticipationService, srv: SandboxServer, n: int) -> list[int]:
    """Register `n` subscribed residents (service) who started the bot (sandbox)."""
    users = [RESIDENT_BASE + i for i in range(n)]
    svc.grant_first_official(OFFICIAL)
    bot = srv.world.bot_for_token(SANDBOX_TOKEN)
    for uid in [OFFICIAL, *users]:
        srv.users.create("주민", user_id=uid)
        with srv.world.lock:
            srv.world.private_chat(bot, uid).started = True  # as after their /start
    with ThreadPoolExecutor(16) as pool:

        def register(i: int) -> None:
            svc.register(users[i], region="suwon", consent_version="2017-02")

        list(pool.map(register, range(n)))
    return users


async def send_all(svc: ParticipationService, srv: SandboxServer, catalog: Catalog,
                   engine: sa.Engine, broadcast_id: int) -> float:  # fmt: skip
    """Drain the outbox as the clock does (drive_broadcasts every 2 s); return seconds taken."""
    started = time.monotonic()
    async with Bot(SANDBOX_TOKEN, base_url=srv.api_base_url) as bot:
        sender = OutboxSender(
            svc, bot, catalog, official_of=lambda _bid: OFFICIAL, journal=DeliveryJournal(engine)
        )
        while True:
            await drive_broadcasts(sender)  # what the clock runs every 2 s
            progress = svc.broadcast_progress(broadcast_id)
            if not any(progress.get(s) for s in ("pending", "claimed", "sending")):
                break
            await asyncio.sleep(2)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="300 subscribers")
    size.add_argument("--full", action="store_true", help="10,000 subscribers (~6 minutes)")
    parser.add_argument("--subscribers", type=int, default=None)
    args = parser.parse_args()
    exit_on_sigterm()
    n = args.subscribers or (300 if args.quick else 10_000 if args.full else 2_000)

    work = ROOT / "var" / "bench" / f"broadcast-{os.getpid()}"
    work.mkdir(parents=True)
    srv = SandboxServer("127.0.0.1", 0, flood_limits=True, personas=False).start()
    key = LedgerKey.from_seed("bench-broadcast", bytes(range(32)))
    ledger = Ledger.open(f"sqlite:///{work / 'db.sqlite'}", key, "bench.example/bc", kinds=KINDS)
    svc = ParticipationService(ledger, pepper=b"bench-pepper-0123456789",
                               clock=lambda: datetime.now(UTC))  # fmt: skip
    svc.create_tables()
    catalog = Catalog.load()
    try:
        log(f"set-up: {n:,} subscribed residents ...")
        t = time.perf_counter()
        users = setup(svc, srv, n)
        log(f"  done in {time.perf_counter() - t:.0f} s")
        text = "2017 따복공동체 주민제안 공모사업 심사 결과를 발표했습니다."
        broadcast_id = svc.enqueue_broadcast(OFFICIAL, KEY, {"text": text})
        log(f"broadcast {broadcast_id} to {n:,} subscribers at <= {ALLOWED_PER_SECOND:.0f}/s ...")
        wall = asyncio.run(send_all(svc, srv, catalog, ledger.engine, broadcast_id))

        stats = srv.stats()
        per_chat: dict[int, list[float]] = stats["per_chat"]  # type: ignore[assignment]
        expected = catalog.text("ko", KEY, text=text)
        got = Counter(
            uid for uid in users for m in srv.messages(uid) if m.get("text") == expected
        )  # fmt: skip
        lost = sum(1 for uid in users if got[uid] == 0)
        doubled = sum(1 for uid in users if got[uid] > 1)
        stamps = sorted(t for uid in users for t in per_chat.get(uid, []))
        span = stamps[-1] - stamps[0] if len(stamps) > 1 else float("nan")
        rate = (len(stamps) - 1) / span if len(stamps) > 1 else 0.0
        worst_second = max(
            (sum(1 for s in stamps[i : i + 40] if s - stamps[i] < 1.0) for i in range(len(stamps))),
            default=0,
        )
        with ledger.engine.connect() as conn:
            o = tables.outbox.c
            states = dict(
                conn.execute(
                    sa.select(o.state, sa.func.count())
                    .where(o.broadcast_id == broadcast_id)
                    .group_by(o.state)
                ).all()
            )
        progress = srv.messages(OFFICIAL)
        log("")
        log(f"broadcast of {n:,} messages with flood limits on (sandbox, 30/s per bot):")
        log(f"  achieved        : {rate:6.2f} msgs/s over {span:.1f} s = "
            f"{rate / ALLOWED_PER_SECOND:.3f} of the allowed {ALLOWED_PER_SECOND:.0f}/s "
            f"(target >= {TARGET_RATIO})")  # fmt: skip
        log(f"  busiest second  : {worst_second} messages (limit {ALLOWED_PER_SECOND:.0f})")
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        if gaps:
            ideal = 1 / ALLOWED_PER_SECOND
            slow = [g for g in gaps if g > 1.5 * ideal]
            ordered = sorted(gaps)
            log(f"  send intervals  : median {ordered[len(gaps) // 2] * 1000:.1f} ms, p99 "
                f"{ordered[int(0.99 * (len(gaps) - 1))] * 1000:.1f} ms (ideal {ideal * 1000:.1f});"
                f" {len(slow)} gaps > {1.5 * ideal * 1000:.0f} ms, "
                f"{sum(g - ideal for g in slow):.1f} s beyond the ideal spacing in them; span "
                f"{span:.1f} s vs ideal "
                f"{(len(stamps) - 1) * ideal:.1f} s")  # fmt: skip
        log(f"  429s received   : {stats['rate_limited']}")
        log(f"  lost            : {lost}   duplicated: {doubled}")
        log(f"  outbox states   : {dict(sorted(states.items()))}")
        log(f"  official        : {len(progress)} progress message(s), last: "
            f"{(progress[-1]['text'] if progress else '').splitlines()[0:1]}")  # fmt: skip
        log(f"  wall time       : {wall:.1f} s (drained as the clock drives it, every 2 s)")
        ok = not lost and not doubled and rate / ALLOWED_PER_SECOND >= TARGET_RATIO
        log(f"  result          : {'PASS' if ok else 'MISS'}")
    finally:
        srv.stop()
        ledger.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
