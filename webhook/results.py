"""`GET /results/<round>.csv` and `.xlsx`: a round's published results as files, for anyone.

Results are public once published (they are posted to the public channel), so no token is
needed. The files are built from the published Results payload (`service.results`), the
same one `python -m participation tally` recomputes from an export, with the proposals'
titles (personal content beside the ledger: an erased title is left empty). Unknown rounds
and rounds without published results answer 404: a short page in the reader's language for a
browser (?lang=, else Accept-Language), the JSON error shape for programs.
"""

from __future__ import annotations

import io
import re

from flask import Blueprint
from flask import Response
from flask import abort
from flask import render_template
from flask import request

from i18n.catalog import LOCALES
from participation import report
from participation.domain.errors import ParticipationError
from participation.tally import Results
from webhook.app import deps

bp = Blueprint("results", __name__, template_folder="templates")

ROUND_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@bp.get("/results/<round_id>.<fmt>")
def results_file(round_id: str, fmt: str) -> Response:
    """Return the published results of `round_id` as CSV (UTF-8 with BOM) or XLSX."""
    d = deps()
    if fmt not in MEDIA or not ROUND_ID.match(round_id) or d.participation is None:
        return _missing()
    lang = request.args.get("lang", "")
    locale = lang if lang in LOCALES else d.default_locale
    try:
        payload = d.participation.results(round_id)
    except ParticipationError:
        payload = None
    if payload is None:
        return _missing()
    results = Results.from_payload(payload)
    titles = {}
    for row in results.rows:
        card = d.participation.proposal(row.proposal)
        if card.title:
            titles[row.proposal] = str(card.title)
    if fmt == "csv":
        text = io.StringIO()
        report.write_csv(results, text, d.catalog, locale, titles)
        data = text.getvalue().encode("utf-8-sig")
    else:
        out = io.BytesIO()
        report.write_xlsx(results, out, d.catalog, locale, titles)
        data = out.getvalue()
    response = Response(data, content_type=MEDIA[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{round_id}.{fmt}"'
    response.headers["Cache-Control"] = "public, max-age=300"  # published results never change
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _missing() -> Response:
    """Answer 404: a short page in the reader's language for a browser (the links are posted
    to the public channel and opened by people), the JSON error shape for programs."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html":
        abort(404, description="no published results for this round")
    d = deps()
    lang = request.args.get("lang", "")
    locale = (
        lang if lang in LOCALES else request.accept_languages.best_match(LOCALES, d.default_locale)
    )
    texts = {
        key: d.catalog.text(locale, f"webhook.results.{key}")
        for key in ("not_found", "not_found_hint")
    }
    html = render_template("results_missing.html", locale=locale, t=texts)
    response = Response(html, status=404, mimetype="text/html")
    response.vary.add("Accept")
    response.vary.add("Accept-Language")
    response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
