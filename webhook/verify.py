"""`/verify`: a page that checks a receipt or a block in the browser, with WebCrypto.

The page is static HTML + JS (no build step). Its texts come from the `webhook` catalog,
rendered here (`?lang=en`, else the browser's Accept-Language, else Korean), and are handed
to the script as JSON so that results are reported in the reader's language too. The script
fetches the checkpoint, the key and the proofs from `/ledger/...` and verifies them itself;
the server is not trusted.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint
from flask import Response
from flask import render_template
from flask import request

from i18n.catalog import LOCALES
from participation.domain.events import KINDS
from webhook.app import deps

bp = Blueprint("verify", __name__, template_folder="templates")  # script: the app's /static

# Every text of the page and of the script, by key (catalog keys are "webhook.verify.<key>").
PAGE_KEYS = (
    "title", "intro", "receipt_label", "receipt_hint", "index_label", "hash_label",
    "block_label", "check_button", "checking", "result_ok", "result_block_ok", "result_bad",
    "what_checked",
    "step_vkey", "step_checkpoint_sig", "step_leaf", "step_inclusion", "step_previous",
    "step_consistency", "step_entry", "not_sealed", "no_previous", "error_fetch",
    "error_input", "hash_mismatch", "sig_invalid", "proof_invalid", "found_entry",
    "block_summary", "no_webcrypto", "lang_switch", "footer", "ok", "failed", "skipped",
    "entry_time", "result_pending", "result_unavailable", "no_such_entry", "not_in_block",
    "no_such_block", "compare_channel",
)  # fmt: skip


def page_texts(locale: str) -> dict[str, str]:
    """Return the page's texts in `locale`, and (``kind.<kind>``) what each entry kind means
    to a person, the names the bot's receipts use: the script reports a found entry as
    "<the kind's name> (proposal.endorsed)" and its time in KST, not as the entry's raw
    kind and UTC time."""
    catalog = deps().catalog
    texts = {key: catalog.text(locale, f"webhook.verify.{key}") for key in PAGE_KEYS}
    for kind in sorted(KINDS):
        key = "bot.kind." + kind.replace(".", "_")
        if catalog.has(key, locale):
            texts[f"kind.{kind}"] = catalog.text(locale, key)
    return texts


@bp.get("/verify")
def verify_page() -> Response:
    """Render the verification page in the requested language: `?lang=`, else the browser's
    Accept-Language, else the instance's default."""
    lang = request.args.get("lang", "")
    default = deps().default_locale
    locale = lang if lang in LOCALES else request.accept_languages.best_match(LOCALES, default)
    texts = page_texts(locale)
    other = "en" if locale == "ko" else "ko"
    html = render_template(
        "verify.html",
        locale=locale,
        other=other,
        t=texts,
        texts_json=json.dumps(texts, ensure_ascii=False).replace("</", "<\\/"),
        prefill=_prefill(),
        base_url=deps().public_base_url.rstrip("/"),  # the command line hint, to copy as is
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.vary.add("Accept-Language")  # a cache must not serve one reader's language to all
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _prefill() -> dict[str, Any]:
    """Return the receipt fields given in the URL (`?i=12&h=<hex>&b=3`), strings only."""
    out: dict[str, Any] = {}
    for key in ("i", "h", "b"):
        value = request.args.get(key, "")
        if value and len(value) <= 80 and all(c.isalnum() for c in value):
            out[key] = value
    return out
