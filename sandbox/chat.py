"""The web chat: ``/sandbox`` (a phone-like page) and the JSON endpoints its script calls.

The page's texts come from the ``sandbox`` catalog domain, rendered into the page as a JSON
dict (Korean by default, ``?lang=en`` for English). Live updates arrive over Server-Sent Events
(``/sandbox/api/events``): each event carries the sandbox's change counter, and the script then
fetches what it shows. Every action goes through the same ``Client`` the tests use.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import jsonify
from flask import render_template
from flask import request

from i18n import locale_for
from sandbox.errors import ApiError
from sandbox.model import JSON
from sandbox.personas import ROLES

if TYPE_CHECKING:
    from sandbox.server import Services

bp = Blueprint(
    "sandbox_chat",
    __name__,
    url_prefix="/sandbox",
    template_folder="templates",
    static_folder="static",
)
KEEPALIVE_SECONDS = 15.0


def _services() -> Services:
    return current_app.extensions["sandbox"]  # type: ignore[no-any-return]


def _public(view: JSON) -> JSON:
    """Drop raw bytes from a message view and point to them by URL instead."""
    out = {k: v for k, v in view.items() if k not in ("photo", "document_bytes")}
    if view.get("photo_file_id"):
        out["photo_url"] = f"/sandbox/file/{view['photo_file_id']}"
    document = view.get("document")
    if isinstance(document, dict):
        out["document_url"] = f"/sandbox/file/{document['file_id']}"
    return out


def _json_body() -> dict[str, object]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return body


def _refused(err: Exception) -> tuple[Response, int]:
    return jsonify({"ok": False, "error": str(err)}), 400


@bp.get("")
@bp.get("/")
def page() -> str:
    """Render the chat page with its texts in the chosen locale."""
    catalog = _services().catalog
    lang = request.args.get("lang") or request.accept_languages.best_match(["ko", "en"])
    locale = locale_for(lang)
    texts = {
        key.removeprefix("sandbox."): value
        for key, value in catalog.messages.get(locale, {}).items()
        if key.startswith("sandbox.")
    }
    return render_template(
        "chat.html", locale=locale, texts=texts, texts_json=json.dumps(texts, ensure_ascii=False)
    )


@bp.get("/api/personas")
def personas() -> Response:
    """List the personas and the bot they talk to."""
    services = _services()
    with services.world.lock:
        people = [u.describe() for u in services.world.users.values()]
        bot = services.world.bot()
        return jsonify({"personas": people, "bot": {"username": bot.username}})


@bp.post("/api/personas")
def add_persona() -> tuple[Response, int]:
    """Add a persona: ``{"first_name", "role", "language_code"}``."""
    body = _json_body()
    name = str(body.get("first_name", "")).strip()[:64]
    role = str(body.get("role", "resident"))
    language = str(body.get("language_code") or "ko")
    if not name or role not in ROLES or language not in ("ko", "en"):
        return jsonify({"ok": False, "error": "first_name, role and language_code"}), 400
    user = _services().world.create_user(name, role=role, language_code=language)
    return jsonify(user.describe()), 201


@bp.get("/api/chat/<int:user_id>")
def chat_state(user_id: int) -> Response:
    """Return the persona's conversation, keyboard and blocked flag."""
    state = _services().client.chat_state(user_id)
    state["messages"] = [_public(m) for m in state["messages"]]  # type: ignore[attr-defined]
    state["toasts"] = _services().client.answered_callbacks(user_id)[-5:]
    return jsonify(state)


@bp.post("/api/chat/<int:user_id>/text")
def send_text(user_id: int) -> tuple[Response, int]:
    """Send the text the persona typed."""
    text = str(_json_body().get("text", ""))
    try:
        update = _services().client.send_text(user_id, text)
    except (KeyError, ValueError) as err:
        return _refused(err)
    return jsonify({"ok": True, "update_id": update["update_id"]}), 200


@bp.post("/api/chat/<int:user_id>/photo")
def send_photo(user_id: int) -> tuple[Response, int]:
    """Send an uploaded photo with an optional caption."""
    upload = request.files.get("photo")
    if upload is None:
        abort(400)
    caption = request.form.get("caption") or None
    try:
        _services().client.send_photo(user_id, upload.read(), caption)
    except (KeyError, ValueError) as err:
        return _refused(err)
    except Exception as err:  # noqa: BLE001 - an unreadable image answers like Telegram's 400
        return _refused(err)
    return jsonify({"ok": True}), 200


@bp.post("/api/chat/<int:user_id>/album")
def send_album(user_id: int) -> tuple[Response, int]:
    """Send 2-10 uploads picked together as an album: pictures as photos (``photo`` fields)
    or files as documents (``document`` fields), an optional caption on the first."""
    photos, documents = request.files.getlist("photo"), request.files.getlist("document")
    if bool(photos) == bool(documents):
        abort(400)
    caption = request.form.get("caption") or None
    client = _services().client
    try:
        if photos:
            client.send_album(user_id, [p.read() for p in photos], caption)
        else:
            files = [
                (d.read(), d.filename or "file", d.mimetype or "application/octet-stream")
                for d in documents
            ]
            client.send_files(user_id, files, caption)
    except (KeyError, ValueError, ApiError) as err:  # an unreadable image: Telegram's 400
        return _refused(err)
    return jsonify({"ok": True}), 200


