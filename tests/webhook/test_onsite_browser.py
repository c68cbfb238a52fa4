"""The projector page in Chromium: the QR code changes with the code, without a reload."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

from participation.domain.rules import ONSITE_STEP_S
from participation.service import ParticipationService
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.conftest import simple_rules
from tests.webhook.conftest import make_app
from tests.webhook.test_verify_page import CHROMIUM_ARGS
from webhook.onsite import onsite_url
from webhook.onsite import view_key

KEY = view_key(b"onsite-browser-pepper-01")
BOT = "ttabok_sandbox_bot"


class Skewed:
    """Real time plus an offset the test moves (the service's clock)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@pytest.fixture
def site(rclient: redis.Redis, tmp_path: Path) -> Iterator[tuple[str, ParticipationService, Any]]:
    clock = Skewed()
    log = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", Clock(START))
    svc = ParticipationService(log, pepper=PEPPER, clock=clock)
    svc.create_tables()
    svc.grant_first_official(1)
    now = int(clock().timestamp())
    deadlines = {"submission_ends": now + 600, "endorsement_ends": now + 1200,
                 "review_ends": now + 7200}  # fmt: skip
    svc.create_round(1, simple_rules().from_dict({"title": "현장 심사", "deadlines": deadlines}),
                     round_id="gg2017")  # fmt: skip
    svc.open_round(1, "gg2017")
    svc.advance_round(1, "gg2017")
    svc.advance_round(1, "gg2017")
    server = make_server("127.0.0.1", 0, make_app(rclient, participation=svc, onsite_key=KEY),
                         threaded=True)  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", svc, clock
    server.shutdown()
    log.close()


def wait_until(page: Any, done: Any, timeout_s: float = 9.0) -> None:
    """Poll `done()` (the page's CSP forbids Playwright's string-evaluated predicates)."""
    for _ in range(int(timeout_s * 10)):
        if done():
            return
        page.wait_for_timeout(100)
    raise AssertionError("the page did not update in time")


@pytest.mark.browser
@pytest.mark.slow  # two polls of the page, ~10 s
def test_the_qr_code_follows_the_rotating_code_without_a_reload(site):
    from playwright.sync_api import sync_playwright

    base, svc, clock = site
    session = svc.open_onsite_session(1, "gg2017")
    # Start 1 s into a 30 s window, so loading the page cannot straddle a rotation (CI once
    # read the page's code in one window and the service's in the next).
    into = clock().timestamp() % ONSITE_STEP_S
    clock.offset += dt.timedelta(seconds=ONSITE_STEP_S - into + 1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))  # script errors
        page.goto(onsite_url(base, KEY, session, BOT))
        page.evaluate("window.stillHere = true")
        first = page.get_attribute("#qr", "data-code")
        assert first == svc.onsite_code(session)
        clock.offset += dt.timedelta(seconds=ONSITE_STEP_S)  # the service moves to the next window
        wait_until(page, lambda: page.get_attribute("#qr", "data-code") != first)
        assert page.get_attribute("#qr", "data-code") == svc.onsite_code(session)
        assert page.evaluate("window.stillHere") is True  # changed in place, no reload
        svc.register(100, region="suwon", consent_version="2017-02")
        svc.redeem_code(100, svc.onsite_code(session))
        wait_until(page, lambda: "1" in (page.text_content("#checked") or ""))
        countdown = page.text_content("#countdown") or ""
        assert "초 뒤에 새 코드로 바뀌어요" in countdown
        assert errors == []
        browser.close()


@pytest.mark.browser
def test_the_projector_page_and_its_404_load_without_a_missing_favicon(site):
    """Chromium asks for /favicon.ico when a page names no icon: a 404 in the console."""
    from playwright.sync_api import sync_playwright

    base, svc, _clock = site
    session = svc.open_onsite_session(1, "gg2017")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for url in (onsite_url(base, KEY, session, BOT), f"{base}/onsite/{session}?bot={BOT}&k=x"):
            page = browser.new_page()
            failed: list[str] = []
            page.on("response", lambda r, f=failed: f.append(r.url) if r.status >= 400 else None)
            page.on("console", lambda m, f=failed: f.append(m.text) if m.type == "error" else None)
            page.goto(url)
            page.wait_for_timeout(500)
            icon = page.get_attribute("link[rel=icon]", "href")
            assert icon and page.request.get(base + icon).status == 200
            # the 404 page answers 404 itself; nothing else may fail
            assert [u for u in failed if "/onsite/" not in u and "404" not in u] == []
            assert not any("favicon" in u for u in failed)
            page.close()
        browser.close()


