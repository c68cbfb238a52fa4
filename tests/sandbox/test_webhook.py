"""Webhook mode: delivery with the secret header, retries with backoff, 409 for getUpdates."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest
from telegram import Bot
from telegram.error import BadRequest
from telegram.error import Conflict

from sandbox.server import SandboxServer

pytestmark = pytest.mark.asyncio


@dataclass
class Receiver:
    """A local HTTP endpoint that fails the first ``failures`` deliveries."""

    failures: int = 0
    received: list[tuple[dict[str, object], str | None]] = field(default_factory=list)
    attempts: int = 0
    reply: dict[str, object] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return
            time.sleep(0.02)
        raise AssertionError(f"received {len(self.received)} of {count} updates")


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.attempts += 1
                failing = state.attempts <= state.failures
                if not failing:
                    state.received.append(
                        (body, self.headers.get("X-Telegram-Bot-Api-Secret-Token"))
                    )
            payload = b"" if failing or state.reply is None else json.dumps(state.reply).encode()
            self.send_response(500 if failing else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            """Stay quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}/telegram"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_updates_are_posted_with_the_secret_header_in_order(
    bot: Bot, sandbox: SandboxServer, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    assert await bot.set_webhook(url, secret_token="s3cr3t-token_")
    uid = int(sandbox.users.create(first_name="민지")["id"])
    for text in ("/start", "둘", "셋"):
        sandbox.send_text(uid, text)
    state.wait(3)
    assert [b["message"]["text"] for b, _ in state.received] == ["/start", "둘", "셋"]  # type: ignore[index]
    assert {secret for _, secret in state.received} == {"s3cr3t-token_"}
    # The receiver records an update before it answers; the sandbox counts it delivered once
    # the answer is in (as Telegram does), a moment later.
    deadline = time.monotonic() + 5
    info = await bot.get_webhook_info()
    while info.pending_update_count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        info = await bot.get_webhook_info()
    assert info.url == url and info.pending_update_count == 0
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


async def test_failed_deliveries_are_retried_and_reported(
    bot: Bot, sandbox: SandboxServer, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    state.failures = 2
    await bot.set_webhook(url)
    uid = int(sandbox.users.create(first_name="민지")["id"])
    sandbox.send_text(uid, "/start")
    state.wait(1)
    assert state.attempts == 3 and state.received[0][1] is None
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert info.last_error_date is not None


async def test_webhook_reply_may_carry_a_method(
    bot: Bot, sandbox: SandboxServer, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    uid = int(sandbox.users.create(first_name="민지")["id"])
    state.reply = {"method": "sendMessage", "chat_id": uid, "text": "웹훅 응답"}
    await bot.set_webhook(url)
    sandbox.send_text(uid, "/start")
    assert sandbox.wait_for(uid, lambda m: m["text"] == "웹훅 응답")["outgoing"]


async def test_delete_webhook_returns_to_polling_with_pending_updates(
    bot: Bot, sandbox: SandboxServer
) -> None:
    await bot.set_webhook("http://127.0.0.1:9/unreachable")
    uid = int(sandbox.users.create(first_name="민지")["id"])
    sandbox.send_text(uid, "/start")
    await bot.delete_webhook()
    assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["/start"]
    assert (await bot.get_webhook_info()).url == ""


@pytest.mark.parametrize(
    ("url", "secret", "fragment"),
    [
        ("ftp://example.org/hook", None, "(?i)an https url must be provided"),
        ("http://127.0.0.1:1/hook", "bad secret!", "(?i)unallowed characters"),
    ],
)
async def test_set_webhook_refuses_bad_input(
    bot: Bot, url: str, secret: str | None, fragment: str
) -> None:
    with pytest.raises(BadRequest, match=fragment):
        await bot.set_webhook(url, secret_token=secret)
