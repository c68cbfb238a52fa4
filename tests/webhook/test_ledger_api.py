"""The public ledger API: shapes, proofs that verify, caching, paging, errors, rate limit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from ledger import Ledger
from ledger import LedgerKey
from ledger.checkpoint import open_checkpoint
from ledger.hashing import hash_children
from tests.webhook.conftest import make_app

ORIGIN = "test.example/ledger"


KEY = LedgerKey.generate("gg-test")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    log = Ledger.open(f"sqlite:///{tmp_path}/ledger.db", KEY, ORIGIN)
    for block in range(3):
        for n in range(5 + block):
            log.append("test.noted", "r:abc", "round-1", {"n": n, "block": block})
        log.seal()
    log.append("test.noted", "r:abc", None, {"n": 99})  # one unsealed entry
    yield log
    log.close()


@pytest.fixture
def api(rclient: redis.Redis, ledger: Ledger) -> FlaskClient:
    return make_app(rclient, ledger).test_client()


def test_checkpoint_is_the_newest_signed_note(api: FlaskClient, ledger: Ledger):
    response = api.get("/ledger/checkpoint")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert api.get("/ledger/vkey").get_data(as_text=True) == KEY.vkey + "\n"
    opened = open_checkpoint(response.get_data(as_text=True), KEY.verifier)
    assert opened.size == 18 == ledger.size() - 1


def test_blocks_are_paged_oldest_first(api: FlaskClient):
    first = api.get("/ledger/blocks?limit=2").get_json()
    assert [b["number"] for b in first["blocks"]] == [1, 2] and first["next"] == 3
    rest = api.get(f"/ledger/blocks?start={first['next']}").get_json()
    assert [(b["start"], b["end"]) for b in rest["blocks"]] == [(11, 18)] and rest["next"] is None
    assert set(first["blocks"][0]) == {"number", "start", "end", "root", "checkpoint", "sealed_at"}


def test_block_of_an_entry(api: FlaskClient):
    assert api.get("/ledger/blocks?index=7").get_json()["blocks"][0]["number"] == 2
    assert api.get("/ledger/blocks?index=18").get_json()["blocks"] == []  # not sealed yet


def test_entries_and_inclusion_proof_verify_against_the_block_root(api: FlaskClient):
    block = api.get("/ledger/blocks?start=2&limit=1").get_json()["blocks"][0]
    entries = api.get("/ledger/entries?start=0&end=18").get_json()
    assert entries["start"] == 0 and len(entries["entries"]) == 18
    for index in range(block["end"]):
        proof = api.get(f"/ledger/proof/inclusion?index={index}&size={block['end']}").get_json()
        leaf = hashlib.sha256(b"\x00" + entries["entries"][index].encode()).digest()
        assert proof["leaf_hash"] == leaf.hex()
        assert _root_from_path(index, block["end"], leaf, proof["path"]) == block["root"]


def _root_from_path(index: int, size: int, leaf: bytes, path: list[str]) -> str:
    fn, sn, acc = index, size - 1, leaf  # RFC 9162 §2.1.3.2
    for sibling in (bytes.fromhex(p) for p in path):
        if fn & 1 or fn == sn:
            acc = hash_children(sibling, acc)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            acc = hash_children(acc, sibling)
        fn, sn = fn >> 1, sn >> 1
    return acc.hex()


def test_consistency_proof_has_the_right_shape(api: FlaskClient, ledger: Ledger):
    proof = api.get("/ledger/proof/consistency?from=5&to=11").get_json()
    assert proof["from"] == 5 and proof["to"] == 11
    assert [bytes.fromhex(p) for p in proof["path"]] == ledger.consistency_proof(5, 11)


def test_sealed_ranges_are_immutable_and_the_tip_is_short_lived(api: FlaskClient):
    sealed = api.get("/ledger/proof/inclusion?index=1&size=5")
    assert "immutable" in sealed.headers["Cache-Control"]
    tip = api.get("/ledger/entries?start=17&end=19")
    assert tip.headers["Cache-Control"] == "public, max-age=5"
    again = api.get(
        "/ledger/proof/inclusion?index=1&size=5", headers={"If-None-Match": sealed.headers["ETag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/ledger/entries?start=0", 400, "missing_parameter"),
        ("/ledger/entries?start=-1&end=2", 400, "bad_parameter"),
        ("/ledger/entries?start=x&end=2", 400, "bad_parameter"),
        ("/ledger/entries?start=3&end=3", 400, "bad_range"),
        ("/ledger/entries?start=0&end=500", 404, "beyond_size"),
        ("/ledger/proof/inclusion?index=5&size=5", 400, "bad_range"),
        ("/ledger/proof/inclusion?index=0&size=0", 400, "bad_parameter"),
        ("/ledger/proof/inclusion?index=0&size=999", 404, "beyond_size"),
        ("/ledger/proof/consistency?from=9&to=5", 400, "bad_range"),
        ("/ledger/proof/consistency?from=1&to=999", 404, "beyond_size"),
        ("/ledger/nothing", 404, "not_found"),
    ],
)
def test_errors_are_json(api: FlaskClient, path: str, status: int, code: str):
    response = api.get(path)
    assert response.status_code == status
    assert response.get_json()["code"] == code and response.get_json()["message"]


def test_empty_ledger_has_no_checkpoint(rclient: redis.Redis, tmp_path: Path):
    log = Ledger.open(f"sqlite:///{tmp_path}/e.db", LedgerKey.generate("gg-test"), ORIGIN)
    try:
        response = make_app(rclient, log).test_client().get("/ledger/checkpoint")
        assert response.status_code == 404 and response.get_json()["code"] == "no_checkpoint"
    finally:
        log.close()


def test_clients_are_rate_limited_per_ip(rclient: redis.Redis, ledger: Ledger):
    client = make_app(rclient, ledger, api_rate_per_minute=5).test_client()
    statuses = [client.get("/ledger/vkey").status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    other = client.get("/ledger/vkey", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200


def test_health_readiness_and_metrics(rclient: redis.Redis, ledger: Ledger):
    def broken() -> None:
        raise ConnectionError("down")

    client = make_app(rclient, ledger, checks={"redis": rclient.ping, "db": broken}).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["failed"] == {"db": "ConnectionError"}
    text = client.get("/metrics").get_data(as_text=True)
    for name in ("ttabok_ledger_size 19.0", "ttabok_blocks 3.0", "ttabok_queue_backlog 0.0",
                 "ttabok_block_age_seconds", "ttabok_updates_received_total 0.0"):  # fmt: skip
        assert name in text


def test_ledger_verify_url_audits_the_served_api(rclient: redis.Redis, ledger: Ledger):
    import threading

    from werkzeug.serving import make_server

    from ledger.remote import verify_url

    server = make_server("127.0.0.1", 0, make_app(rclient, ledger), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        report = verify_url(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join()
    assert report.size == 18