def _luminance(css: str) -> float:
    """Relative luminance (WCAG 2) of a computed `rgb(r, g, b)` colour."""
    parts = [int(x) for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    lin = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in parts]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


@pytest.mark.browser
def test_every_text_on_the_projector_is_large_and_contrasted_enough_for_the_back_row(site):
    """Projected at 1920x1080 and read from across a hall: every text at least 20 px and
    4.5:1 against its background (a projector washes colours out)."""
    from playwright.sync_api import sync_playwright

    base, svc, _clock = site
    session = svc.open_onsite_session(1, "gg2017")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(onsite_url(base, KEY, session, BOT))
        found = page.evaluate(
            """() => Array.from(document.querySelectorAll("h1, p, span")).filter(
                 (el) => el.offsetParent !== null && el.textContent.trim()).map((el) => {
                 const style = getComputedStyle(el);
                 let back = el, bg = "rgba(0, 0, 0, 0)";
                 while (back && (bg === "rgba(0, 0, 0, 0)" || bg === "transparent")) {
                   bg = getComputedStyle(back).backgroundColor; back = back.parentElement;
                 }
                 return [el.className || el.tagName, parseFloat(style.fontSize), style.color, bg];
               })"""
        )
        browser.close()
    assert len(found) >= 6
    for name, size, color, background in found:
        fg, bg = sorted((_luminance(color), _luminance(background)))
        assert size >= 20, (name, size)
        assert (bg + 0.05) / (fg + 0.05) >= 4.5, (name, color, background)


@pytest.mark.browser
@pytest.mark.slow  # one failed poll and one good one, ~10 s
def test_while_the_server_is_away_no_countdown_promises_a_new_code(site):
    """Offline, the dimmed code stays with the notice, but no '8초 뒤에 새 코드로 바뀌어요'
    counting down to a code that cannot come; back online, the countdown returns."""
    from playwright.sync_api import sync_playwright

    base, svc, _clock = site
    session = svc.open_onsite_session(1, "gg2017")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(onsite_url(base, KEY, session, BOT))
        assert page.is_visible("#countdown")
        page.route("**/code?**", lambda route: route.abort())
        wait_until(page, lambda: page.is_visible("#status"))
        assert "stale" in (page.get_attribute("#qr", "class") or "")
        assert not page.is_visible("#countdown")
        page.unroute("**/code?**")
        wait_until(page, lambda: not page.is_visible("#status"))
        assert page.is_visible("#countdown")
        assert "초 뒤에 새 코드로 바뀌어요" in (page.text_content("#countdown") or "")
        browser.close()


@pytest.mark.browser
def test_the_check_in_count_is_written_as_the_page_writes_numbers(site):
    """The count is 1,234,567 (as the server writes it) whatever the projector PC's locale."""
    from playwright.sync_api import sync_playwright

    base, svc, _clock = site
    session = svc.open_onsite_session(1, "gg2017")

    def many(route: Any) -> None:
        state = route.fetch().json()
        route.fulfill(json={**state, "checked_in": 1234567}, headers={"Cache-Control": "no-store"})

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for locale, lang in (("de-DE", ""), ("fr-FR", "&lang=en")):
            page = browser.new_page(locale=locale)
            page.route("**/code?**", many)
            page.goto(onsite_url(base, KEY, session, BOT) + lang)
            wait_until(page, lambda pg=page: "567" in (pg.text_content("#checked") or ""))
            assert "1,234,567" in (page.text_content("#checked") or ""), locale
            page.close()
        browser.close()


@pytest.mark.browser
@pytest.mark.slow  # one poll, ~5 s
def test_a_session_closed_while_projected_says_so_instead_of_reconnecting(site):
    """The official closes the session (or the review ends): the screen must not keep a code
    up with '다시 연결하는 중이에요' as if the network were down."""
    from playwright.sync_api import sync_playwright

    base, svc, _clock = site
    session = svc.open_onsite_session(1, "gg2017")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(onsite_url(base, KEY, session, BOT))
        svc.close_onsite_session(1, session)
        wait_until(page, lambda: page.is_visible("#status"))
        said = page.text_content("#status") or ""
        assert "열려 있는 현장 세션이 아니에요" in said
        assert "연결" not in said
        assert not page.is_visible("#qr") and not page.is_visible("#countdown")
        assert not page.is_visible(".scan") and not page.is_visible("footer")  # no 'scan it'
        browser.close()
