"""POST /telegram: the secret, size cap, JSON validation, dedup and Redis outages."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.gateway.support import message_update
from tests.webhook.conftest import SECRET
from tests.webhook.conftest import make_app
from webhook.inbox import Inbox
from webhook.inbox import StreamLayout
from webhook.inbox import chat_id_of
from webhook.ingress import InvalidUpdate
from webhook.ingress import parse_update

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


def post(client: FlaskClient, body: bytes | str, headers: dict[str, str] | None = None) -> int:
    data = body.encode() if isinstance(body, str) else body
    return client.post(
        "/telegram", data=data, headers=HEADERS if headers is None else headers
    ).status_code


def backlog(rclient: redis.Redis) -> list[dict[str, Any]]:
    layout = StreamLayout(partitions=4, prefix="t:")
    found = []
    for stream in layout.streams():
        for _id, fields in rclient.xrange(stream):
            found.append(json.loads(fields[b"u"]))
    return found


def test_valid_update_is_stored_once_and_answered_200(client: FlaskClient, rclient: redis.Redis):
    body = json.dumps(message_update(7, chat_id=99))
    assert post(client, body) == 200
    assert post(client, body) == 200  # Telegram retried: dropped as duplicate
    assert [u["update_id"] for u in backlog(rclient)] == [7]
    assert rclient.get("t:metrics:updates_received") == b"1"


def test_raw_bytes_are_stored_exactly_as_sent(client: FlaskClient, rclient: redis.Redis):
    body = json.dumps(message_update(8, chat_id=5, text="안녕하세요"), ensure_ascii=False)
    assert post(client, body) == 200
    (stream_entry,) = [
        fields[b"u"] for s in StreamLayout(4, "t:").streams() for _i, fields in rclient.xrange(s)
    ]
    assert stream_entry == body.encode()


def test_one_chat_always_lands_in_one_partition(client: FlaskClient, rclient: redis.Redis):
    layout = StreamLayout(partitions=4, prefix="t:")
    for update_id in range(1, 11):
        assert post(client, json.dumps(message_update(update_id, chat_id=31337))) == 200
    stream = layout.stream(layout.partition_of(31337))
    assert [json.loads(f[b"u"])["update_id"] for _i, f in rclient.xrange(stream)] == list(
        range(1, 11)
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Telegram-Bot-Api-Secret-Token": ""},
        {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"},
        {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]},
        {"X-Telegram-Bot-Api-Secret-Token": SECRET.upper()},
    ],
    ids=["missing", "empty", "longer", "shorter", "case"],
)
def test_wrong_or_missing_secret_is_refused(
    client: FlaskClient, rclient: redis.Redis, headers: dict[str, str]
):
    assert post(client, json.dumps(message_update(1, 2)), headers=headers) == 403
    assert backlog(rclient) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b'"text"',
        b"null",
        b"{}",
        b'{"update_id": "1", "message": {}}',
        b'{"update_id": 1.5, "message": {}}',
        b'{"update_id": true, "message": {}}',
        b'{"update_id": -1, "message": {}}',
        b'{"update_id": 99999999999999999999, "message": {}}',
        b'{"update_id": NaN, "message": {}}',
        b'{"update_id": 1}',
        b'{"update_id": 1, "message": "text"}',
        b'{"update_id": 1, "message": [1, 2]}',
        b'{"update_id": 1, "message": {"chat": "x"}}',
        b'{"update_id": 1, "message": {}}',
        b'{"update_id": 1, "message": {"message_id": 1, "date": 1, '
        b'"chat": {"id": "7", "type": "private"}}}',
        b'{"update_id": 1, "callback_query": {"id": "q", "chat_instance": "c", "from": {"id": 7}}}',
        json.dumps(
            {
                "update_id": 1,
                "message": message_update(1, 7)["message"],
                "edited_message": message_update(1, 7)["message"],
            }
        ).encode(),  # two kinds
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_bodies_are_rejected_with_400(
    client: FlaskClient, rclient: redis.Redis, body: bytes
):
    assert post(client, body) == 400
    assert backlog(rclient) == []


def test_unknown_update_kind_is_acknowledged_and_dropped(client: FlaskClient, rclient):
    assert post(client, json.dumps({"update_id": 3, "future_kind": {"x": 1}})) == 200
    assert backlog(rclient) == []


def test_huge_body_is_refused_with_413(client: FlaskClient, rclient: redis.Redis):
    update = message_update(4, 5, text="가" * 600_000)
    assert post(client, json.dumps(update, ensure_ascii=False)) == 413
    assert backlog(rclient) == []


def test_chunked_body_over_the_cap_is_refused(rclient: redis.Redis):
    app = make_app(rclient, max_body_bytes=1000)
    body = json.dumps(message_update(4, 5, text="x" * 5000)).encode()
    response = app.test_client().post(
        "/telegram",
        input_stream=io.BytesIO(body),  # no Content-Length: the cap must hold while reading
        headers={**HEADERS, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert backlog(rclient) == []


def test_redis_down_answers_503_so_telegram_retries(redis_server, rclient: redis.Redis):
    client = make_app(rclient).test_client()
    redis_server.kill()
    assert post(client, json.dumps(message_update(5, 6))) == 503
    redis_server.start()
    assert post(client, json.dumps(message_update(5, 6))) == 200
    assert [u["update_id"] for u in backlog(redis_server.client())] == [5]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(
    update=st.fixed_dictionaries(
        {"update_id": json_values},
        optional={"message": json_values, "callback_query": json_values, "zzz": json_values},
    )
)
def test_fuzzed_updates_never_crash_and_store_only_valid_ones(
    client: FlaskClient, rclient: redis.Redis, update: dict[str, Any]
):
    rclient.flushall()
    status = post(client, json.dumps(update))
    assert status in (200, 400)
    stored = backlog(rclient)
    if stored:
        assert status == 200 and stored == [update]
        assert isinstance(update["update_id"], int) and update["update_id"] >= 0


@given(body=st.binary(max_size=300))
def test_parse_update_raises_only_invalid_update(body: bytes):
    try:
        value = parse_update(body)
    except InvalidUpdate:
        return
    assert isinstance(value["update_id"], int)


@pytest.mark.parametrize(
    ("update", "chat_id"),
    [
        (message_update(1, 42), 42),
        ({"update_id": 1, "callback_query": {"id": "x", "from": {"id": 7},
                                             "message": {"chat": {"id": -100}}}}, -100),
        ({"update_id": 1, "inline_query": {"id": "q", "from": {"id": 9}}}, 9),
        ({"update_id": 1, "poll": {"id": "p"}}, None),
    ],
)  # fmt: skip
def test_chat_id_of_finds_the_chat(update: dict[str, Any], chat_id: int | None):
    assert chat_id_of(update) == chat_id


@pytest.mark.integration
def test_ingress_on_the_real_redis(redis_url: str, redis_prefix: str):
    client = redis.Redis.from_url(redis_url)
    layout = StreamLayout(partitions=4, prefix=redis_prefix)
    app = make_app(client, inbox=Inbox(client, layout))
    update_id = int(redis_prefix[1:9], 16)  # unique to this test run
    try:
        body = json.dumps(message_update(update_id, chat_id=77))
        assert post(app.test_client(), body) == 200
        assert post(app.test_client(), body) == 200
        stream = layout.stream(layout.partition_of(77))
        assert [json.loads(f[b"u"])["update_id"] for _i, f in client.xrange(stream)] == [update_id]
    finally:
        keys = list(client.scan_iter(match=f"{redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
