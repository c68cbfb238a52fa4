"""`/onsite/<session>`: the projector page of an on-site session (KINTEX, 23 Feb 2017).

Large, for a projector: the round's title with the session's number (webhook.onsite.session,
as the officials' bot screens name sessions), the review group, a QR code of
`https://t.me/<bot>?start=<code>` where `code = service.onsite_code(session)` (it rotates
every 30 s and is accepted for 60 s), a countdown to the next code and the check-in count.
The page never reloads: its script polls `/onsite/<session>/code` (JSON) at each rotation
and every few seconds for the count. Korean first, English second, from the `webhook` catalog.

Who may see it: the page hands out check-in codes, so a session id alone (32 random bits)
is not enough. Both routes need the signed token an official's bot screen issues
(`onsite_url`): `?bot=<username>&k=<HMAC(view_key, session|bot)>`, 128 bits, compared in
constant time. A wrong token, an unknown or a closed session all answer the same 404 page,
so the page tells nothing about which sessions exist. Anyone who was given the link (the
official at the projector) can farm codes; the link is as secret as the projector's screen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any
from urllib.parse import urlencode

import segno
from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import render_template
from flask import request

from i18n.catalog import LOCALES
from participation.domain.errors import ParticipationError
from webhook.app import deps

bp = Blueprint("onsite", __name__, template_folder="templates")

ROTATION_S = 30  # participation.domain.rules.ONSITE_STEP_S
BOT_NAME = re.compile(r"^[A-Za-z0-9_]{3,64}$")
SESSION_ID = re.compile(r"^[0-9a-f]{4,32}$")
PAGE_KEYS = (
    "title", "session", "group", "group_all", "scan", "scan_en", "next_code", "checked_in", "hint",
    "hint_en", "offline", "not_found", "not_found_en", "not_found_hint",
)  # fmt: skip
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token must not leak through links
    "Cache-Control": "no-store",
}


def view_key(pepper: bytes) -> bytes:
    """Derive the projector-link key from the pseudonym pepper (domain-separated)."""
    return hmac.new(pepper, b"onsite-view-key/v1", hashlib.sha256).digest()


def view_token(key: bytes, session_id: str, bot_username: str) -> str:
    """Return `k` for a session's projector link: base64url(HMAC-SHA256)[:22], 128 bits."""
    mac = hmac.new(key, f"{session_id}|{bot_username}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:22]


def onsite_url(base_url: str, key: bytes, session_id: str, bot_username: str) -> str:
    """Return the signed `/onsite/<session>` link an official opens on the projector."""
    query = urlencode({"bot": bot_username, "k": view_token(key, session_id, bot_username)})
    return f"{base_url.rstrip('/')}/onsite/{session_id}?{query}"


def _session(session_id: str) -> dict[str, Any] | None:
    """Return the open session `session_id` as {round, title, group, checkins, number, bot}
    or None.

    None as well when the request's token is not the session's (same answer as unknown), and
    once its round has left the review phase (the service refuses check-ins then).
    """
    d = deps()
    bot = request.args.get("bot", "")
    given = request.args.get("k", "")
    if d.participation is None or not d.onsite_key:
        return None
    if not SESSION_ID.match(session_id) or not BOT_NAME.match(bot):
        return None
    if not hmac.compare_digest(given.encode(), view_token(d.onsite_key, session_id, bot).encode()):
        return None
    svc = d.participation
    for view in svc.rounds():
        if view.phase != "review":  # check-ins are refused after it: no code to hand out
            continue
        for found in svc.onsite_sessions(view.round_id):
            if found.session_id == session_id and found.open:
                return {
                    "round": view.round_id,
                    "title": view.title,
                    "group": found.group,
                    "checkins": found.checkins,
                    "number": found.number,  # 'session 2', as the officials' screens say
                    "bot": bot,
                }
    return None


def _texts(locale: str, **params: Any) -> dict[str, str]:
    """Return the page's texts in `locale` (`*_en`: the English line shown second)."""
    catalog = deps().catalog
    out = {}
    for key in PAGE_KEYS:
        shown_in, name = ("en", key[:-3]) if key.endswith("_en") else (locale, key)
        out[key] = catalog.text(shown_in, f"webhook.onsite.{name}", **params)
    return out


def _raw(locale: str, key: str) -> str:
    """Return a message's template, placeholders unfilled (the script fills them)."""
    return deps().catalog.text(locale, f"webhook.onsite.{key}")


def _headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@bp.get("/onsite/<session_id>")
def onsite_page(session_id: str) -> Response:
    """Render the projector page of an open session (the same 404 page otherwise)."""
    lang = request.args.get("lang", "")
    locale = lang if lang in LOCALES else deps().default_locale
    found = _session(session_id)
    state = None if found is None else _state(session_id, found)
    if found is None or state is None:
        html = render_template("onsite_missing.html", locale=locale, t=_texts(locale))
        return _headers(Response(html, status=404, mimetype="text/html"))
    params = {"title": found["title"], "group": found["group"] or "", "number": found["number"],
              "count": f"{state['checked_in']:,}", "seconds": state["expires_in"]}  # fmt: skip
    texts = _texts(locale, **params)
    html = render_template(
        "onsite.html",
        locale=locale,
        t=texts,
        title=found["title"],
        group=texts["group"] if found["group"] else texts["group_all"],
        session=texts["session"] if found["number"] else "",
        state=state,
        raw={key: _raw(locale, key) for key in ("next_code", "checked_in")},
        code_url=f"/onsite/{session_id}/code?"
        + urlencode({"bot": found["bot"], "k": request.args.get("k", "")}),
    )
    return _headers(Response(html, mimetype="text/html"))


@bp.get("/onsite/<session_id>/code")
def onsite_code(session_id: str) -> Response:
    """Return the current code as JSON: code, link, QR (SVG data URI), expires_in, checked_in."""
    found = _session(session_id)
    state = None if found is None else _state(session_id, found)
    if found is None or state is None:
        response = jsonify(code="not_found", message="no such open session")
        response.status_code = 404
        return _headers(response)
    return _headers(jsonify(state))


def _state(session_id: str, found: dict[str, Any]) -> dict[str, Any] | None:
    """Return what the page shows now, or None when the session closed meanwhile."""
    try:
        code = deps().participation.onsite_code(session_id)
    except ParticipationError:
        return None
    link = f"https://t.me/{found['bot']}?start={code}"
    qr = segno.make(link, error="m").svg_data_uri(scale=10, border=2, dark="#111", light="#fff")
    return {
        "code": code,
        "link": link,
        "qr": qr,
        "expires_in": ROTATION_S - int(time.time()) % ROTATION_S,
        "checked_in": found["checkins"],
    }