@bp.post("/api/chat/<int:user_id>/document")
def send_document(user_id: int) -> tuple[Response, int]:
    """Send an uploaded file (a CSV, a PDF...) with its name, type and an optional caption."""
    upload = request.files.get("document")
    if upload is None:
        abort(400)
    caption = request.form.get("caption") or None
    name = upload.filename or "file"
    mime = upload.mimetype or "application/octet-stream"
    try:
        _services().client.send_document(user_id, upload.read(), name, mime, caption)
    except (KeyError, ValueError) as err:
        return _refused(err)
    return jsonify({"ok": True}), 200


@bp.post("/api/chat/<int:user_id>/contact")
def send_contact(user_id: int) -> tuple[Response, int]:
    """Share the persona's own phone number (a ``request_contact`` button)."""
    try:
        _services().client.send_contact(user_id)
    except KeyError as err:
        return _refused(err)
    return jsonify({"ok": True}), 200


@bp.post("/api/chat/<int:user_id>/press")
def press(user_id: int) -> tuple[Response, int]:
    """Tap an inline button: ``{"message_id", "data"}``."""
    body = _json_body()
    try:
        _services().client.press(user_id, int(str(body.get("message_id"))), str(body.get("data")))
    except (KeyError, ValueError) as err:
        return _refused(err)
    return jsonify({"ok": True}), 200


@bp.post("/api/chat/<int:user_id>/link")
def open_link(user_id: int) -> tuple[Response, int]:
    """Open a ``t.me/<bot>?start=...`` link as if its QR code was scanned."""
    link = str(_json_body().get("link", ""))
    try:
        _services().client.open_deep_link(user_id, link)
    except (KeyError, ValueError) as err:
        return _refused(err)
    return jsonify({"ok": True}), 200


@bp.post("/api/chat/<int:user_id>/block")
def block(user_id: int) -> tuple[Response, int]:
    """Block or unblock the bot: ``{"blocked": true|false}``."""
    blocked = bool(_json_body().get("blocked", True))
    try:
        _services().client.block_bot(user_id, blocked)
    except KeyError as err:
        return _refused(err)
    return jsonify({"ok": True}), 200


@bp.get("/api/groups/<int:user_id>")
def groups(user_id: int) -> Response:
    """List every group, with whether the persona and the bot are in it."""
    return jsonify({"groups": _services().client.groups(user_id)})


@bp.post("/api/groups/<int:user_id>")
def create_group(user_id: int) -> tuple[Response, int]:
    """Create a group of the persona: ``{"title"}``."""
    title = str(_json_body().get("title", ""))
    try:
        chat = _services().client.create_group(user_id, title)
    except (KeyError, ValueError) as err:
        return _refused(err)
    return jsonify(chat), 201


@bp.get("/api/group/<int:user_id>/<int(signed=True):group_id>")
def group_state(user_id: int, group_id: int) -> tuple[Response, int]:
    """Return a group as its member sees it: the chat, the bot's presence, the messages."""
    try:
        state = _services().client.group_state(user_id, group_id)
    except ValueError as err:
        return _refused(err)
    state["messages"] = [_public(m) for m in state["messages"]]  # type: ignore[attr-defined]
    return jsonify(state), 200


@bp.post("/api/group/<int:user_id>/<int(signed=True):group_id>/<action>")
def group_action(user_id: int, group_id: int, action: str) -> tuple[Response, int]:
    """``join`` the group, add the ``bot`` to it, or write a ``text`` there (``{"text"}``)."""
    client = _services().client
    body = _json_body()
    try:
        if action == "join":
            client.join_group(user_id, group_id)
        elif action == "bot":
            client.add_bot_to_group(user_id, group_id)
        elif action == "text":
            client.send_group_text(user_id, group_id, str(body.get("text", "")))
        else:
            abort(404)
    except (KeyError, ValueError) as err:
        return _refused(err)
    return jsonify({"ok": True}), 200


@bp.get("/api/channels")
def channels() -> Response:
    """Return every channel the bot posts to, with its posts (the public ledger digests)."""
    client = _services().client
    out = []
    for chat in client.channels():
        posts = [_public(p) for p in client.channel_posts(int(str(chat["id"])))]
        out.append({"chat": chat, "posts": posts})
    return jsonify({"channels": out})


@bp.get("/api/photos")
def photos() -> Response:
    """Return the newest photos the bot sent anywhere (QR codes to "scan")."""
    services = _services()
    found: list[JSON] = []
    with services.world.lock:
        bot = services.world.bot()
        for chat in bot.chats.values():
            for msg in chat.messages.values():
                if msg.outgoing and msg.photo and not msg.deleted:
                    file_id = msg.photo[-1]["file_id"]
                    found.append(
                        {"date": msg.date, "chat_id": chat.id, "url": f"/sandbox/file/{file_id}"}
                    )
    found.sort(key=lambda p: int(str(p["date"])), reverse=True)
    return jsonify({"photos": found[:12]})


@bp.get("/file/<file_id>")
def file(file_id: str) -> Response:
    """Serve a photo or document to the page."""
    rec = _services().world.files.get(file_id)
    if rec is None:
        abort(404)
    return Response(rec.data, mimetype=rec.mime_type)


@bp.get("/api/events")
def events() -> Response:
    """Stream the change counter as Server-Sent Events until the sandbox stops."""
    world = _services().world

    def stream() -> Iterator[str]:
        seen = -1
        while True:
            with world.changed:
                if world.version == seen and not world.stopping:
                    world.changed.wait(KEEPALIVE_SECONDS)
                if world.stopping:
                    return
                version = world.version
            if version == seen:
                yield ": keepalive\n\n"
                continue
            seen = version
            yield f"data: {version}\n\n"
            time.sleep(0.05)  # coalesce bursts of changes into one refresh

    return Response(
        stream(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
