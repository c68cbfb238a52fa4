"""The Bot API endpoints: ``/bot<token>/<method>`` and ``/file/bot<token>/<file_path>``.

Telegram's envelope (https://core.telegram.org/bots/api#making-requests): ``{"ok": true,
"result": ...}`` or ``{"ok": false, "error_code": N, "description": "...", "parameters":
{"retry_after": S}}``. Method names are case-insensitive. A malformed token or an unknown method
answers 404 ``Not Found``, as Telegram does.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from sandbox.errors import NOT_FOUND
from sandbox.errors import ApiError
from sandbox.errors import bad_request
from sandbox.methods import METHODS
from sandbox.methods import Method
from sandbox.params import Params
from sandbox.params import Upload
from sandbox.params import collect
from sandbox.webhook import delete_webhook
from sandbox.webhook import get_webhook_info
from sandbox.webhook import set_webhook

if TYPE_CHECKING:
    from sandbox.server import Services

TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{30,64}")
bp = Blueprint("sandbox_api", __name__)
log = logging.getLogger(__name__)


def _services() -> Services:
    return current_app.extensions["sandbox"]  # type: ignore[no-any-return]


def _error(err: ApiError) -> tuple[Response, int]:
    return jsonify(err.envelope()), err.code


def method_table(services: Services) -> dict[str, Method]:
    """Return every method by lower-case name, webhook methods bound to the deliverer."""
    table = dict(METHODS)
    table["setwebhook"] = set_webhook(services.deliverer)
    table["deletewebhook"] = delete_webhook
    table["getwebhookinfo"] = get_webhook_info
    return table


def _params() -> Params:
    uploads = {
        name: Upload(storage.filename or "", storage.mimetype or "", storage.read())
        for name, storage in request.files.items()
    }
    body = None
    if request.is_json:
        body = request.get_json(silent=True)
        if body is None and request.get_data():
            raise bad_request("can't parse JSON object")
    return collect(request.args.to_dict(), request.form.to_dict(), body, uploads)


@bp.route("/bot<token>/<method>", methods=["GET", "POST"])
def call(token: str, method: str) -> tuple[Response, int]:
    """Run one Bot API method for the bot of ``token``."""
    services = _services()
    handler = services.methods.get(method.lower())
    if not TOKEN.fullmatch(token) or handler is None:
        return _error(NOT_FOUND)
    try:
        params = _params()
        bot = services.world.bot_for_token(token)
        result = handler(services.world, bot, params)
    except ApiError as err:
        return _error(err)
    except Exception:  # a sandbox bug; the bot should see Telegram's 500, the log the trace
        log.exception("sandbox_method_failed method=%s", method)
        return jsonify(
            {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        ), 500
    return jsonify({"ok": True, "result": result}), 200


@bp.get("/bot<token>/")
@bp.get("/bot<token>")
def no_method(token: str) -> tuple[Response, int]:
    """Telegram answers a request without a method name with 404."""
    return _error(NOT_FOUND)


@bp.get("/file/bot<token>/<path:file_path>")
def download(token: str, file_path: str) -> Response | tuple[Response, int]:
    """Serve a file's bytes at the path ``getFile`` returned."""
    if not TOKEN.fullmatch(token):
        return _error(NOT_FOUND)
    rec = _services().world.file_by_path(file_path)
    if rec is None:
        return _error(NOT_FOUND)
    return Response(rec.data, mimetype=rec.mime_type)
