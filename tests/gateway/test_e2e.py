"""End to end: the sandbox delivers to our /telegram, worker processes run the real bot.

The resident scenario (/start, consent, 시·군) runs with two worker processes; halfway
through, the worker holding the chat's partition is stopped (SIGTERM drains it) and a new
one starts, so the one chat's updates are handled by more than one process, in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis
from telegram import Bot
from werkzeug.serving import make_server

from gateway.__main__ import migrate
from gateway.settings import SANDBOX_TOKEN
from gateway.settings import Settings
from gateway.wiring import Runtime
from i18n.catalog import Catalog
from ledger.checkpoint import open_checkpoint
from tests.gateway.support import RedisServer
from webhook.app import create_app

ROOT = Path(__file__).resolve().parents[2]
T = Catalog.load()
AGREE = T.text("ko", "bot.privacy.agree")
REGISTERED = T.text("ko", "bot.start.registered")


def labels(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["text"] for row in rows for b in row]


def data_of(message: dict[str, Any], label: str) -> str:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return next(b["callback_data"] for row in rows for b in row if label in b["text"])


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def spawn(role: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", role], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def processed_by(logs: list[Path], partition: int) -> set[str]:
    """Return the workers that logged applying an update of `partition`."""
    workers = set()
    for path in logs:
        for line in path.read_text().splitlines():
            if '"update_processed"' in line:
                event = json.loads(line)
                if event.get("partition") == partition:
                    workers.add(event["worker"])
    return workers


@pytest.fixture
def sandbox() -> Iterator[Any]:
    from sandbox.server import SandboxServer

    server = SandboxServer("127.0.0.1", 0, personas=False).start()
    yield server
    server.stop()


def resident_scenario(tmp_path: Path, sandbox: Any, db_url: str, redis_url: str, prefix: str):
    var = tmp_path / "var"
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "VAR_DIR": str(var), "DATABASE_URL": db_url, "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix, "UPDATE_PARTITIONS": "2", "LOG_LEVEL": "info",
        "WORKER_LEASE_MS": "3000",
        "TELEGRAM_API_BASE_URL": sandbox.api_base_url, "PYTHONDONTWRITEBYTECODE": "1",
    }  # fmt: skip
    settings = Settings.from_env(env)
    migrate(db_url)
    rt = Runtime(settings)
    web = make_server("127.0.0.1", 0, create_app(rt.webhook_deps()), threaded=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()

    async def point_webhook() -> None:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{web.server_port}/telegram",
                                  secret_token=settings.webhook_secret)  # fmt: skip

    asyncio.run(point_webhook())
    logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
    workers = [spawn("worker", env, logs[n]) for n in range(2)]
    client = redis.Redis.from_url(redis_url)
    try:
        uid = int(sandbox.users.create("민지")["id"])
        partition = rt.layout.partition_of(uid)
        lease = rt.layout.key(f"lease:updates:{partition}")

        def holder() -> subprocess.Popen[bytes] | None:
            value = client.get(lease)
            pid = int(value.decode().split("-")[-2]) if value else None
            return next((w for w in workers if w.pid == pid), None)

        wait_for("both workers to hold a partition", lambda: all(
            any(f"-{w.pid}-" in (client.get(rt.layout.key(f"lease:updates:{p}")) or b"").decode()
                for p in range(2)) for w in workers))  # fmt: skip
        sandbox.send_text(uid, "/start")
        consent = wait_for("the privacy notice", lambda: next(
            (m for m in sandbox.messages(uid) if AGREE in labels(m)), None))  # fmt: skip
        first = wait_for("the chat's lease holder", holder)
        first.send_signal(signal.SIGTERM)  # drain: the chat moves to another worker
        assert first.wait(20) == 0
        workers.append(spawn("worker", env, logs[2]))
        sandbox.press(uid, consent["message_id"], data_of(consent, AGREE))
        regions = wait_for("the 시·군 keyboard", lambda: next(
            (m for m in sandbox.messages(uid) if "연천군" in labels(m) or "▶" in labels(m)
             and m["message_id"] != consent["message_id"]), None))  # fmt: skip
        while "연천군" not in labels(regions):
            sandbox.press(uid, regions["message_id"], data_of(regions, "▶"))
            old = json.dumps(regions.get("reply_markup"))
            regions = wait_for("the next page", lambda r=regions, o=old: next(
                (m for m in sandbox.messages(uid) if m["message_id"] == r["message_id"]
                 and json.dumps(m.get("reply_markup")) != o), None))  # fmt: skip
        sandbox.press(uid, regions["message_id"], data_of(regions, "연천군"))
        wait_for("the main menu", lambda: any(
            m.get("text") == REGISTERED for m in sandbox.messages(uid)))  # fmt: skip
        resident = rt.service.resident(uid)
        assert resident is not None and resident.registered and resident.region == "yeoncheon"
        assert len(processed_by(logs, partition)) >= 2, "one chat, handled by two processes"
        texts = [m.get("text") for m in sandbox.messages(uid)]
        assert texts.count(REGISTERED) == 1  # nothing applied twice
        for path in logs[:2]:  # each worker put its start-up heap out of the collector's reach
            settled = [json.loads(line) for line in path.read_text().splitlines()
                       if '"heap_settled"' in line]  # fmt: skip
            assert len(settled) == 1 and settled[0]["frozen_objects"] > 50_000, path.name
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        web.shutdown()
        client.close()
        rt.close()


@pytest.mark.slow
def test_resident_scenario_with_two_worker_processes(tmp_path: Path, sandbox):
    server = RedisServer(tmp_path / "r").start()
    try:
        resident_scenario(tmp_path, sandbox, f"sqlite:///{tmp_path}/db.sqlite", server.url, "")
    finally:
        server.kill()


@pytest.mark.integration
@pytest.mark.slow
def test_resident_scenario_on_postgresql_and_real_redis(
    tmp_path: Path, sandbox, pg_url: str, redis_url: str, redis_prefix: str
):
    try:
        resident_scenario(tmp_path, sandbox, pg_url, redis_url, redis_prefix)
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


# ------------------------------------------------------------------ python -m gateway run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_run_starts_everything_on_embedded_defaults(tmp_path: Path):
    port, sandbox_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "VAR_DIR": str(tmp_path / "var"), "PORT": str(port), "SANDBOX_PORT": str(sandbox_port),
        "BLOCK_SECONDS": "2", "PYTHONDONTWRITEBYTECODE": "1",
    }  # fmt: skip
    log = tmp_path / "run.log"
    proc = spawn("run", env, log)
    web, chat = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}/sandbox"
    try:
        wait_for("the announcement", lambda: "Press Ctrl+C" in log.read_text(), 60)
        text = log.read_text()
        assert f"샌드박스 채팅: {chat}" in text and f"Sandbox chat: {chat}" in text
        assert httpx.get(f"{web}/readyz").json()["status"] == "ok"
        uid = httpx.post(f"{chat}/api/personas", json={"first_name": "민지"}).json()["id"]
        httpx.post(f"{chat}/api/chat/{uid}/text", json={"text": "/start"})
        consent = wait_for("the bot's answer through webhook, stream and worker", lambda: next(
            (m for m in httpx.get(f"{chat}/api/chat/{uid}").json()["messages"]
             if AGREE in labels(m)), None))  # fmt: skip
        httpx.post(
            f"{chat}/api/chat/{uid}/press",
            json={"message_id": consent["message_id"], "data": data_of(consent, AGREE)},
        )
        regions = wait_for(
            "the 시·군 keyboard",
            lambda: next(
                (
                    m
                    for m in httpx.get(f"{chat}/api/chat/{uid}").json()["messages"]
                    if m["message_id"] != consent["message_id"] and "▶" in labels(m)
                ),
                None,
            ),
        )
        region = next(label for label in labels(regions) if label.endswith(("시", "군")))
        httpx.post(
            f"{chat}/api/chat/{uid}/press",
            json={"message_id": regions["message_id"], "data": data_of(regions, region)},
        )
        # registering writes ledger entries; the clock seals them and posts the digest
        post = wait_for("a digest in the channel", lambda: next(
            (p for c in httpx.get(f"{chat}/api/channels").json()["channels"]
             for p in c["posts"]), None), 30)  # fmt: skip
        vkey = httpx.get(f"{web}/ledger/vkey").text.splitlines()[0]
        checkpoint = httpx.get(f"{web}/ledger/blocks?start=1&limit=1").json()["blocks"][0]
        assert checkpoint["checkpoint"].rstrip("\n") in post["text"]
        from ledger import Verifier

        open_checkpoint(checkpoint["checkpoint"], Verifier.from_vkey(vkey))
        metrics = httpx.get(f"{web}/metrics").text
        assert "ttabok_updates_processed_total" in metrics and "ttabok_blocks 1.0" in metrics
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(40) == 0, log.read_text()[-3000:]
    # Ctrl+C leaves nothing running: the embedded Redis under VAR_DIR stopped with it.
    left = [p.pid for p in psutil.process_iter(["cmdline", "cwd"])
            if "redis-server" in " ".join(p.info["cmdline"] or ())
            and str(p.info["cwd"] or "").startswith(str(tmp_path))]  # fmt: skip
    assert left == [], f"embedded redis-server still running: {left}"
