"""Start-up checks: say plainly what a process cannot reach, before any role starts.

Each check raises `StartupFailed(key, **params)`, a message key of the gateway catalog; the CLI
prints it in Korean and English and exits 1. URLs are shown with their password masked, and
the bot token never appears (the Bot API address is shown without it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import redis
import sqlalchemy as sa
from telegram.error import InvalidToken
from telegram.error import TelegramError

from ledger.errors import KeyMismatch


class StartupFailed(Exception):
    """A process cannot start; `key` names the catalog text, `params` fill it."""

    def __init__(self, message_key: str, **params: str) -> None:
        super().__init__(message_key)
        self.key, self.params = message_key, params


def mask_url(url: str) -> str:
    """Return `url` with the password (if any) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _reason(err: BaseException, url: str) -> str:
    """Return the first line of an error's text, without the URL's password."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    password = urlsplit(url).password if "://" in url else None
    return text.replace(password, "***") if password else text


def check_database(url: str) -> None:
    """Connect once to `url`; raise StartupFailed when the database does not answer."""
    from ledger.store import make_engine

    args = {} if url.startswith("sqlite") else {"connect_args": {"connect_timeout": 10}}
    try:
        engine = make_engine(url, **args)
    except (sa.exc.ArgumentError, ImportError) as err:
        raise StartupFailed(
            "gateway.start.database_unreachable", url=mask_url(url), reason=_reason(err, url)
        ) from None
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as err:
        raise StartupFailed(
            "gateway.start.database_unreachable",
            url=mask_url(url),
            reason=_reason(err.orig or err, url),
        ) from None
    finally:
        engine.dispose()


def check_redis(client: redis.Redis, url: str) -> None:
    """Ping Redis; raise StartupFailed when it does not answer."""
    try:
        client.ping()
    except redis.RedisError as err:
        raise StartupFailed(
            "gateway.start.redis_unreachable", url=mask_url(url), reason=_reason(err, url)
        ) from None


def check_ledger_key(
    open_ledger: Callable[[], object], key_file: str, key_ids: Callable[[], tuple[str, str]]
) -> None:
    """Call `open_ledger()`; raise StartupFailed when the key file does not sign this ledger.

    `key_ids()` returns the key id of the file and the ledger's current key id, for the text.
    """
    try:
        open_ledger()
    except KeyMismatch:
        key, current = key_ids()
        raise StartupFailed(
            "gateway.start.key_mismatch", path=key_file, key=key, current=current
        ) from None


def check_bot_api(get_me: Callable[[], Coroutine[Any, Any, object]], base_url: str) -> None:
    """Await `get_me()` once; raise StartupFailed when the Bot API refuses or cannot be reached.

    `base_url` is the Bot API address without the token (PTB appends the token to it).
    """
    try:
        asyncio.run(get_me())
    except InvalidToken:
        raise StartupFailed("gateway.start.token_refused") from None
    except TelegramError:
        raise StartupFailed("gateway.start.telegram_unreachable", url=base_url) from None
