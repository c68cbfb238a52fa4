"""The on-site projector page: signed links only, rotating codes, 404 for anything else."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlparse

import pytest
import redis
from flask.testing import FlaskClient

from participation.domain import rules
from participation.service import ParticipationService
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.conftest import simple_rules
from tests.webhook.conftest import make_app
from webhook.onsite import onsite_url
from webhook.onsite import view_key
from webhook.onsite import view_token

OFFICIAL, RESIDENT = 1, 100
BOT = "ttabok_sandbox_bot"
KEY = view_key(b"onsite-test-pepper-0123")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ParticipationService]:
    clock = Clock(START)
    log = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", clock)
    # real time, shifted to 1 s into a 30 s window: a test's reads cannot straddle a rotation
    into = dt.datetime.now(dt.UTC).timestamp() % rules.ONSITE_STEP_S
    shift = dt.timedelta(seconds=rules.ONSITE_STEP_S - into + 1)
    service = ParticipationService(
        log, pepper=PEPPER, clock=lambda: dt.datetime.now(dt.UTC) + shift
    )
    service.create_tables()
    service.grant_first_official(OFFICIAL)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    deadlines = {"submission_ends": now + 600, "endorsement_ends": now + 1200,
                 "review_ends": now + 3600}  # fmt: skip
    round_rules = simple_rules().from_dict({"title": "2017 따복공동체", "deadlines": deadlines})
    service.create_round(OFFICIAL, round_rules, round_id="gg2017")
    service.open_round(OFFICIAL, "gg2017")
    service.advance_round(OFFICIAL, "gg2017")
    service.advance_round(OFFICIAL, "gg2017")  # -> review, early, by the official
    yield service
    log.close()


@pytest.fixture
def web(rclient: redis.Redis, svc: ParticipationService) -> FlaskClient:
    return make_app(rclient, participation=svc, onsite_key=KEY).test_client()


def path_of(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


def test_the_signed_page_shows_a_qr_of_the_current_deep_link(web, svc):
    session = svc.open_onsite_session(OFFICIAL, "gg2017")
    page = web.get(path_of(onsite_url("https://x.example", KEY, session, BOT)))
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "2017 따복공동체" in body and "QR" in body
    assert "data:image/svg+xml" in body
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    state = web.get(re.search(r'data-code-url="([^"]+)"', body)[1].replace("&amp;", "&")).json
    assert state["link"] == f"https://t.me/{BOT}?start={state['code']}"
    assert state["code"] == svc.onsite_code(session)
    assert 0 < state["expires_in"] <= rules.ONSITE_STEP_S
    assert state["checked_in"] == 0


def test_the_code_endpoint_counts_check_ins_and_the_code_works(web, svc):
    session = svc.open_onsite_session(OFFICIAL, "gg2017")
    url = onsite_url("https://x.example", KEY, session, BOT)
    parsed = urlparse(url)
    state = web.get(f"{parsed.path}/code?{parsed.query}").json
    svc.register(RESIDENT, region="suwon", consent_version="2017-02")
    svc.redeem_code(RESIDENT, state["code"])
    again = web.get(f"{parsed.path}/code?{parsed.query}").json
    assert again["checked_in"] == 1


def bad_links(session: str) -> list[tuple[str, str]]:
    good = view_token(KEY, session, BOT)
    return [
        ("no token", f"/onsite/{session}?bot={BOT}"),
        ("wrong token", f"/onsite/{session}?bot={BOT}&k={'A' * 22}"),
        ("token of another bot", f"/onsite/{session}?bot=evil_bot&k={good}"),
        ("token of another session", f"/onsite/{'0' * 8}?bot={BOT}&k={good}"),
        ("truncated token", f"/onsite/{session}?bot={BOT}&k={good[:-1]}"),
    ]


@pytest.mark.parametrize("case", range(5))
def test_anything_but_the_signed_link_of_an_open_session_is_the_same_404(web, svc, case):
    session = svc.open_onsite_session(OFFICIAL, "gg2017")
    name, link = bad_links(session)[case]
    page = web.get(link)
    assert page.status_code == 404, name
    assert "열려 있는 현장 세션이 아니에요" in page.get_data(as_text=True)
    path, _, query = link.partition("?")
    assert web.get(f"{path}/code?{query}").status_code == 404


def test_a_closed_session_is_not_shown(web, svc):
    session = svc.open_onsite_session(OFFICIAL, "gg2017")
    link = path_of(onsite_url("https://x.example", KEY, session, BOT))
    assert web.get(link).status_code == 200
    svc.close_onsite_session(OFFICIAL, session)
    assert web.get(link).status_code == 404


def test_english_page_keeps_korean_out_and_links_are_per_bot(web, svc):
    session = svc.open_onsite_session(OFFICIAL, "gg2017")
    link = path_of(onsite_url("https://x.example", KEY, session, BOT))
    body = web.get(link + "&lang=en").get_data(as_text=True)
    assert "Scan the QR code" in body
    assert parse_qs(urlparse(link).query)["bot"] == [BOT]


def test_without_a_service_the_page_is_not_found(rclient: Any):
    web = make_app(rclient).test_client()
    assert web.get(f"/onsite/abcd1234?bot={BOT}&k={'A' * 22}").status_code == 404


def test_after_the_review_the_session_is_no_longer_projected(web, svc):
    """Check-ins are refused once the round has moved on: no QR code inviting them."""
    session = svc.open_onsite_session(OFFICIAL, "gg2017")
    url = path_of(onsite_url("http://x", KEY, session, BOT))
    assert web.get(url).status_code == 200
    svc.advance_round(OFFICIAL, "gg2017")  # -> results
    assert web.get(url).status_code == 404
    code_url = url.replace("?", "/code?")
    assert web.get(code_url).status_code == 404
    # the 404 page cannot say which case it is (it tells nothing about sessions), so its hint
    # must be true for a round past review too: no promise that the bot can reopen it
    for lang, said in (("ko", "심사 단계"), ("en", "still in review")):
        hint = web.get(url + f"&lang={lang}").get_data(as_text=True)
        assert said in hint, hint


def test_the_english_lines_of_the_korean_pages_are_marked_english(web, svc):
    """A screen reader reads each line in its own language: the English lines under the
    Korean ones carry lang="en" (the page itself is lang="ko")."""
    session = svc.open_onsite_session(OFFICIAL, "gg2017")
    page = web.get(path_of(onsite_url("https://x.example", KEY, session, BOT))).get_data(True)
    missing = web.get(f"/onsite/{session}?bot={BOT}&k=wrong").get_data(as_text=True)
    for body in (page, missing):
        assert '<html lang="ko">' in body
        tags = re.findall(r'<[a-z]+ class="en"[^>]*>', body)
        assert tags and all('lang="en"' in tag for tag in tags), tags


def test_the_header_names_the_session_by_its_number_as_the_officials_screens_do(web, svc):
    """The bot names sessions '세션 2 · ...' (df5b094); the projector's header says the same
    number next to the round's title, so the official can tell which session is on the wall."""
    svc.open_onsite_session(OFFICIAL, "gg2017")
    second = svc.open_onsite_session(OFFICIAL, "gg2017")
    link = path_of(onsite_url("https://x.example", KEY, second, BOT))
    for lang, said in (("ko", "세션 2"), ("en", "Session 2")):
        body = web.get(link + f"&lang={lang}").get_data(as_text=True)
        header = re.search(r"<header>(.*?)</header>", body, re.S)[1]
        assert "2017 따복공동체" in header and said in header, header
        assert "세션 1" not in header and "Session 1" not in header
