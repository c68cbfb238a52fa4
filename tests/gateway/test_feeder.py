"""Polling mode: with no public URL the feeder long-polls getUpdates into the same streams."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from telegram import Bot

from gateway.clock import Leadership
from gateway.processes import Feeder
from gateway.settings import SANDBOX_TOKEN
from gateway.settings import Settings
from gateway.wiring import Runtime
from ledger import LedgerKey
from tests.gateway.support import RedisServer


def test_polling_feeds_the_streams_once_each_and_keeps_its_offset(tmp_path: Path):
    from sandbox.server import SandboxServer

    sandbox = SandboxServer("127.0.0.1", 0, personas=False).start()
    server = RedisServer(tmp_path / "r").start()
    key = tmp_path / "ledger.key"
    LedgerKey.generate("gg").to_file(key)
    settings = Settings.from_env({
        "VAR_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": SANDBOX_TOKEN,
        "TELEGRAM_API_BASE_URL": sandbox.api_base_url, "REDIS_URL": server.url,
        "PSEUDONYM_PEPPER": base64.b64encode(b"p" * 32).decode(), "LEDGER_KEY_FILE": str(key),
        "UPDATE_PARTITIONS": "2",
    })  # fmt: skip
    rt = Runtime(settings)
    uid = int(sandbox.users.create("민지")["id"])
    for text in ("하나", "둘", "셋"):
        sandbox.send_text(uid, text)

    async def feed() -> None:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            feeder = Feeder(rt, bot, Leadership(rt.redis, "feeder:leader", "test", ttl_ms=30_000))
            assert feeder.webhook_url() is None
            task = asyncio.create_task(feeder.run())
            stream = rt.layout.stream(rt.layout.partition_of(uid))
            for _ in range(100):
                if rt.redis.xlen(stream) >= 3:
                    break
                await asyncio.sleep(0.05)
            feeder.stop()
            sandbox.send_text(uid, "넷")  # ends the long poll in flight
            await asyncio.wait_for(task, 30)

    try:
        asyncio.run(feed())
        stream = rt.layout.stream(rt.layout.partition_of(uid))
        texts = [json.loads(f[b"u"])["message"]["text"] for _i, f in rt.redis.xrange(stream)]
        assert texts[:3] == ["하나", "둘", "셋"]
        assert len(texts) == len(set(texts))
        offset = int(rt.redis.get("feeder:offset"))
        assert offset == json.loads(rt.redis.xrange(stream)[-1][1][b"u"])["update_id"] + 1
        assert rt.redis.get("feeder:leader") is None  # released on stop
    finally:
        rt.close()
        server.kill()
        sandbox.stop()
