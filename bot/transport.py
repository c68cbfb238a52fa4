"""The Bot API transport: python-telegram-bot's requests over aiohttp instead of httpx.

Why: at a review day's load the worker is CPU-bound, and PTB's default ``HTTPXRequest``
spent about 0.6 ms of CPU per Bot API call (httpx's request model, httpcore, anyio), a fifth
of the worker's time with two calls per button press. aiohttp parses HTTP in C (llhttp):
the same call costs about 0.15 ms (measured side by side against one local server,
bench/README.md).

What it keeps from ``HTTPXRequest``: the four timeouts (pool and connect bound the wait for
a connection; read bounds each read of the answer; a request as a whole is also bounded by
their sum with the write timeout, aiohttp having no separate write timeout), the connection
pool size, ``TimedOut``/``NetworkError`` for failures. What it changes: parameters are sent
as a JSON body (``application/json``, which the Bot API accepts for every method without a
file; uploads stay ``multipart/form-data``), and a failure's message and cause never carry
the request URL, which holds the bot token (aiohttp's own timeout message quotes it).

:func:`surely_unsent` tells a caller that may not send twice (the broadcast sender) whether
a failed request certainly never reached Telegram.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError
from telegram.error import RetryAfter
from telegram.error import TimedOut
from telegram.request import BaseRequest
from telegram.request import RequestData
from yarl import URL

__all__ = ["AiohttpRequest", "RequestNotSent", "surely_unsent"]

_JSON = {"Content-Type": "application/json"}


class RequestNotSent(Exception):
    """The cause of a failure before any byte of the request left (no connection)."""


class _MaybeSent(Exception):
    """The cause of a failure after the request may have reached the server."""


def retry_after_s(err: RetryAfter) -> float:
    """Return how long Telegram asked to wait after a 429, in seconds (PTB gives an int, or a
    timedelta where configured so)."""
    value: Any = err.retry_after
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)


def surely_unsent(err: BaseException) -> bool:
    """Return whether a failed Bot API request certainly never reached Telegram."""
    cause = err.__cause__
    if isinstance(cause, RequestNotSent):
        return True
    try:  # PTB's default transport, still used where nothing else is configured
        import httpx
    except ImportError:  # pragma: no cover - PTB depends on httpx
        return False
    return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


class AiohttpRequest(BaseRequest):
    """A PTB request object on one ``aiohttp.ClientSession`` (HTTP/1.1, kept connections).

    Build it outside a running loop if need be: the session is made in :meth:`initialize`,
    on the loop that will use it (PTB calls it from ``Bot.initialize``).
    """

    __slots__ = (
        "_connect",
        "_media_write",
        "_pool",
        "_pool_size",
        "_proxies",
        "_read",
        "_session",
        "_timeouts",
        "_write",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read, self._write = read_timeout, write_timeout
        self._connect, self._pool = connect_timeout, pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}
        self._proxies: dict[str, tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # An idle connection is closed by us after 15 s, before the server's own idle
            # limit (the sandbox's 30 s, nginx's 75 s), so a reused connection is not one the
            # server is closing at that moment.
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=15
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets no cookies
                # trust_env=True would look up proxies and ~/.netrc in a thread on every
                # request (two thread hops a call); the proxy is looked up once per host.
                trust_env=False,
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(
        self, read: ODVInput[float], write: ODVInput[float], connect: ODVInput[float],
        pool: ODVInput[float], files: bool,
    ) -> aiohttp.ClientTimeout:  # fmt: skip
        read_s = self._read if isinstance(read, DefaultValue) else read
        write_s = (self._media_write if files else self._write) if isinstance(
            write, DefaultValue
        ) else write  # fmt: skip
        connect_s = self._connect if isinstance(connect, DefaultValue) else connect
        pool_s = self._pool if isinstance(pool, DefaultValue) else pool
        key = (read_s, write_s, connect_s, pool_s)
        found = self._timeouts.get(key)
        if found is None:
            parts = (read_s, write_s, connect_s, pool_s)
            total = None if any(p is None for p in parts) else sum(p or 0.0 for p in parts)
            waiting = None if pool_s is None or connect_s is None else pool_s + connect_s
            found = aiohttp.ClientTimeout(
                total=total, connect=waiting, sock_connect=connect_s, sock_read=read_s
            )
            if len(self._timeouts) < 64:  # a handful of distinct settings in practice
                self._timeouts[key] = found
        return found

    def _proxy(self, url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy for ``url``'s host from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (as httpx
        honoured them), looked up once per host and scheme."""
        key = f"{url.scheme}://{url.host}"
        found = self._proxies.get(key)
        if found is None:
            try:
                found = get_env_proxy_for_url(url)
            except LookupError:
                found = (None, None)
            self._proxies[key] = found
        return found

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        timeout = self._timeout(
            read_timeout, write_timeout, connect_timeout, pool_timeout, bool(files)
        )
        body: Any = None
        headers: dict[str, str] | None = None
        if request_data is not None:
            if files:
                body = _form(request_data.json_parameters, files)
            else:
                body, headers = request_data.json_payload, _JSON
        target = URL(url, encoded=True)
        proxy, proxy_auth = self._proxy(target)
        try:
            async with session.request(
                method, target, data=body, headers=headers, timeout=timeout,
                proxy=proxy, proxy_auth=proxy_auth,
            ) as response:  # fmt: skip
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError:
            raise TimedOut(
                "Pool or connect timeout: no connection to the Bot API within the time allowed;"
                " the request was not sent."
            ) from RequestNotSent("connect timeout")
        except TimeoutError:
            raise TimedOut() from _MaybeSent("timed out")
        except aiohttp.ClientConnectorError as err:
            raise NetworkError(
                f"aiohttp.{type(err).__name__}: cannot connect to the Bot API"
            ) from RequestNotSent(type(err).__name__)
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}") from _MaybeSent(type(err).__name__)


def _form(parameters: dict[str, str], files: dict[str, Any]) -> aiohttp.FormData:
    """Return multipart form data: every parameter as a field, every upload as a file part."""
    form = aiohttp.FormData(quote_fields=False)
    for name, value in parameters.items():
        form.add_field(name, value)
    for name, upload in files.items():
        if isinstance(upload, tuple):  # (filename, content[, mime type])
            filename, content = upload[0], upload[1]
            mime = upload[2] if len(upload) > 2 else "application/octet-stream"
            form.add_field(name, content, filename=filename, content_type=mime)
        else:
            form.add_field(name, upload)
    return form
