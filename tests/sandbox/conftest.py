"""Fixtures: a running sandbox per test and python-telegram-bot's own client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Iterator

import pytest
import pytest_asyncio
from flask.testing import FlaskClient
from telegram import Bot

from bot.transport import AiohttpRequest
from sandbox.server import SandboxServer
from sandbox.webhook import Backoff

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    """Yield a sandbox that is not started: Flask's test client calls its app directly."""
    srv = SandboxServer()
    yield srv
    srv.world.stop()


@pytest.fixture
def web(server: SandboxServer) -> FlaskClient:
    """Flask's test client of the not-started sandbox's app (the web chat and the API)."""
    return server.app.test_client()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """Yield a started sandbox on a free port; stop it afterwards."""
    server = SandboxServer(webhook_backoff=Backoff(first=0.05, longest=0.2, request_timeout=2))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(params=["httpx", "aiohttp"])
async def bot(sandbox: SandboxServer, request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    """Yield an initialized PTB ``Bot`` that talks to the sandbox, once over PTB's default
    transport (httpx) and once over the gateway's (bot.transport.AiohttpRequest)."""
    extra = {}
    if request.param == "aiohttp":
        extra = {"request": AiohttpRequest(), "get_updates_request": AiohttpRequest(1)}
    async with Bot(
        TOKEN, base_url=sandbox.api_base_url, base_file_url=sandbox.file_base_url, **extra
    ) as b:
        yield b


@pytest.fixture
def resident(sandbox: SandboxServer) -> int:
    """Return the id of a resident who has started the bot."""
    user = sandbox.users.create(first_name="민지", language_code="ko")
    sandbox.send_text(int(user["id"]), "/start")
    return int(user["id"])
