"""bot.transport.AiohttpRequest: how each failure is reported, and what is never in it.

The happy paths (every Bot API method, uploads, downloads, long polling) run through the
sandbox contract tests, which use both PTB's default transport and this one.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from collections.abc import Callable

import pytest
import pytest_asyncio
from telegram.error import NetworkError
from telegram.error import TimedOut
from yarl import URL

from bot.transport import AiohttpRequest
from bot.transport import surely_unsent

pytestmark = pytest.mark.asyncio

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
SECRET = TOKEN.split(":")[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Callable[[Handler], object]]:
    """Start a raw TCP server on demand whose connections ``handler`` serves; yield a
    function returning its base URL."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(handler: Handler) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            try:
                await handler(reader, writer)  # type: ignore[misc]
            except (ConnectionError, asyncio.IncompleteReadError):
                pass

        srv = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(srv)
        return f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/bot"

    yield start
    for writer in writers:
        writer.close()
    for srv in servers:
        srv.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request and never answer."""
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(30)


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, start an answer and close the connection halfway."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok":')
    await writer.drain()
    writer.close()


def no_token_in(err: BaseException) -> None:
    chain: BaseException | None = err
    while chain is not None:
        assert SECRET not in str(chain) and SECRET not in repr(chain)
        chain = chain.__cause__ or chain.__context__


async def test_a_refused_connection_is_a_network_error_surely_unsent() -> None:
    base = f"http://127.0.0.1:{free_port()}/bot"
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"{base}{TOKEN}/getMe")
        assert not isinstance(caught.value, TimedOut)
        assert surely_unsent(caught.value)
        no_token_in(caught.value)
    finally:
        await request.shutdown()


async def test_a_silent_server_is_a_read_timeout_that_may_have_been_sent(server) -> None:  # type: ignore[no-untyped-def]
    base = await server(silent)
    request = AiohttpRequest(read_timeout=0.3)
    await request.initialize()
    try:
        with pytest.raises(TimedOut) as caught:
            await request.post(f"{base}{TOKEN}/sendMessage", read_timeout=0.3)
        assert not surely_unsent(caught.value)
        no_token_in(caught.value)
    finally:
        await request.shutdown()


async def test_a_full_pool_is_a_timeout_before_sending(server) -> None:  # type: ignore[no-untyped-def]
    base = await server(silent)
    request = AiohttpRequest(connection_pool_size=1, read_timeout=5, pool_timeout=0.2)
    await request.initialize()
    try:
        first = asyncio.create_task(request.post(f"{base}{TOKEN}/sendMessage"))
        await asyncio.sleep(0.2)  # the only connection is now taken
        with pytest.raises(TimedOut) as caught:
            await request.post(f"{base}{TOKEN}/sendMessage", pool_timeout=0.2, connect_timeout=0.1)
        assert surely_unsent(caught.value)
        assert "not sent" in str(caught.value)
        no_token_in(caught.value)
        first.cancel()
    finally:
        await request.shutdown()


async def test_a_connection_closed_mid_answer_is_a_network_error_maybe_sent(server) -> None:  # type: ignore[no-untyped-def]
    base = await server(hang_up)
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"{base}{TOKEN}/sendMessage")
        assert not surely_unsent(caught.value)
        no_token_in(caught.value)
    finally:
        await request.shutdown()


async def test_uninitialized_request_refuses() -> None:
    with pytest.raises(RuntimeError):
        await AiohttpRequest().do_request("http://127.0.0.1:1/x", "POST")


async def test_the_proxy_comes_from_the_environment_once_per_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    request = AiohttpRequest()
    proxy, auth = request._proxy(URL("https://api.telegram.org/botX/getMe"))
    assert str(proxy) == "http://proxy.example:3128" and auth is not None
    assert auth.login == "user"
    assert request._proxy(URL("http://127.0.0.1:8080/botX/getMe")) == (None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:1")
    again, _ = request._proxy(URL("https://api.telegram.org/botX/sendMessage"))
    assert again == proxy  # looked up once, not on every request


async def test_timeouts_follow_the_defaults_and_the_call() -> None:
    request = AiohttpRequest(read_timeout=5, write_timeout=6, connect_timeout=7, pool_timeout=1)
    d = AiohttpRequest.DEFAULT_NONE
    t = request._timeout(d, d, d, d, False)
    assert (t.sock_read, t.sock_connect, t.connect, t.total) == (5, 7, 8, 19)
    t = request._timeout(None, d, d, d, False)  # long polling: no read limit, no total
    assert t.sock_read is None and t.total is None
    t = request._timeout(d, d, d, d, True)  # an upload gets the media write timeout
    assert t.total == 5 + 20 + 7 + 1
    assert request.read_timeout == 5


async def test_retry_after_is_read_in_seconds_from_an_int_or_a_timedelta():
    from datetime import timedelta

    from telegram.error import RetryAfter

    from bot.transport import retry_after_s

    assert retry_after_s(RetryAfter(7)) == 7.0
    assert retry_after_s(RetryAfter(timedelta(seconds=2.5))) == 2.5
