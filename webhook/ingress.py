"""`POST /telegram`: check, validate, store once, answer 200 at once.

Order of checks: secret (constant time) -> size -> JSON -> shape -> store. A 200 means the
update is in Redis (or was a duplicate, or of a kind we never handle); anything else makes
Telegram deliver it again, so Redis being down costs a retry, never an update.

`TelegramIngress` answers exactly `POST /telegram` as a plain WSGI app in front of Flask
(`create_app` installs it): at thousands of updates a second, Flask's request context,
routing and response object cost as much CPU as the checks themselves. The Flask route
stays (other methods get Flask's 405) and answers through the same `receive()`.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

import redis
import structlog
from flask import Blueprint
from flask import Flask
from flask import request
from telegram import Update
from telegram.constants import UpdateType
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length
from werkzeug.wsgi import get_input_stream

from webhook.app import WebhookDeps
from webhook.app import deps

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

bp = Blueprint("ingress", __name__)
log = structlog.get_logger("webhook.ingress")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_ENVIRON = "HTTP_" + SECRET_HEADER.upper().replace("-", "_")
PATH = "/telegram"
KNOWN_KINDS = frozenset(kind.value for kind in UpdateType)
MAX_UPDATE_ID = (1 << 63) - 1


class InvalidUpdate(ValueError):
    """The body is not a Telegram update; the message says why (no content echoed)."""


def _reject_constant(name: str) -> Any:
    raise InvalidUpdate(f"non-standard JSON constant {name}")


# One decoder for every request (json.loads with an option builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_update(body: bytes) -> dict[str, Any]:
    """Return the update object in `body`, or raise InvalidUpdate.

    Accepts exactly one JSON object with an integer `update_id` and object values; unknown
    kinds pass (the caller drops them) so that new Bot API update kinds never cause retries.
    """
    try:
        value = _DECODER.decode(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InvalidUpdate(f"not JSON: {type(err).__name__}") from None
    if not isinstance(value, dict):
        raise InvalidUpdate("not a JSON object")
    update_id = value.get("update_id")
    if type(update_id) is not int or not 0 <= update_id <= MAX_UPDATE_ID:
        raise InvalidUpdate("update_id must be a non-negative integer")
    kinds = [key for key in value if key != "update_id"]
    if not kinds:
        raise InvalidUpdate("no update kind")
    for kind in kinds:
        if kind in KNOWN_KINDS and not isinstance(value[kind], dict):
            raise InvalidUpdate(f"{kind} must be an object")
    return value


# The fields PTB's `Update.de_json` needs for the kinds that make up the traffic, as JSON
# types; a nested dict is a shape of its own. Checked structurally (a few dict lookups
# instead of a full PTB parse per request); a body that passes and still fails PTB is
# dead-lettered by the worker. Rarer kinds (chat members, polls, ...) get the full parse.
_USER = {"id": int, "is_bot": bool, "first_name": str}
_CHAT = {"id": int, "type": str}
_MESSAGE = {"message_id": int, "date": int, "chat": _CHAT}
SHAPES: dict[str, dict[str, Any]] = {
    **dict.fromkeys(
        ("message", "edited_message", "channel_post", "edited_channel_post",
         "business_message", "edited_business_message"),
        _MESSAGE,
    ),
    "callback_query": {"id": str, "from": _USER, "chat_instance": str},
    "inline_query": {"id": str, "from": _USER, "query": str, "offset": str},
}  # fmt: skip
OPTIONAL: dict[str, dict[str, Any]] = {"from": _USER, "message": _MESSAGE, "chat": _CHAT}


def _fits(value: Any, shape: dict[str, Any]) -> bool:
    """Return whether `value` is a dict with every field of `shape` of its JSON type."""
    if not isinstance(value, dict):
        return False
    for key, kind in shape.items():
        field = value.get(key)
        if isinstance(kind, dict):
            if not _fits(field, kind):
                return False
        elif type(field) is not kind:  # `type is`: true is no int here
            return False
    return True


def _well_formed(update: dict[str, Any]) -> bool:
    """Return whether the update has exactly one known kind, shaped as PTB needs it.

    Also every chat and sender present (what partitioning reads) has an integer id.
    """
    kinds = [kind for kind in update if kind in KNOWN_KINDS]
    if len(kinds) != 1:
        return False
    shape = SHAPES.get(kinds[0])
    if shape is None:
        return _parses(update)
    value = update[kinds[0]]
    if not _fits(value, shape):
        return False
    return all(_fits(value[key], OPTIONAL[key]) for key in OPTIONAL if key in value)


def _parses(update: dict[str, Any]) -> bool:
    """Return whether PTB can build an Update from it (what the worker will do)."""
    try:
        return Update.de_json(update, None) is not None
    except Exception:  # PTB raises whatever the bad field provokes (TypeError, KeyError, ...)
        return False


def _read_capped(environ: WSGIEnvironment, cap: int) -> bytes | None:
    """Return the body, or None when it is longer than `cap` (also without Content-Length).

    The stream is werkzeug's, as Flask's `request.stream` would be: bounded by
    Content-Length, or by `cap` when the server terminates a chunked body.
    """
    try:
        stream = get_input_stream(environ, max_content_length=cap)
        body = stream.read(cap + 1)
        # Werkzeug's stream stops quietly at the cap and raises on the next read.
        if len(body) > cap or stream.read(1):
            return None
    except RequestEntityTooLarge:
        return None
    return body


def receive(d: WebhookDeps, environ: WSGIEnvironment, *, debug: bool = True) -> int:
    """Check, validate and store the update of one request; return the HTTP status.

    `debug=False` skips the per-update debug line (the caller knows debug is off).
    """
    sent = environ.get(SECRET_ENVIRON, "")
    if not hmac.compare_digest(sent.encode(), d.webhook_secret.encode()):
        log.warning("webhook_rejected", reason="secret")
        return 403
    length = get_content_length(environ)
    if length is not None and length > d.max_body_bytes:
        log.warning("webhook_rejected", reason="too_large", length=length)
        return 413
    body = _read_capped(environ, d.max_body_bytes)
    if body is None:
        log.warning("webhook_rejected", reason="too_large")
        return 413
    try:
        update = parse_update(body)
    except InvalidUpdate as err:
        log.warning("webhook_rejected", reason="invalid", detail=str(err))
        return 400
    update_id = update["update_id"]
    if not any(kind in KNOWN_KINDS for kind in update):
        log.info("update_ignored", update_id=update_id)
        return 200
    if not _well_formed(update):
        log.warning("webhook_rejected", reason="malformed", update_id=update_id)
        return 400
    try:
        stored = d.inbox.put_once(update, body)
    except redis.RedisError as err:
        log.error("update_not_stored", update_id=update_id, error=type(err).__name__)
        return 503
    if debug:
        log.debug("update_received" if stored else "update_duplicate", update_id=update_id)
    return 200


@bp.post(PATH)
def receive_update() -> tuple[str, int]:
    """Store one update from Telegram (reached only without `TelegramIngress` in front)."""
    return "", receive(deps(), request.environ)


class TelegramIngress:
    """WSGI middleware answering `POST /telegram` itself; everything else goes to `app`.

    The answers are Flask's, byte for byte: the status line and headers of `"", status`
    from the app's response class, computed once; an unexpected error is logged and
    answered as the app's error handler would (500, JSON).
    """

    def __init__(self, flask_app: Flask, dependencies: WebhookDeps, app: WSGIApplication) -> None:
        self._deps = dependencies
        self._app = app
        self._answers: dict[int, tuple[str, list[tuple[str, str]], list[bytes]]] = {}
        with flask_app.test_request_context(PATH, method="POST"):
            for status in (200, 400, 403, 413, 503):
                self._answers[status] = _wsgi_parts(flask_app.response_class("", status=status))
            failed = flask_app.handle_http_exception(InternalServerError())
            self._answers[500] = _wsgi_parts(flask_app.make_response(failed))
        # decided once: a disabled debug line then costs nothing per update
        is_enabled_for = getattr(log.bind(), "is_enabled_for", None)
        self._debug = is_enabled_for is None or bool(is_enabled_for(logging.DEBUG))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        try:
            status = receive(self._deps, environ, debug=self._debug)
        except Exception:
            log.exception("webhook_failed")
            status = 500
        line, headers, body = self._answers[status]
        start_response(line, list(headers))
        return body


def _wsgi_parts(response: Any) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    return response.status, response.headers.to_wsgi_list(), [response.get_data()]
