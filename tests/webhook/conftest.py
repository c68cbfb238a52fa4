"""Fixtures for the web layer: a private Redis server and an app around it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from i18n.catalog import Catalog
from tests.gateway.support import RedisServer
from webhook.app import WebhookDeps
from webhook.app import create_app
from webhook.inbox import Inbox
from webhook.inbox import StreamLayout

SECRET = "s3cret-token_ABC"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture
def rclient(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    yield client
    client.close()


def make_app(client: redis.Redis, ledger: Any = None, **overrides: Any) -> Flask:
    layout = StreamLayout(partitions=4, prefix="t:")
    options: dict[str, Any] = {
        "webhook_secret": SECRET,
        "inbox": Inbox(client, layout),
        "redis": client,
        "ledger": ledger,
        "catalog": Catalog.load(),
    }
    options.update(overrides)
    return create_app(WebhookDeps(**options))


@pytest.fixture
def app(rclient: redis.Redis) -> Flask:
    return make_app(rclient)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
