"""`GET /results/<round>.csv` and `.xlsx`: a round's published results as files, for anyone.

Results are public once published (they are posted to the public channel), so no token is
needed. The files are built from the published Results payload (`service.results`), the
same one `python -m participation tally` recomputes from an export, with the proposals'
titles (personal content beside the ledger: a proposal hidden after the publication, or
whose author erased its content, keeps its row, as ranks and money are published, with a
placeholder that says why instead of its title, as its openings withhold it). Unknown rounds
and rounds without published results answer 404: a short page in the reader's language for a
browser (?lang=, else Accept-Language), the JSON error shape for programs.

`GET /results/<round>` is the same data as a web page, for a reader of the public channel
(Korean by default; ?lang=, else Accept-Language): the formula in words
(`report.explanation`, the text of the XLSX rules sheet), the ranked table with the files'
columns (`report.row_values`), the totals, the file links, a /verify link of the
`results.published` entry (found through `WebhookDeps.results_entry`) and how to recount
(`report.recount_commands`: this instance's `public_base_url` and the round filled in, so
the two commands run as copied), then how to check the titles (`report.openings_commands`).

`GET /results/<round>/openings.json` is the openings of the titles published with the
results (`service.openings`, see `participation.opening`): the salt and content behind each
listed proposal's ledger commitment, or why it is withheld, for
`python -m participation tally EXPORT --openings FILE`. Answered like the results (404 before
they are published), and kept out of search engines: the bodies are residents' texts,
published for checking.

Caching: every answer above says `Cache-Control: public, no-cache` with an ETag, and answers
`If-None-Match` with 304. The titles are read live, so a proposal hidden or erased after the
publication must leave every copy at once: a proxy or a browser may keep a body but must ask
before each use (a poller's check costs a 304 without a body). The ETag of the page, the CSV
and the openings is strong (a hash of the bytes); the XLSX's is weak (a hash of what it shows,
the catalog's texts included: openpyxl stamps each workbook with the time it was written),
checked before the workbook is built.
"""

from __future__ import annotations

import hashlib
import io
import json
import re

from flask import Blueprint
from flask import Response
from flask import abort
from flask import jsonify
from flask import render_template
from flask import request

from i18n.catalog import DEFAULT_LOCALE
from i18n.catalog import LOCALES
from i18n.catalog import Catalog
from ledger.hashing import hash_leaf
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
# the page's table: the files' columns a reader compares (names of report.COLUMNS); the
# proposal by its number ("#3", as on its card), not its id
PAGE_COLUMNS = ("rank", "number", "title", "budget", "judges", "onsite", "online", "combined",
                "decision")  # fmt: skip
REVALIDATE = "public, no-cache"  # the titles are read live: see the module docstring
PAGE_KEYS = ("formula_heading", "table_heading", "totals_heading", "files_heading",
             "verify_link", "recount_heading", "recount", "openings_link",
             "openings")  # fmt: skip


def _published(
    round_id: str, locale: str
) -> tuple[Results, dict[str, str], set[str], set[str]] | None:
    """Return the published results of `round_id`, the titles to show with them in `locale`
    (`report.shown_titles`: a placeholder for a proposal hidden since, with the reason, or
    whose content was erased since), and the proposals hidden and those erased since the
    publication; None when there are none."""
    d = deps()
    if not ROUND_ID.match(round_id) or d.participation is None:
        return None
    try:
        payload = d.participation.results(round_id)
    except ParticipationError:
        payload = None
    if payload is None:
        return None
    results = Results.from_payload(payload)
    cards = {row.proposal: d.participation.proposal(row.proposal) for row in results.rows}
    titles = report.shown_titles(results, cards, d.catalog, locale)
    hidden = {proposal for proposal, card in cards.items() if card.hidden}
    erased = {proposal for proposal, card in cards.items() if not card.hidden and not card.title}
    return results, titles, hidden, erased


def _locale() -> str:
    """Return the reader's language: ?lang=, else Accept-Language, else the default."""
    lang = request.args.get("lang", "")
    default = deps().default_locale
    return lang if lang in LOCALES else request.accept_languages.best_match(LOCALES, default)


@bp.get("/results/<round_id>")
def results_page(round_id: str) -> Response:
    """Render the published results of `round_id` as a page, exactly as published."""
    catalog, locale = deps().catalog, _locale()
    found = _published(round_id, locale)
    if found is None:
        return _missing()
    results, titles, hidden, erased = found
    picked = [report.COLUMNS.index(column) for column in PAGE_COLUMNS]
    heads = report.headers(catalog, locale)
    rows = []
    for row in results.rows:
        values = report.row_values(row, catalog, locale, titles)
        cells = {column: str(values[i]) for column, i in zip(PAGE_COLUMNS, picked, strict=True)}
        cells["budget"] = report.money(catalog, locale, row.budget)
        rows.append({"selected": row.selected, "cells": cells,
                     "withheld": row.proposal in hidden | erased})  # fmt: skip
    t = {key: catalog.text(locale, f"webhook.results.{key}") for key in PAGE_KEYS}
    t["title"] = catalog.text(locale, "webhook.results.page_title", title=results.rules.title)
    t["totals"] = catalog.text(
        locale,
        "webhook.results.totals",
        count=f"{len(results.selected):,}",
        amount=report.money(catalog, locale, results.selected_budget),
        cap=report.money(catalog, locale, results.rules.budget_cap),
    )
    t["lang_switch"] = catalog.text(locale, "webhook.verify.lang_switch")
    t["hidden_note"] = catalog.text(locale, "webhook.results.hidden_note") if hidden else ""
    t["erased_note"] = catalog.text(locale, "webhook.results.erased_note") if erased else ""
    html = render_template(
        "results.html",
        locale=locale,
        other="en" if locale == "ko" else "ko",
        t=t,
        formula=report.explanation(results, catalog, locale),
        heads=dict(zip(PAGE_COLUMNS, (heads[i] for i in picked), strict=True)),
        rows=rows,
        round_id=round_id,
        verify_url=_verify_url(round_id),
        recount_commands=report.recount_commands(deps().public_base_url, round_id),
        openings_commands=report.openings_commands(deps().public_base_url, round_id),
    )
    response = Response(html, mimetype="text/html")
    response.vary.add("Accept-Language")  # a cache must not serve one reader's language to all
    response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return _revalidated(response)


