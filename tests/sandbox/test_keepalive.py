"""The sandbox keeps Bot API connections alive (HTTP/1.1) and closes them when it stops."""

from __future__ import annotations

import httpx
import pytest

from gateway.settings import SANDBOX_TOKEN
from sandbox.server import SandboxServer


def test_one_connection_serves_many_calls_and_dies_with_the_server() -> None:
    srv = SandboxServer("127.0.0.1", 0, personas=False).start()
    with httpx.Client() as client:
        url = f"{srv.api_base_url}{SANDBOX_TOKEN}"
        answers = [client.post(f"{url}/getMe", json={}) for _ in range(5)]
        refused = client.post(f"{url}/sendMessage", data={"chat_id": "1", "text": "x"})
        again = client.post(f"{url}/getMe")
        assert [a.status_code for a in answers] == [200] * 5 and again.status_code == 200
        assert refused.status_code == 400  # an error answer keeps the connection usable too
        assert all(a.headers.get("connection") != "close" for a in [*answers, again])
        assert len(client._transport._pool.connections) == 1  # type: ignore[attr-defined]
        srv.stop()
        with pytest.raises(httpx.TransportError):
            client.post(f"{url}/getMe")  # the kept connection was closed with the server
