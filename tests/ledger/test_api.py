"""The public API bodies, served by a tiny HTTP server, audited with `verify --url`."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlparse

import pytest

from ledger import Ledger
from ledger import LedgerKey
from ledger import api
from ledger import remote
from ledger.cli import main
from ledger.errors import LedgerError
from ledger.errors import OutOfRange
from ledger.hashing import hash_leaf
from ledger.hashing import parse_hash
from ledger.proof import verify_consistency
from ledger.proof import verify_inclusion
from ledger.remote import verify_url
from ledger.verify import VerificationFailed
from ledger.verify import verify_export


def serve(
    log: Ledger,
    *,
    lie_about: int | None = None,
    throttle: Callable[[int], str | None] | None = None,
    mangle: Callable[[str, Any], Any] | None = None,
) -> ThreadingHTTPServer:
    """Serve the /ledger/* routes from `api`; `lie_about` swaps one served entry's bytes;
    `throttle(n)` returning a Retry-After value makes request number n a 429 with it;
    `mangle(path, body)` returns the body to serve instead (a misbehaving server)."""
    requests = itertools.count()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            retry_after = throttle(next(requests)) if throttle is not None else None
            if retry_after is not None:
                self.send(429, "{}", retry_after=retry_after)
                return
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                body: object = route(url.path, q)
                if mangle is not None:
                    body = mangle(url.path, body)
            except LedgerError as err:
                self.send(400, json.dumps(api.error_body(err)))
                return
            self.send(200, body if isinstance(body, str) else json.dumps(body))

        def send(self, status: int, text: str, retry_after: str | None = None) -> None:
            data = text.encode()
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    def route(path: str, q: dict[str, str]) -> object:
        if path == "/ledger/checkpoint":
            return api.checkpoint_text(log) or ""
        if path == "/ledger/vkey":
            return api.vkey_text(log)
        if path == "/ledger/entries":
            start = api.int_arg(q.get("start"), "start")
            body = api.entries_body(log, start, min(api.int_arg(q.get("end"), "end"), start + 3))
            if lie_about is not None and start <= lie_about < start + 3:
                body["entries"][lie_about - start] = body["entries"][0]  # type: ignore[index]
            return body
        if path == "/ledger/proof/inclusion":
            return api.inclusion_body(log, api.int_arg(q.get("index"), "index"),
                                      api.int_arg(q.get("size"), "size"))  # fmt: skip
        if path == "/ledger/proof/consistency":
            return api.consistency_body(log, api.int_arg(q.get("from"), "from"),
                                        api.int_arg(q.get("to"), "to"))  # fmt: skip
        if path == "/ledger/blocks":
            return api.blocks_body(log, api.int_arg(q.get("start"), "start", 0),
                                   api.int_arg(q.get("limit"), "limit", 100))  # fmt: skip
        raise OutOfRange(f"no route {path}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def filled(log: Ledger) -> Ledger:
    for i in range(11):
        log.append("proposal.endorsed", "r:ab", "r1", {"i": i})
        if i in (3, 7):
            log.seal()
    log.seal()
    return log


@pytest.fixture
def base(filled: Ledger) -> Iterator[str]:
    server = serve(filled)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_bodies_have_the_agreed_shapes(filled: Ledger) -> None:
    inclusion = api.inclusion_body(filled, 5, 8)
    assert set(inclusion) == {"index", "size", "leaf_hash", "path"}
    path = [parse_hash(str(h)) for h in inclusion["path"]]  # type: ignore[union-attr]
    verify_inclusion(parse_hash(str(inclusion["leaf_hash"])), 5, 8, path, filled.root(8))
    consistency = api.consistency_body(filled, 4, 11)
    assert (consistency["from"], consistency["to"]) == (4, 11)
    proof = [parse_hash(str(h)) for h in consistency["path"]]  # type: ignore[union-attr]
    verify_consistency(4, 11, proof, filled.root(4), filled.root(11))
    blocks = api.blocks_body(filled)["blocks"]
    assert [(b["number"], b["start"], b["end"]) for b in blocks] == [
        (1, 0, 4),
        (2, 4, 8),
        (3, 8, 11),
    ]  # type: ignore[index]
    assert str(blocks[0]["sealed_at"]).endswith("Z")  # type: ignore[index]
    page = api.entries_body(filled, 2, 4)
    assert page["start"] == 2 and [hash_leaf(str(e).encode()) for e in page["entries"]] == [  # type: ignore[union-attr]
        hash_leaf(leaf) for leaf in filled.entries(2, 4)
    ]
    receipt = api.receipt_body(filled, 5)
    assert receipt["block"] == 2 and receipt["size"] == 8
    assert api.vkey_text(filled).count("\n") == 1


@pytest.mark.parametrize("value", ["-1", "1.0", "x", "١٢"])
def test_int_arg_refuses_what_is_not_a_plain_number(value: str) -> None:
    with pytest.raises(OutOfRange):
        api.int_arg(value, "start")


def test_verify_url_audits_a_running_instance(
    base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = verify_url(base, processes=1)
    assert report.size == 11 and report.checkpoint_sizes == (4, 8, 11)
    assert main(["verify", "--url", base, "--locale", "en"]) == 0
    assert "OK: 11 entries" in capsys.readouterr().out


def test_verify_url_catches_a_server_that_serves_a_changed_entry(filled: Ledger) -> None:
    server = serve(filled, lie_about=4)
    try:
        with pytest.raises(VerificationFailed) as caught:
            verify_url(f"http://127.0.0.1:{server.server_address[1]}", processes=1)
    finally:
        server.shutdown()
        server.server_close()
    assert caught.value.index == 4


def test_verify_url_waits_as_a_rate_limited_server_asks(
    filled: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(remote, "_sleep", waits.append)
    # every third request is refused with the API's own answer (429, Retry-After: 1)
    server = serve(filled, throttle=lambda n: "1" if n % 3 == 1 else None)
    try:
        report = verify_url(f"http://127.0.0.1:{server.server_address[1]}", processes=1)
    finally:
        server.shutdown()
        server.server_close()
    assert report.size == 11
    assert waits and set(waits) == {1.0}


def test_verify_url_gives_up_on_a_server_that_never_lets_it_in(
    filled: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(remote, "_sleep", waits.append)
    server = serve(filled, throttle=lambda n: "3600")
    try:
        with pytest.raises(VerificationFailed, match="HTTP 429"):
            verify_url(f"http://127.0.0.1:{server.server_address[1]}", processes=1)
    finally:
        server.shutdown()
        server.server_close()
    assert waits == [remote.MAX_WAIT_S] * remote.MAX_RETRIES  # capped, then it says so


@pytest.mark.parametrize(
    ("header", "attempt", "expected"),
    [("2", 0, 2.0), ("0", 3, 0.0), (None, 0, 1.0), (None, 3, 8.0),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 1, 2.0), ("-5", 0, 1.0), ("nan", 2, 4.0), ("9999", 0, 60.0)],
)  # fmt: skip
def test_retry_delay(header: str | None, attempt: int, expected: float) -> None:
    assert remote.retry_delay(header, attempt) == expected


def test_verify_url_checks_the_older_checkpoints_you_hold(
    filled: Ledger, base: str, key: LedgerKey, tmp_path: Path
) -> None:
    held = tmp_path / "held.txt"  # e.g. copied from the public channel
    first = filled.blocks()[0].checkpoint_text
    held.write_text(first, encoding="utf-8")
    assert main(["verify", "--url", base, "--checkpoint", str(held)]) == 0
    # copied from a Telegram post: no final newline (Telegram trims it), maybe indented
    held.write_text("  " + first.strip() + "\n\n", encoding="utf-8")
    assert main(["verify", "--url", base, "--checkpoint", str(held)]) == 0
    held.write_text(first.strip(), encoding="utf-8")
    assert main(["verify", "--url", base, "--checkpoint", str(held)]) == 0
    # a checkpoint for another history signed by the same key: the served log is not its
    # extension, and --url must say so as a directory verify does (it was silently ignored)
    other = Ledger.open(f"sqlite:///{tmp_path / 'fork.db'}", key, filled.origin)
    for i in range(5):
        other.append("proposal.endorsed", "r:cd", "r1", {"fork": i})
    forked = other.seal()
    other.close()
    assert forked is not None
    held.write_text(forked.text, encoding="utf-8")
    assert main(["verify", "--url", base, "--checkpoint", str(held)]) == 1


def test_verify_url_keeps_the_verified_export_for_a_tally(
    base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    assert main(["verify", "--url", base, "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["checkpoint", "checkpoints", "entries.jsonl", "vkey"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["1.txt", "2.txt", "3.txt"]
    assert verify_export(out).size == 11  # what python -m participation tally reads
    assert str(out) in capsys.readouterr().out


def test_verify_url_into_an_older_export_replaces_its_checkpoints(
    base: str, tmp_path: Path
) -> None:
    """An older export in the folder (here of another server: a checkpoint 9 this log never
    sealed) kept its checkpoints/9.txt beside the new ones, and the folder no longer
    verified."""
    out = tmp_path / "export"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "9.txt").write_text("another server's checkpoint\n", "utf-8")
    (out / "notes.md").write_text("mine", "utf-8")
    assert main(["verify", "--url", base, "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["1.txt", "2.txt", "3.txt"]
    assert verify_export(out).size == 11
    assert (out / "notes.md").read_text("utf-8") == "mine"  # not ours: left alone


def _block(field: str, value: Any) -> Callable[[str, Any], Any]:
    def mangle(path: str, body: Any) -> Any:
        if path == "/ledger/blocks" and body["blocks"]:
            if field == "*":
                body["blocks"][0] = value
            elif value is KeyError:
                del body["blocks"][0][field]
            else:
                body["blocks"][0][field] = value
        return body

    return mangle


def _proof(value: Any) -> Callable[[str, Any], Any]:
    def mangle(path: str, body: Any) -> Any:
        if path.startswith("/ledger/proof/"):
            if value is KeyError:
                del body["path"]
            else:
                body["path"] = value
        return body

    return mangle


@pytest.mark.parametrize(
    "mangle",
    [
        _block("end", KeyError),
        _block("end", "4"),
        _block("number", None),
        _block("root", "zz" * 32),
        _block("root", 7),
        _block("checkpoint", KeyError),
        _block("start", True),
        _block("*", "not a block"),
        _proof(KeyError),
        _proof(["not hex"]),
        _proof("ab"),
    ],
    ids=["no end", "end a string", "number null", "root not hex", "root a number",
         "no checkpoint", "start a bool", "block a string", "proof without path",
         "proof path not hex", "proof path a string"],
)  # fmt: skip
def test_verify_url_names_a_server_that_serves_malformed_records(
    filled: Ledger, mangle: Callable[[str, Any], Any]
) -> None:
    """A server whose blocks or proofs are malformed is reported as misbehaving (FAILED with
    what was wrong), not with a Python traceback."""
    server = serve(filled, mangle=mangle)
    try:
        with pytest.raises(VerificationFailed) as caught:
            verify_url(f"http://127.0.0.1:{server.server_address[1]}", processes=1)
    finally:
        server.shutdown()
        server.server_close()
    assert caught.value.text("en")