def _verify_url(round_id: str) -> str | None:
    """Return the /verify link of the round's `results.published` entry, as the channel's
    footer gives it; None when no lookup is wired or the ledger lacks the entry."""
    d = deps()
    index = d.results_entry(round_id) if d.results_entry is not None else None
    if index is None or d.ledger is None:
        return None
    leaves = d.ledger.entries(index, index + 1)
    if not leaves:
        return None
    url = f"/verify?i={index}&h={hash_leaf(leaves[0]).hex()}"
    block = d.ledger.block_of(index)
    return url if block is None else f"{url}&b={block.number}"


@bp.get("/results/<round_id>.<fmt>")
def results_file(round_id: str, fmt: str) -> Response:
    """Return the published results of `round_id` as CSV (UTF-8 with BOM) or XLSX."""
    d = deps()
    lang = request.args.get("lang", "")
    locale = lang if lang in LOCALES else d.default_locale
    found = _published(round_id, locale) if fmt in MEDIA else None
    if found is None:
        return _missing()
    results, titles, _hidden, _erased = found
    shown = None
    if fmt == "csv":
        text = io.StringIO()
        report.write_csv(results, text, d.catalog, locale, titles)
        data = text.getvalue().encode("utf-8-sig")
    else:
        shown = _shown_tag(results, titles, locale)
        data = b""
        if not request.if_none_match.contains_weak(shown):
            out = io.BytesIO()
            report.write_xlsx(results, out, d.catalog, locale, titles)
            data = out.getvalue()
    response = Response(data, content_type=MEDIA[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{round_id}.{fmt}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return _revalidated(response, weak_tag=shown)


def _shown_tag(results: Results, titles: dict[str, str], locale: str) -> str:
    """Return the weak ETag of an XLSX: a hash of what it shows that can change after the
    publication (the titles, read live) with the results, the language and the catalog's
    texts in it (sheet names, headings, rule labels: a deployment may change them)."""
    texts = _texts_digest(deps().catalog, locale)
    shown = json.dumps([results.sha256(), titles, locale, texts], sort_keys=True,
                       ensure_ascii=False)  # fmt: skip
    return hashlib.sha256(shown.encode()).hexdigest()[:32]


_DIGESTS: dict[int, tuple[Catalog, dict[str, str]]] = {}  # id -> (the catalog, by locale)


def _texts_digest(catalog: Catalog, locale: str) -> str:
    """Return a hash of the catalog's texts in ``locale`` and in the default locale (its
    fallback), computed once per catalog and locale (a process has one catalog; the entry
    keeps it alive, so its id is not reused)."""
    _kept, digests = _DIGESTS.setdefault(id(catalog), (catalog, {}))
    if locale not in digests:
        tables = [catalog.messages.get(name, {}) for name in (locale, DEFAULT_LOCALE)]
        flat = json.dumps([sorted(t.items()) for t in tables], ensure_ascii=False)
        digests[locale] = hashlib.sha256(flat.encode()).hexdigest()
        if len(_DIGESTS) > 8:  # catalogs built by tests: keep the newest
            del _DIGESTS[next(iter(_DIGESTS))]
    return digests[locale]


def _revalidated(response: Response, *, weak_tag: str | None = None) -> Response:
    """Return `response` cacheable only with revalidation: `Cache-Control: public, no-cache`,
    an ETag (strong, of the bytes, unless `weak_tag` is given) and 304 to a matching
    `If-None-Match` (no body)."""
    response.headers["Cache-Control"] = REVALIDATE
    if weak_tag is None:
        response.add_etag()
    else:
        response.set_etag(weak_tag, weak=True)
    return response.make_conditional(request)


@bp.get("/results/<round_id>/openings.json")
def openings(round_id: str) -> Response:
    """Return the openings of the titles published with `round_id`'s results."""
    d = deps()
    doc = None
    if ROUND_ID.match(round_id) and d.participation is not None:
        try:
            doc = d.participation.openings(round_id)
        except ParticipationError:
            doc = None
    if doc is None:
        return _missing()
    response = jsonify(doc)
    response.headers["Access-Control-Allow-Origin"] = "*"  # for checks in the browser too
    response.headers["Access-Control-Expose-Headers"] = "ETag"  # a script may revalidate
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Robots-Tag"] = "noindex"
    return _revalidated(response)


def _missing() -> Response:
    """Answer 404: a short page in the reader's language for a browser (the links are posted
    to the public channel and opened by people), the JSON error shape for programs."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html":
        abort(404, description="no published results for this round")
    d, locale = deps(), _locale()
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
