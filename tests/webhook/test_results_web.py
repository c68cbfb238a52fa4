"""`/results/<round>`: a round's published results as a page a reader of the public channel
can open, in their language, readable on a phone, with the files, /verify and the recount."""

from __future__ import annotations

import dataclasses
import html
import os
import re
import shlex
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

from gateway.results import results_index
from ledger.hashing import hash_leaf
from participation import report
from participation.service import ParticipationService
from participation.tally import Results
from participation.tally import shown
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.scenario import ROUND
from tests.participation.scenario import run_round
from tests.webhook.conftest import make_app
from tests.webhook.test_verify_page import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A round played and published (the scenario publishes it), its block sealed."""
    tmp = tmp_path_factory.mktemp("results-web")
    clock = Clock(START)
    log = open_ledger(f"sqlite:///{tmp / 'ledger.db'}", clock)
    svc = ParticipationService(log, pepper=PEPPER, clock=clock)
    svc.create_tables()
    run_round(svc, clock)
    log.seal()
    yield {"svc": svc, "ledger": log}
    log.close()


@pytest.fixture
def web(world: dict[str, Any], rclient: redis.Redis) -> Any:
    log = world["ledger"]
    return make_app(rclient, log, participation=world["svc"],
                    results_entry=lambda r: results_index(log.engine, r)).test_client()  # fmt: skip


def body_of(page: str) -> str:
    return re.sub(r"\s+", " ", page.split("<body>", 1)[1])


def test_the_page_shows_the_results_as_published(world, web):
    svc, log = world["svc"], world["ledger"]
    results = Results.from_payload(svc.results(ROUND))
    got = web.get(f"/results/{ROUND}")
    assert got.status_code == 200 and got.mimetype == "text/html"
    page = got.get_data(as_text=True)
    assert '<html lang="ko">' in page
    body = body_of(page)
    assert "small province 2017 결과" in body
    # the ranked table, in the published order, with the published numbers
    # proposals by the number residents know ("#7", on their cards), not the id "small2017-7"
    numbers = re.findall(r'<td class="number">([^<]+)</td>', body)
    assert numbers == ["#" + proposal.rsplit("-", 1)[1] for proposal in results.ranking]
    assert '<th scope="col" class="number">번호</th>' in body
    assert results.ranking[0] not in body
    for row in results.rows:
        assert f"{row.budget:,}원" in body
        assert shown(row.component("combined")) in body
    assert body.count('<tr class="selected">') == len(results.selected)
    assert "예산 부족" in body or "선정 건수 마감" in body or "득표 없음" in body
    assert f"선정 {len(results.selected)}건" in body and "20,000,000원" in body
    assert f"{results.selected_budget:,}원" in body
    # the formula in words, as the XLSX rules sheet says it
    for line in report.explanation(results, web.application.extensions["pgw"].catalog, "ko"):
        assert line.split("(")[0].strip() in body
    # the files, the /verify link of the results entry (as the channel gives it), the recount
    assert f'href="/results/{ROUND}.csv?lang=ko"' in body
    assert f'href="/results/{ROUND}.xlsx?lang=ko"' in body
    index = results_index(log.engine, ROUND)
    leaf_hash = hash_leaf(log.entries(index, index + 1)[0]).hex()
    block = log.block_of(index).number
    assert f'href="/verify?i={index}&amp;h={leaf_hash}&amp;b={block}&amp;lang=ko"' in body
    assert "python -m participation tally" in body
    assert "{" not in body.split("<pre", 1)[0] and "webhook.results" not in body


@pytest.mark.parametrize(
    ("query", "language", "lang"),
    [("", "en-US,en;q=0.9", "en"), ("?lang=en", "ko-KR", "en"), ("?lang=ko", "en-US", "ko")],
)
def test_the_page_follows_lang_then_accept_language(web, query, language, lang):
    page = web.get(f"/results/{ROUND}{query}", headers={"Accept-Language": language})
    text = page.get_data(as_text=True)
    assert f'<html lang="{lang}">' in text
    if lang == "en":
        assert "Ranking" in text and "Budget cap" not in text
        hangul = re.findall(r"[\uac00-\ud7a3]+", body_of(text))
        assert hangul == ["한국어"], hangul  # only the switch to Korean
    assert "Accept-Language" in page.headers["Vary"]


@pytest.mark.parametrize("path", ["/results/nosuchround", "/results/bad.round.id"])
def test_unknown_rounds_get_the_polite_404_page(web, path):
    got = web.get(path, headers={"Accept": "text/html", "Accept-Language": "ko-KR"})
    assert got.status_code == 404 and "발표된 결과가 없어요" in got.get_data(as_text=True)


@pytest.fixture
def site(web: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, web.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def phone() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser.new_page(locale="ko-KR", viewport={"width": 390, "height": 844})
        browser.close()


@pytest.mark.browser
def test_on_a_phone_the_table_scrolls_inside_its_box_not_the_page(site, phone):
    phone.goto(f"{site}/results/{ROUND}")
    page_width = phone.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 390, page_width
    box = phone.evaluate(
        "(() => { const b = document.querySelector('.scroll');"
        " return [b.scrollWidth, b.clientWidth, getComputedStyle(b).overflowX]; })()"
    )
    assert box[0] > box[1] and box[2] == "auto", box  # wider than the screen, scrolls in place
    assert phone.inner_text("h1") == "small province 2017 결과"


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/verify", f"/results/{ROUND}"])
def test_keyboard_focus_is_clearly_visible(site, phone, path):
    """Tabbing shows a thick solid ring, not Chromium's faint default (outline-style auto)."""
    phone.goto(site + path)
    seen = []
    for _ in range(4):
        phone.keyboard.press("Tab")
        seen.append(phone.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.tagName, s.outlineStyle,"
            " parseFloat(s.outlineWidth)]; })()"
        ))  # fmt: skip
    assert all(style == "solid" and width >= 3 for _tag, style, width in seen), seen


def test_the_recount_commands_on_the_page_run_as_written_and_match(web, site, tmp_path):
    """An outsider copies the page's commands as shown: the first downloads and verifies the
    ledger from this server, the second recounts the round from it and finds the published
    results. Before, the page showed 'python -m participation tally', which fails as copied
    (no export directory) and said nothing of how to get one."""
    app = web.application
    app.extensions["pgw"] = dataclasses.replace(app.extensions["pgw"], public_base_url=site)
    page = urllib.request.urlopen(f"{site}/results/{ROUND}").read().decode()
    block = re.search(r'<pre class="command"><code>(.*?)</code></pre>', page, re.S)
    assert block, page
    commands = html.unescape(block.group(1)).strip().splitlines()
    assert commands == [
        f"python -m ledger verify --url {site} --out ttabok-ledger",
        f"python -m participation tally ttabok-ledger --round {ROUND}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in commands:
        argv = [sys.executable, *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert "발표된 결과와 같습니다" in done.stdout
