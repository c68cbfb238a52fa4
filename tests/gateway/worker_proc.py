"""A worker process for tests: a real PTB Application whose handler writes to a database.

Run as `python -m tests.gateway.worker_proc REDIS_URL DB_URL PREFIX PARTITIONS [LEASE_MS]`.
The handler behaves like the domain service: one transaction per update, idempotent per
`update_id` (the request_id), and it records whether each chat's messages came in order.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import redis.asyncio as aredis
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from telegram import Update
from telegram.ext import Application
from telegram.ext import MessageHandler
from telegram.ext import filters

from gateway.store import ProcessedUpdates
from gateway.worker import UpdateWorker
from gateway.worker import WorkerConfig
from gateway.worker import run_until_signalled
from tests.gateway.support import OfflineRequest
from webhook.inbox import StreamLayout

meta = sa.MetaData()
applied = sa.Table(
    "test_applied",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("update_id", sa.BigInteger, nullable=False),  # not unique: doubles must show
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("in_order", sa.Boolean, nullable=False),
    sa.Column("worker", sa.String(80), nullable=False),
)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")

        return engine
    return sa.create_engine(url, pool_size=20)


def apply_message(engine: Engine, update_id: int, text: str, worker: str) -> None:
    """Record one message like a domain write: idempotent per update_id, order-checked."""
    chat_id, seq = (int(x) for x in text.split(":"))
    with engine.begin() as conn:
        if conn.execute(sa.select(applied.c.id).where(applied.c.update_id == update_id)).first():
            return  # a replay: the first result stands, nothing is written
        last = conn.execute(
            sa.select(sa.func.max(applied.c.seq)).where(applied.c.chat_id == chat_id)
        ).scalar()
        conn.execute(
            applied.insert().values(
                update_id=update_id,
                chat_id=chat_id,
                seq=seq,
                in_order=seq == (last or 0) + 1,
                worker=worker,
            )
        )


def build_application(engine: Engine, name: str) -> Application[Any, Any, Any, Any, Any, Any]:
    async def record(update: Update, _context: Any) -> None:
        assert update.message is not None and update.message.text is not None
        await asyncio.sleep(0.005)  # some work, so that a kill lands mid-flight
        await asyncio.to_thread(apply_message, engine, update.update_id, update.message.text, name)

    app = (
        Application.builder()
        .token("123:TEST")
        .request(OfflineRequest())
        .get_updates_request(OfflineRequest())
        .updater(None)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, record))
    return app


async def main(redis_url: str, db_url: str, prefix: str, partitions: int, lease_ms: int) -> None:
    engine = make_engine(db_url)
    name = f"w{os.getpid()}"
    worker = UpdateWorker(
        aredis.Redis.from_url(redis_url),
        StreamLayout(partitions, prefix),
        build_application(engine, name),
        ProcessedUpdates(engine),
        name=name,
        config=WorkerConfig(lease_ms=lease_ms, block_ms=200, backoff_s=0.05, max_backoff_s=0.5),
    )
    try:
        await run_until_signalled(worker)
    finally:
        await worker.client.aclose()


if __name__ == "__main__":
    url, db, pre, parts = sys.argv[1:5]
    lease = int(sys.argv[5]) if len(sys.argv) > 5 else 1500
    asyncio.run(main(url, db, pre, int(parts), lease))
