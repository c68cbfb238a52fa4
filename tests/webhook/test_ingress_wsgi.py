"""POST /telegram before Flask (TelegramIngress) and the inbox's own Redis connections."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import redis
from werkzeug.test import Client

import webhook.ingress as ingress
from tests.gateway.support import RedisServer
from tests.gateway.support import message_update
from tests.webhook.conftest import SECRET
from tests.webhook.conftest import make_app
from webhook.inbox import Inbox
from webhook.inbox import StreamLayout

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


def answer(client: Client, body: str, headers: dict[str, str]) -> tuple[str, list[Any], bytes]:
    response = client.post("/telegram", data=body, headers=headers)
    return response.status, sorted(response.headers.items()), response.get_data()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (json.dumps(message_update(1, 2)), HEADERS),  # stored
        ("{}", HEADERS),  # invalid
        ('{"update_id": 1, "message": {}}', HEADERS),  # malformed
        (json.dumps(message_update(1, 2)), {}),  # no secret
        ('{"update_id": 9, "future_kind": {}}', HEADERS),  # ignored
        ("x" * (2 << 20), HEADERS),  # too large
    ],
    ids=["stored", "invalid", "malformed", "secret", "ignored", "too-large"],
)
def test_answers_are_flasks_byte_for_byte(rclient: redis.Redis, body: str, headers: dict[str, str]):
    app = make_app(rclient)
    assert isinstance(app.wsgi_app, ingress.TelegramIngress)
    via_flask = answer(Client(app.wsgi_app._app), body, headers)
    rclient.flushall()
    assert answer(Client(app), body, headers) == via_flask


def test_an_unexpected_error_is_answered_as_flask_would(
    rclient: redis.Redis, monkeypatch: pytest.MonkeyPatch
):
    app = make_app(rclient)

    def broken(body: bytes) -> dict[str, Any]:
        raise ZeroDivisionError

    monkeypatch.setattr(ingress, "parse_update", broken)
    via_flask = answer(Client(app.wsgi_app._app), "{}", HEADERS)
    assert via_flask[0] == "500 INTERNAL SERVER ERROR"
    assert answer(Client(app), "{}", HEADERS) == via_flask


def test_other_methods_and_paths_still_reach_flask(rclient: redis.Redis):
    client = make_app(rclient).test_client()
    assert client.get("/telegram").status_code == 405
    assert client.post("/telegram/", data="{}", headers=HEADERS).status_code in (308, 404)


def test_a_restarted_redis_without_the_script_still_stores(redis_server: RedisServer):
    client = redis_server.client()
    inbox = Inbox(client, StreamLayout(4, "t:"))
    assert inbox.put_once(message_update(1, 2)) is True
    client.script_flush()  # what a restart without the script cache looks like
    assert inbox.put_once(message_update(2, 2)) is True
    assert inbox.put_once(message_update(2, 2)) is False
    assert client.get("t:metrics:updates_received") == b"2"
    inbox.close()
    client.close()


def test_threads_share_the_inbox_and_each_update_is_stored_once(redis_server: RedisServer):
    client = redis_server.client()
    layout = StreamLayout(4, "t:")
    inbox = Inbox(client, layout)
    results: list[bool] = []

    def put(first: int) -> None:
        for update_id in range(first, first + 50):
            results.append(inbox.put_once(message_update(update_id, update_id % 7)))

    threads = [threading.Thread(target=put, args=(n * 25,)) for n in range(8)]  # overlapping
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = sum(client.xlen(stream) for stream in layout.streams())
    assert results.count(True) == stored == 25 * 7 + 50
    assert len(inbox._idle) <= 8
    client.close()  # closes the inbox's connections too (they come from the client's pool)
    assert all(conn._sock is None for conn in inbox._idle)
