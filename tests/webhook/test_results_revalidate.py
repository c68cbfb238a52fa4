"""The published results on the web (page, CSV, XLSX, openings.json) are revalidated on every
use: a proposal hidden or erased after the publication must not stay public in a proxy's or a
browser's cache. A strong ETag and 304 keep a poller's repeated checks cheap."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from openpyxl import load_workbook

from i18n.catalog import Catalog
from participation.service import ParticipationService
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.test_openings import OFFICIAL
from tests.participation.test_openings import R
from tests.participation.test_openings import play
from tests.webhook.conftest import make_app

PATHS = (f"/results/{R}/openings.json", f"/results/{R}", f"/results/{R}.csv",
         f"/results/{R}.xlsx", f"/results/{R}?lang=en")  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("results-revalidate")
    clock = Clock(START)
    log = open_ledger(f"sqlite:///{tmp / 'ledger.db'}", clock)
    svc = ParticipationService(log, pepper=PEPPER, clock=clock)
    svc.create_tables()
    ids = play(svc, clock)
    log.seal()
    yield {"svc": svc, "ledger": log, "ids": ids}
    log.close()


@pytest.fixture
def web(world: dict[str, Any]) -> Any:
    unused = redis.Redis.from_url("redis://127.0.0.1:1")  # the routes never touch Redis
    return make_app(unused, world["ledger"], participation=world["svc"]).test_client()


@pytest.mark.parametrize("path", PATHS)
def test_published_results_are_revalidated_with_a_strong_etag(web, path):
    got = web.get(path)
    assert got.status_code == 200
    directives = {d.strip() for d in got.headers["Cache-Control"].split(",")}
    assert "no-cache" in directives and not any(d.startswith("max-age") for d in directives)
    etag = got.headers["ETag"]
    if path.endswith(".xlsx"):  # openpyxl stamps the time: equal in what it shows, not bytes
        assert etag.startswith('W/"')
    else:
        assert etag.startswith('"')  # strong: the bytes are equal
    again = web.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert "no-cache" in again.headers["Cache-Control"]
    other = web.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.headers["ETag"] == etag


def test_a_hiding_changes_the_etag_so_a_revalidating_cache_drops_the_title(world, web):
    """A cache that stored the openings (and the files) before an official hid a proposal
    asks again with its ETag; it gets the new body, without the title, not a 304."""
    stored = {path: web.get(path) for path in PATHS}
    title = world["svc"].proposal(world["ids"]["edited"]).title
    assert title in stored[f"/results/{R}/openings.json"].get_data(as_text=True)
    world["svc"].hide_proposal(OFFICIAL, world["ids"]["edited"], "personal_info")
    for path, before in stored.items():
        got = web.get(path, headers={"If-None-Match": before.headers["ETag"]})
        assert got.status_code == 200, path
        assert got.headers["ETag"] != before.headers["ETag"]
        if not path.endswith(".xlsx"):
            assert title not in got.get_data().decode("utf-8-sig")


def test_the_workbooks_etag_changes_with_the_catalogs_texts(world):
    """The XLSX's ETag is a hash of what it shows, checked before the workbook is built; it
    left out the catalog's texts (the sheet names and headings), so after a deployment that
    changed them a revalidating cache was told 304 and kept the workbook with the old ones."""
    unused = redis.Redis.from_url("redis://127.0.0.1:1")
    catalog = Catalog.load()
    before = make_app(unused, world["ledger"], participation=world["svc"], catalog=catalog)
    path = f"/results/{R}.xlsx"
    stored = before.test_client().get(path)
    again = before.test_client().get(path, headers={"If-None-Match": stored.headers["ETag"]})
    assert again.status_code == 304
    messages = {locale: dict(table) for locale, table in catalog.messages.items()}
    messages["ko"]["report.sheet_name.results"] = "결과표"
    deployed = make_app(unused, world["ledger"], participation=world["svc"],
                        catalog=Catalog(messages))  # fmt: skip
    got = deployed.test_client().get(path, headers={"If-None-Match": stored.headers["ETag"]})
    assert got.status_code == 200 and got.headers["ETag"] != stored.headers["ETag"]
    assert load_workbook(io.BytesIO(got.get_data())).sheetnames[0] == "결과표"
