"""HTTP/1.1 keep-alive for the sandbox's threaded Werkzeug server, as Telegram's servers do.

Werkzeug's development handler closes every connection (it drains the socket after each
response, which would swallow a next request). A Bot API client such as PTB's httpx then
opens a TCP connection per call, which Telegram never makes it do. `KeepAliveHandler` serves
a connection's requests one after another: it reads each request body through a stream
limited to its Content-Length (so exactly that body is consumed, whatever the view read) and
keeps the connection only when the response carries a Content-Length. Anything else (SSE,
chunked requests, errors) is answered with ``Connection: close`` and the body runs to the
close, as HTTP/1.1 allows. `stop()` of the server must also close idle kept connections:
`ConnectionRegistry.close_all`.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

log = logging.getLogger(__name__)
IDLE_TIMEOUT_S = 30.0  # an idle kept connection is closed after this long


class ConnectionRegistry:
    """The open client connections of one server, to close them all when it stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.closed = False

    def add(self, conn: socket.socket) -> bool:
        """Register a connection; False when the server is stopping (close it)."""
        with self._lock:
            if not self.closed:
                self._open.add(conn)
        return not self.closed

    def discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)

    def close_all(self) -> None:
        """Shut every open connection down (idle keep-alive threads then end)."""
        with self._lock:
            self.closed = True
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class KeepAliveHandler(WSGIRequestHandler):
    """Werkzeug's request handler with persistent HTTP/1.1 connections (see module doc)."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    registry: ConnectionRegistry  # set per server by `handler_for`

    def setup(self) -> None:
        super().setup()
        # A streamed answer (SSE) goes out in several writes: without this, Nagle's algorithm
        # and the client's delayed ACK would hold each of them back for ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.registry.add(self.connection):
            self.close_connection = True

    def finish(self) -> None:
        self.registry.discard(self.connection)
        super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing per request: request paths carry the bot token."""

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        length = environ.get("CONTENT_LENGTH", "")
        if environ.get("wsgi.input_terminated") or not (length or "0").isdigit():
            self.close_connection = True  # chunked or odd body: no reuse after it
            body = None
        else:
            body = LimitedStream(self.rfile, int(length or 0))
            environ["wsgi.input"] = body
        state: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):  # type: ignore[no-untyped-def]
            if exc_info and state.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, headers
            return write

        def write(data: bytes) -> None:
            if not state.get("sent"):
                state["sent"] = True
                code, _, msg = state["status"].partition(" ")
                self.send_response(int(code), msg)
                names = set()
                for key, value in state["headers"]:
                    if key.lower() != "connection":
                        self.send_header(key, value)
                        names.add(key.lower())
                if "content-length" not in names or self.close_connection:
                    self.send_header("Connection", "close")  # the body ends at the close
                # Head and first body chunk in one write: one TCP segment and one wake-up
                # of the client for a whole answer, instead of two.
                self._headers_buffer.append(b"\r\n")
                data = b"".join(self._headers_buffer) + data
                self._headers_buffer = []
            if data:
                self.wfile.write(data)
            self.wfile.flush()

        try:
            chunks = self.server.app(environ, start_response)
            try:
                for data in chunks:
                    write(data)
                write(b"")
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
            if body is not None:
                body.exhaust()  # the rest of this body, never the next request
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            self.close_connection = True
            if not state.get("sent"):
                self.send_error(500)
            log.exception("sandbox_request_failed")


def handler_for(registry: ConnectionRegistry) -> type[KeepAliveHandler]:
    """Return a handler class bound to one server's connection registry."""
    return type("BoundKeepAliveHandler", (KeepAliveHandler,), {"registry": registry})
