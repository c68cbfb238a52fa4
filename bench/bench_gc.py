"""The collector's pause in a started worker: a full collection before and after settle_heap.

A worker's start-up leaves ~166,000 long-lived objects (modules, classes, SQLAlchemy's and
PTB's tables, the catalogs, the built Application). A full (generation 2) collection walks
every tracked object with the GIL held, so the event loop, every partition and the ledger
writer stand still for its length. `gateway.wiring.settle_heap` (gc.freeze once start-up is
done) takes them out of the walk. This script builds what `worker_main` builds (a Runtime on
embedded SQLite, the bot's Application with its Redis-backed rate limiter), then times
`gc.collect()`: as it is, then frozen with a read batch of parsed updates in flight, then
unfrozen again with the same updates (the baseline, measured last so that the machine has
not merely warmed up). The figure is the median pause frozen / the baseline's.

    python bench/bench_gc.py [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis.asyncio as aredis  # noqa: E402
from telegram import Update  # noqa: E402

from gateway.__main__ import migrate  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.wiring import Runtime  # noqa: E402
from gateway.wiring import settle_heap  # noqa: E402


def update(n: int) -> dict[str, Any]:
    """A pressed card button, as Telegram sends it (the card and its keyboard included)."""
    user = {"id": 10_000 + n, "is_bot": False, "first_name": "r", "language_code": "ko"}
    keyboard = [[{"text": f"+ {n}", "callback_data": f"t{n:030d}"}] for _ in range(2)]
    message = {
        "message_id": n, "date": 1_700_000_000, "chat": {"id": user["id"], "type": "private"},
        "from": {"id": 1, "is_bot": True, "first_name": "bot"}, "text": "x" * 300,
        "reply_markup": {"inline_keyboard": keyboard},
    }  # fmt: skip
    query = {"id": str(n), "from": user, "chat_instance": "c", "data": f"t{n:030d}",
             "message": message}  # fmt: skip
    return {"update_id": n, "callback_query": query}


def pauses(n: int) -> list[float]:
    """Time `n` full collections, in ms."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        gc.collect()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="full collections timed per side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var:
        db = f"sqlite:///{var}/gc.db"
        # a Redis URL nothing listens on: the clients connect lazily and are never used here
        env = {"VAR_DIR": var, "DATABASE_URL": db, "REDIS_URL": "redis://127.0.0.1:9/0"}
        migrate(db)
        rt = Runtime(Settings.from_env(env))
        client = aredis.Redis.from_url(env["REDIS_URL"])
        app = rt.bot_application("http://127.0.0.1:9/bot", "http://127.0.0.1:9/file", "b", client)
        tracked = len(gc.get_objects())
        before = pauses(args.rounds)
        settle_heap()
        frozen = gc.get_freeze_count()
        # what a worker holds while it runs: a read batch of updates in flight (16 partitions
        # x 16 entries), parsed into PTB objects as the worker does, made after the freeze
        in_flight = [Update.de_json(update(n), app.bot) for n in range(256)]
        after = pauses(args.rounds)
        gc.unfreeze()
        again = pauses(args.rounds)  # the baseline once more, with the same updates in flight
        base = statistics.median(again)
        now = statistics.median(after)
        print(f"full collection in a started worker ({tracked:,} tracked objects, "
              f"{args.rounds} collections a side):")  # fmt: skip
        print(f"  as it is (baseline)  : median {base:6.2f} ms, {len(in_flight)} parsed updates "
              f"in flight (start-up alone, before freezing: "
              f"{statistics.median(before):.2f} ms)")  # fmt: skip
        print(f"  after settle_heap    : median {now:6.2f} ms, the same updates in flight "
              f"({frozen:,} objects frozen)")  # fmt: skip
        print(f"  ratio                : {now / base:.4f} of the baseline's pause")
        del app, in_flight
        rt.close()


if __name__ == "__main__":
    main()
