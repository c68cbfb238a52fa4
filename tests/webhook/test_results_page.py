"""`/results/<round>.csv|.xlsx` opened in a browser: a wrong or unpublished round is said
politely, in the reader's language; programs asking for JSON keep the JSON error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from participation.service import ParticipationService
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.conftest import simple_rules
from tests.webhook.conftest import make_app

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def web(rclient: redis.Redis, tmp_path: Path) -> Iterator[FlaskClient]:
    log = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", Clock(START))
    svc = ParticipationService(log, pepper=PEPPER, clock=lambda: dt.datetime.now(dt.UTC))
    svc.create_tables()
    svc.grant_first_official(1)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    deadlines = {"submission_ends": now + 600, "endorsement_ends": now + 1200,
                 "review_ends": now + 3600}  # fmt: skip
    svc.create_round(1, simple_rules().from_dict({"title": "2017 따복", "deadlines": deadlines}),
                     round_id="gg2017")  # fmt: skip
    yield make_app(rclient, participation=svc).test_client()
    log.close()


@pytest.mark.parametrize(
    "path", ["/results/nosuchround.csv", "/results/gg2017.csv", "/results/gg2017.xlsx"],
    ids=["unknown round", "not published (csv)", "not published (xlsx)"],
)  # fmt: skip
@pytest.mark.parametrize(
    ("query", "language", "lang", "said", "foreign"),
    [
        ("", "ko-KR,ko;q=0.9", "ko", "발표된 결과가 없어요", "results"),
        ("", "en-US,en;q=0.9", "en", "No published results", "결과"),
        ("?lang=en", "ko-KR", "en", "No published results", "결과"),
    ],
)
def test_a_browser_gets_a_polite_page_in_its_language(
    web, path, query, language, lang, said, foreign
):
    got = web.get(path + query, headers={"Accept": BROWSER, "Accept-Language": language})
    assert got.status_code == 404
    assert got.mimetype == "text/html"
    page = got.get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert said in page
    assert foreign not in page.split("<body>", 1)[1].lower()
    assert "not_found" not in page and "{" not in page.split("<body>", 1)[1]
    assert 'rel="icon"' in page


def test_programs_keep_the_json_error(web):
    for accept in ("application/json", "*/*"):
        got = web.get("/results/nosuchround.csv", headers={"Accept": accept})
        assert got.status_code == 404
        assert got.get_json()["code"] == "not_found"
