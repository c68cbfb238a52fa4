"""/verify in headless Chromium: real receipts verify, tampered ones are rejected."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

from i18n.format import KST
from ledger import Ledger
from ledger import LedgerKey
from tests.webhook.conftest import make_app

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip


@pytest.fixture
def site(rclient: redis.Redis, tmp_path: Path) -> Iterator[tuple[str, Ledger, list[Any]]]:
    log = Ledger.open(f"sqlite:///{tmp_path}/l.db", LedgerKey.generate("gg-ledger"), "t.example/l")
    receipts = []
    for block in range(3):
        for n in range(3 + 2 * block):
            kind = "proposal.endorsed" if (block, n) == (2, 1) else "test.noted"  # entry 9
            receipts.append(log.append(kind, "r:ab", "round-1", {"n": n, "b": block}))
        log.seal()
    receipts.append(log.append("test.noted", "r:ab", None, {"n": 0}))  # not sealed yet
    server = make_server("127.0.0.1", 0, make_app(rclient, log), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", log, receipts
    server.shutdown()
    thread.join()
    log.close()


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser.new_page(locale="ko-KR")  # the page follows Accept-Language
        browser.close()


def outcome(page: Any) -> tuple[str, dict[str, str]]:
    page.wait_for_selector("#result[data-outcome]", timeout=15_000)
    steps = {
        li.get_attribute("data-step"): li.get_attribute("data-state")
        for li in page.query_selector_all("#steps li")
    }
    return page.get_attribute("#result", "data-outcome"), steps


@pytest.mark.browser
def test_receipt_link_verifies_with_every_check(site, page):
    url, log, receipts = site
    receipt = receipts[9]  # entry 9: in block 3 (entries 8..14)
    block = log.block_of(receipt.index)
    page.goto(f"{url}/verify?i={receipt.index}&h={receipt.leaf_hash.hex()}&b={block.number}")
    result, steps = outcome(page)
    assert result == "ok", page.inner_text("#result")
    assert steps == dict.fromkeys(
        ["step_vkey", "step_checkpoint_sig", "step_leaf", "step_entry", "step_inclusion",
         "step_previous", "step_consistency"], "ok",
    )  # fmt: skip
    assert "확인됐어요" in page.inner_text("#verdict")
    # the entry is named as the bot's receipts name it, at its time in KST
    [leaf] = log.entries(receipt.index, receipt.index + 1)
    at = dt.datetime.fromisoformat(json.loads(leaf)["entry"]["ts"]).astimezone(KST)
    found = page.inner_text("#result")
    assert "공감 (proposal.endorsed" in found, found
    assert f"{at.year}년 {at.month}월 {at.day}일" in found and f"{at.minute:02d}" in found, found
    assert "Z)" not in found, found


@pytest.mark.browser
def test_tampered_receipt_is_rejected(site, page):
    url, _log, receipts = site
    receipt = receipts[4]
    forged = receipt.leaf_hash.hex()
    forged = forged[:10] + ("0" if forged[10] != "0" else "1") + forged[11:]
    page.goto(f"{url}/verify?lang=en&i={receipt.index}&h={forged}")
    result, steps = outcome(page)
    assert result == "bad"
    assert steps["step_leaf"] == "failed" and "step_inclusion" not in steps
    assert "Verification failed" in page.inner_text("#verdict")


@pytest.mark.browser
def test_receipt_claiming_another_index_is_rejected(site, page):
    url, _log, receipts = site
    page.goto(f"{url}/verify?i={receipts[5].index}&h={receipts[6].leaf_hash.hex()}")
    result, steps = outcome(page)
    assert result == "bad" and steps["step_leaf"] == "failed"


@pytest.mark.browser
def test_block_number_alone_checks_signature_and_consistency(site, page):
    url, _log, _receipts = site
    page.goto(f"{url}/verify?lang=en")
    page.fill("#b", "2")
    page.click("#check")
    result, steps = outcome(page)
    assert result == "ok", page.inner_text("#result")
    assert steps == {"step_vkey": "ok", "step_checkpoint_sig": "ok", "step_previous": "ok",
                     "step_consistency": "ok"}  # fmt: skip
    # no receipt was given, so the verdict speaks of the block, not of a receipt
    verdict = page.inner_text("#verdict")
    assert "checkpoint" in verdict and "receipt" not in verdict.lower(), verdict


@pytest.mark.browser
def test_the_digest_link_says_the_block_is_signed_not_that_a_receipt_matches(site, page):
    url, _log, _receipts = site
    page.goto(f"{url}/verify?b=3")  # the channel digest's link: a block number, no receipt
    result, _steps = outcome(page)
    assert result == "ok", page.inner_text("#result")
    verdict = page.inner_text("#verdict")
    assert "체크포인트" in verdict and "영수증" not in verdict, verdict


@pytest.mark.browser
def test_the_digest_link_asks_to_compare_the_root_with_the_channel_post(site, page):
    """A block's checks run against the key this server serves: a server that rewrote and
    re-signed its whole log passes them. What ties the answer to the public channel is the
    reader comparing the root hash with the block's digest post; the page showed the root but
    never said so. A receipt needs no such step (its hash is the reader's own)."""
    url, log, _receipts = site
    root = log.blocks(0, 10)[2].root.hex()
    page.goto(f"{url}/verify?b=3")
    result, _steps = outcome(page)
    summary = page.inner_text("#summary")
    assert result == "ok" and root in summary, summary
    assert "공개 채널" in summary and "블록 3번의 루트 해시" in summary, summary
    page.goto(f"{url}/verify?b=3&lang=en")
    outcome(page)
    assert "public channel" in page.inner_text("#summary")


@pytest.mark.browser
def test_first_block_has_no_previous_and_unsealed_entry_says_so(site, page):
    url, _log, receipts = site
    page.goto(f"{url}/verify?i={receipts[0].index}&h={receipts[0].leaf_hash.hex()}")
    result, steps = outcome(page)
    assert result == "ok" and steps["step_previous"] == "skipped"
    last = receipts[-1]
    page.goto(f"{url}/verify?i={last.index}&h={last.leaf_hash.hex()}")
    result, _steps = outcome(page)
    # too early to check is not a failure: the page says so, not "verification failed"
    assert result == "pending" and "봉인되지 않았어요" in page.inner_text("#summary")
    assert "아직 확인할 수 없어요" in page.inner_text("#verdict")
    assert "실패" not in page.inner_text("#verdict")


def test_page_is_korean_by_default_and_english_on_request(rclient: redis.Redis):
    client = make_app(rclient).test_client()
    ko = client.get("/verify").get_data(as_text=True)
    en = client.get("/verify?lang=en&i=3&h=ab").get_data(as_text=True)
    assert '<html lang="ko">' in ko and "영수증" in ko
    assert '<html lang="en">' in en and "Check a ttabok ledger receipt" in en
    assert 'value="3"' in en and 'href="?lang=ko&amp;i=3&amp;h=ab"' in en


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_command_line_hint_names_this_server_so_it_runs_as_copied(rclient, lang):
    """The footer said 'python -m ledger verify --url 이 서버의 주소' (<this server>): copied,
    that fails. It now gives the instance's public address, the command alone in <code>."""
    client = make_app(rclient, public_base_url="https://ttabok.example").test_client()
    page = client.get(f"/verify?lang={lang}").get_data(as_text=True)
    footer = page.split("<footer>", 1)[1].split("</footer>", 1)[0]
    assert "<code>python -m ledger verify --url https://ttabok.example</code>" in footer, footer
    assert "이 서버의 주소" not in footer and "this server>" not in footer


def test_prefill_refuses_markup(rclient: redis.Redis):
    body = make_app(rclient).test_client().get('/verify?i="><script>').get_data(as_text=True)
    assert "<script>" not in body.split('id="texts"')[0]


class LyingLedger:
    """A ledger server that tampers with one kind of answer."""

    def __init__(self, log: Ledger, lie: str) -> None:
        self._log, self._lie = log, lie

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        path = self._log.inclusion_proof(index, size)
        if self._lie == "proof":
            path[0] = bytes([path[0][0] ^ 1]) + path[0][1:]
        return path

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        path = self._log.consistency_proof(old, new)
        if self._lie == "consistency":
            path[-1] = bytes([path[-1][0] ^ 1]) + path[-1][1:]
        return path

    def entries(self, start: int, end: int) -> list[bytes]:
        leaves = self._log.entries(start, end)
        if self._lie == "entry":
            leaves[0] = leaves[0].replace(b'"n":1', b'"n":7')
        return leaves


@pytest.mark.browser
@pytest.mark.parametrize(
    ("lie", "step"),
    [("proof", "step_inclusion"), ("consistency", "step_consistency"), ("entry", "step_leaf")],
)
def test_a_lying_server_is_caught(
    rclient: redis.Redis, tmp_path: Path, page: Any, lie: str, step: str
):
    log = Ledger.open(f"sqlite:///{tmp_path}/l.db", LedgerKey.generate("gg-ledger"), "t.example/l")
    receipts = []
    for block in range(2):
        for n in range(4):
            receipts.append(log.append("test.noted", "r:ab", None, {"n": n, "b": block}))
        log.seal()
    server = make_server("127.0.0.1", 0, make_app(rclient, LyingLedger(log, lie)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        receipt = receipts[5]  # {"n": 1, "b": 1}: second block, so consistency is checked
        page.goto(f"http://127.0.0.1:{server.server_port}/verify?i=5&h={receipt.leaf_hash.hex()}")
        result, steps = outcome(page)
        assert result == "bad" and steps[step] == "failed"
    finally:
        server.shutdown()
        thread.join()
        log.close()


@pytest.mark.browser
@pytest.mark.parametrize(
    ("query", "step", "said"),
    [
        # an index beyond the ledger, with and without the receipt's block
        ("i=99&h={h}", "step_leaf", "장부에 99번 항목이 없어요"),
        ("i=99&h={h}&b=3", "step_leaf", "장부에 99번 항목이 없어요"),
        ("lang=en&i=99&h={h}", "step_leaf", "The ledger has no entry 99"),
        # an entry that exists, but not in the block the receipt names
        ("i=4&h={h}&b=3", "step_inclusion", "4번 항목은 블록 3번(항목 8~14번)에 들어 있지 않아요"),
        ("lang=en&i=4&h={h}&b=3", "step_inclusion", "Entry 4 is not in block 3 (entries 8-14)"),
        # a block that was never sealed is not "waiting to be sealed"
        ("b=99", "step_checkpoint_sig", "블록 99번은 없어요"),
        ("lang=en&b=99", "step_checkpoint_sig", "There is no block 99"),
    ],
)
def test_a_receipt_that_names_what_does_not_exist_says_what(site, page, query, step, said):
    url, _log, receipts = site
    page.goto(f"{url}/verify?" + query.format(h=receipts[4].leaf_hash.hex()))
    result, steps = outcome(page)
    assert result == "bad", page.inner_text("#result")
    assert steps.get(step) == "failed", steps  # the step that failed, not the key's
    assert list(steps.values()).count("failed") == 1, steps
    summary = page.inner_text("#summary")
    assert said in summary, summary
    assert "proof does not verify" not in summary and "증명이 맞지 않아요" not in summary


@pytest.mark.parametrize(
    ("header", "lang"),
    [("en-US,en;q=0.9", "en"), ("ko-KR,ko;q=0.9,en;q=0.8", "ko"), ("fr", "ko"), ("", "ko")],
)
def test_without_lang_the_page_follows_accept_language(rclient: redis.Redis, header, lang):
    """An English reader who followed a link without `lang` got the Korean page."""
    client = make_app(rclient).test_client()
    response = client.get("/verify?i=3&h=ab", headers={"Accept-Language": header} if header else {})
    assert f'<html lang="{lang}">' in response.get_data(as_text=True)
    assert "Accept-Language" in response.headers.get("Vary", "")
    asked = client.get("/verify?lang=ko", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="ko">' in asked  # ?lang= wins


@pytest.mark.browser
def test_an_unsealed_entry_says_not_sealed_once(site, page):
    url, _log, receipts = site
    last = receipts[-1]
    page.goto(f"{url}/verify?i={last.index}&h={last.leaf_hash.hex()}")
    result, steps = outcome(page)
    assert result == "pending" and steps["step_checkpoint_sig"] == "skipped"
    assert page.inner_text("#result").count("봉인되지 않았어요") == 1, page.inner_text("#result")


@pytest.mark.browser
def test_bad_input_shows_no_empty_what_was_checked_heading(site, page):
    url, _log, receipts = site
    page.goto(f"{url}/verify?i={receipts[1].index}&h={receipts[1].leaf_hash.hex()}")
    outcome(page)
    assert page.is_visible("#checked") and page.is_visible("#steps")
    page.fill("#h", "not-a-hash")
    page.click("#check")
    page.wait_for_selector("#result[data-outcome=bad]")
    assert page.is_visible("#verdict") and not page.is_visible("#checked")
    assert page.inner_text("#summary") == ""  # nothing left from the previous check


@pytest.mark.browser
def test_the_page_loads_without_a_missing_favicon(site, page):
    url, _log, receipts = site
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    page.on("console", lambda m: missing.append(m.text) if m.type == "error" else None)
    page.goto(f"{url}/verify?i={receipts[0].index}&h={receipts[0].leaf_hash.hex()}")
    outcome(page)
    page.wait_for_timeout(300)
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon and page.request.get(url + icon).status == 200
    assert missing == []


@pytest.mark.browser
def test_on_a_phone_the_result_fits_the_screen(site, page):
    """The summary ends with the 64-digit root hash, one unbreakable word: it must wrap."""
    url, log, receipts = site
    page.set_viewport_size({"width": 390, "height": 844})
    receipt = receipts[9]
    page.goto(f"{url}/verify?i={receipt.index}&h={receipt.leaf_hash.hex()}")
    assert outcome(page)[0] == "ok"
    assert log.block_of(receipt.index).root.hex() in page.inner_text("#summary")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.query_selector("#summary").bounding_box()
    assert box["x"] + box["width"] <= 390


@pytest.mark.browser
@pytest.mark.parametrize("down", ["unreachable", "503"])
@pytest.mark.parametrize(
    ("lang", "said", "foreign"),
    [("", "지금은 확인할 수 없어요", "Failed"), ("&lang=en", "Cannot check right now", "확인")],
)
def test_a_ledger_server_that_cannot_be_reached_is_not_called_a_mismatch(
    site, page, down, lang, said, foreign
):
    """Down or overloaded is not 'the receipt and the ledger do not match', and it is said
    in the page's language, with no browser error text (Failed to fetch) or HTTP code."""
    url, _log, receipts = site
    if down == "unreachable":
        page.route("**/ledger/**", lambda route: route.abort())
    else:
        page.route("**/ledger/**", lambda route: route.fulfill(status=503, body="busy"))
    page.goto(f"{url}/verify?i={receipts[9].index}&h={receipts[9].leaf_hash.hex()}{lang}")
    result, steps = outcome(page)
    text = page.inner_text("#result")
    assert result == "unavailable", text
    assert said in page.inner_text("#verdict")
    assert "failed" not in steps.values()
    for word in ("일치하지", "do not match", "HTTP", "503", "Failed to fetch", foreign):
        assert word not in text
