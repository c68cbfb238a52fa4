"""`GET /results/<round>/openings.json`: the openings of the titles published with a round's
results, served next to them, and the README's commands that check them, run as copied."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

from participation.service import ParticipationService
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.conftest import simple_rules
from tests.participation.test_openings import OFFICIAL
from tests.participation.test_openings import R
from tests.participation.test_openings import play
from tests.webhook.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
LATER = "later2017"  # a round without published results
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("openings-web")
    clock = Clock(START)
    log = open_ledger(f"sqlite:///{tmp / 'ledger.db'}", clock)
    svc = ParticipationService(log, pepper=PEPPER, clock=clock)
    svc.create_tables()
    ids = play(svc, clock)
    svc.create_round(OFFICIAL, simple_rules(), round_id=LATER)
    log.seal()
    yield {"svc": svc, "ledger": log, "ids": ids}
    log.close()


@pytest.fixture
def web(world: dict[str, Any], rclient: redis.Redis) -> Any:
    return make_app(rclient, world["ledger"], participation=world["svc"]).test_client()


def test_the_openings_are_served_next_to_the_results(world, web):
    got = web.get(f"/results/{R}/openings.json")
    assert got.status_code == 200 and got.mimetype == "application/json"
    assert got.get_json() == world["svc"].openings(R)
    assert "shade 제안" in got.get_data(as_text=True)  # UTF-8, not \\u escapes
    assert got.headers["Cache-Control"] == "public, no-cache"  # as the results page
    assert got.headers["Access-Control-Allow-Origin"] == "*"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["X-Robots-Tag"] == "noindex"  # bodies are for checking, not for search


@pytest.mark.parametrize("round_id", [LATER, "nosuchround", "bad.round"])
def test_a_round_without_published_results_has_none_as_its_results_page(web, round_id):
    got = web.get(f"/results/{round_id}/openings.json")
    assert got.status_code == 404 and got.mimetype == "application/json"
    assert got.get_json()["code"] == "not_found"
    assert web.get(f"/results/{round_id}", headers={"Accept": BROWSER}).status_code == 404
    page = web.get(f"/results/{round_id}/openings.json",
                   headers={"Accept": BROWSER, "Accept-Language": "ko-KR"})  # fmt: skip
    assert page.status_code == 404 and "발표된 결과가 없어요" in page.get_data(as_text=True)


def test_the_results_page_links_the_openings_and_says_how_to_check_them(web):
    page = web.get(f"/results/{R}").get_data(as_text=True)
    assert f'href="/results/{R}/openings.json"' in page
    assert "--openings openings.json" in page


@pytest.fixture
def site(web: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, web.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def readme_commands() -> list[str]:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split(
        "## Verifying from outside", 1)[1].split("\n## ", 1)[0]  # fmt: skip
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the outsider section shows the title check as a block to copy"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_title_check_runs_as_copied(web, site, tmp_path):
    """A journalist copies the README's block, with this server and the round filled in: it
    downloads and verifies the ledger, fetches the openings and checks the titles."""
    app = web.application
    app.extensions["pgw"] = dataclasses.replace(app.extensions["pgw"], public_base_url=site)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = None
    for command in readme_commands():
        filled = command.replace("https://HOST", site).replace("ROUND", R)
        argv = shlex.split(filled)
        if argv[0] == "python":
            argv[0] = sys.executable
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, (filled, done.stdout, done.stderr)
    assert done is not None and "제목 3건이 장부와 일치합니다" in done.stdout
    assert json.loads((tmp_path / "openings.json").read_text(encoding="utf-8"))["round"] == R


def csv_rows(web: Any, lang: str = "ko") -> list[list[str]]:
    import csv
    import io

    got = web.get(f"/results/{R}.csv?lang={lang}").get_data().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(got)))[1:]


def test_a_proposal_hidden_after_the_results_keeps_its_row_but_not_its_title(world, web):
    """A proposal hidden after the publication (moderation: here, personal information in it)
    kept its title on the results page and in the files while the openings withheld it. Its
    row stays as published (rank, scores, money), the title is replaced by a placeholder that
    says why, and the page explains what that means."""
    import io

    from openpyxl import load_workbook

    from i18n import Catalog
    from participation.tally import Results

    catalog, late = Catalog.load(), world["ids"]["late"]
    results = Results.from_payload(world["svc"].results(R))
    row = next(r for r in results.rows if r.proposal == late)
    for lang in ("ko", "en"):
        reason = catalog.text(lang, "participation.reason.personal_info")
        placeholder = catalog.text(lang, "report.title.hidden", reason=reason)
        assert reason in placeholder
        page = web.get(f"/results/{R}?lang={lang}").get_data(as_text=True)
        assert "late 제안" not in page
        cells = (f'<th scope="row" class="rank">{row.rank}</th><td class="number">#{row.number}'
                 f'</td><td class="title withheld">{placeholder}</td>')  # fmt: skip
        assert cells in page
        assert catalog.text(lang, "webhook.results.hidden_note") in page
        (line,) = [r for r in csv_rows(web, lang) if r[1] == late]
        assert line[0] == str(row.rank) and line[3] == placeholder
        assert line[8] == str(row.budget)
        book = web.get(f"/results/{R}.xlsx?lang={lang}").get_data()
        sheet = load_workbook(io.BytesIO(book)).worksheets[0]
        (cells_xlsx,) = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r[1] == late]
        assert cells_xlsx[3] == placeholder
        assert "late 제안" not in str(list(sheet.iter_rows(values_only=True)))


def test_the_page_shows_a_title_only_where_the_openings_open_it(web):
    """What the results show as titles and what the openings open agree: an opened proposal
    shows the opened title, a withheld one none of its content (erased: a placeholder saying
    its author had it deleted, where the cell was empty with no word of why; hidden: the
    placeholder with the reason, personal information for the one hidden here)."""
    from i18n import Catalog

    catalog = Catalog.load()
    reason = catalog.text("ko", "participation.reason.personal_info")
    hidden = catalog.text("ko", "report.title.hidden", reason=reason)
    doc = web.get(f"/results/{R}/openings.json").get_json()
    opened = {o["proposal"]: o["content"]["title"] for o in doc["openings"]}
    withheld = {w["proposal"]: w["reason"] for w in doc["withheld"]}
    rows = csv_rows(web)
    assert rows and withheld
    for line in rows:
        proposal, title = line[1], line[3]
        if proposal in opened:
            assert title == opened[proposal]
        else:
            erased = catalog.text("ko", "report.title.erased")
            assert title == {"erased": erased, "hidden": hidden}[withheld[proposal]]
    page = web.get(f"/results/{R}?lang=ko").get_data(as_text=True)
    assert f'<td class="title withheld">{catalog.text("ko", "report.title.erased")}</td>' in page
    assert catalog.text("ko", "webhook.results.erased_note") in page
