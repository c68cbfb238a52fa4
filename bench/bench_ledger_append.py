"""Append throughput of the ledger on SQLite, as a ratio of the bare primitives.

Baseline (same run, same machine, same durability): canonicalize the entry, Ed25519-sign it,
SHA-256 the leaf and its tree nodes, and insert leaves and stored hashes with executemany
into a WAL SQLite file (synchronous=FULL), committing every 1,000 entries. The ledger is then
measured three ways: a burst of `append_async` (what a busy worker pool produces), 64 threads
each calling `append` and waiting for its commit, and `append_many` batches.
Targets: ratio >= 0.5 and >= 5,000 appends/s.
"""

from __future__ import annotations

import base64
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import nacl.signing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger import Ledger  # noqa: E402
from ledger import LedgerKey  # noqa: E402
from ledger import canonical  # noqa: E402
from ledger.hashing import hash_leaf  # noqa: E402
from ledger.tree import append_leaf  # noqa: E402

N = 20_000
BODY = {"proposal": "p-0815", "commitment": "9f" * 32, "region": "suwon", "score": 7}


def baseline(path: Path) -> float:
    key = nacl.signing.SigningKey(bytes(32))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE e (seq INTEGER PRIMARY KEY, leaf BLOB, h BLOB)")
    db.execute("CREATE TABLE n (idx INTEGER PRIMARY KEY, h BLOB)")
    start = time.perf_counter()
    prev, rows, nodes, frontier = "0" * 64, [], [], []
    for seq in range(N):
        entry = canonical.encode({"v": 1, "seq": seq, "ts": "2017-02-23T10:00:00.000Z",
                                  "kind": "proposal.endorsed", "actor": "r:ab12cd34",
                                  "round": "2017-ttabok", "body": BODY, "prev": prev})  # fmt: skip
        sig = base64.b64encode(key.sign(entry).signature).decode()
        leaf = b'{"entry":' + entry + b',"key":"k+00000000","sig":"' + sig.encode() + b'"}'
        h = hash_leaf(leaf)
        nodes += append_leaf(frontier, seq, h)  # the leaf hash and the subtrees it completes
        rows.append((seq, leaf, h))
        prev = h.hex()
        if len(rows) == 1000:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO e VALUES (?, ?, ?)", rows)
            db.executemany("INSERT INTO n VALUES (?, ?)", nodes)
            db.execute("COMMIT")
            rows, nodes = [], []
    elapsed = time.perf_counter() - start
    db.close()
    return N / elapsed


def ledger_async(url: str) -> float:
    with Ledger.open(url, LedgerKey.from_seed("bench", bytes(32)), "bench/async") as log:
        log.append("proposal.endorsed", "r:ab12cd34", "2017-ttabok", BODY)
        start = time.perf_counter()
        futures = [log.append_async("proposal.endorsed", "r:ab12cd34", "2017-ttabok", BODY)
                   for _ in range(N)]  # fmt: skip
        for future in futures:
            future.result()
        return N / (time.perf_counter() - start)


def ledger_threads(url: str, threads: int = 64) -> float:
    with Ledger.open(url, LedgerKey.from_seed("bench", bytes(32)), "bench/threads") as log:
        log.append("proposal.endorsed", "r:ab12cd34", "2017-ttabok", BODY)
        each = N // threads

        def work() -> None:
            for _ in range(each):
                log.append("proposal.endorsed", "r:ab12cd34", "2017-ttabok", BODY)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return each * threads / (time.perf_counter() - start)


def ledger_many(url: str) -> float:
    with Ledger.open(url, LedgerKey.from_seed("bench", bytes(32)), "bench/many") as log:
        items = [("proposal.endorsed", "r:ab12cd34", "2017-ttabok", BODY)] * 1000
        start = time.perf_counter()
        for _ in range(N // 1000):
            log.append_many(items)
        return N / (time.perf_counter() - start)


def main() -> None:
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parents[1] / "var") as tmp:
        base = baseline(Path(tmp) / "bare.db")
        print(f"bare primitives (canonicalize+sign+hash+batched insert): {base:9,.0f} /s  = 1.00")
        for name, fn in [("ledger append_async burst", ledger_async),
                         ("ledger append, 64 threads", ledger_threads),
                         ("ledger append_many x1000", ledger_many)]:  # fmt: skip
            rate = fn(f"sqlite:///{tmp}/{name.split()[1]}.db")
            print(f"{name:56s}: {rate:9,.0f} /s  = {rate / base:.2f} of bare")


if __name__ == "__main__":
    main()
