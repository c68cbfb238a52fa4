"""Inclusion and consistency proofs in a 1,000,000-entry SQLite log.

The log is built once through `Ledger.append_many` (signed, chained entries; ~1-2 minutes)
and cached in var/bench/ledger-1m.db. Each proof is timed end to end through the public API
(`log.inclusion_proof`, `log.consistency_proof`: open a connection, read the head, read the
O(log n) stored hashes in one query, combine). Baseline in the same run: one primary-key
SELECT of a single stored hash through the same engine. Target: under 5 ms per proof.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger import Ledger  # noqa: E402
from ledger import LedgerKey  # noqa: E402
from ledger import store  # noqa: E402
from ledger.hashing import hash_leaf  # noqa: E402
from ledger.proof import verify_consistency  # noqa: E402
from ledger.proof import verify_inclusion  # noqa: E402

SIZE = 1_000_000
DB = ROOT / "var" / "bench" / "ledger-1m.db"
ORIGIN = "bench.example/1m"
RUNS = 1_000


def build() -> Ledger:
    DB.parent.mkdir(parents=True, exist_ok=True)
    key = LedgerKey.from_seed(ORIGIN, bytes(32))
    log = Ledger.open(f"sqlite:///{DB}", key, ORIGIN)
    have = log.size()
    if have < SIZE:
        print(f"building {SIZE:,} entries (cached in {DB.relative_to(ROOT)}) ...", flush=True)
        start = time.perf_counter()
        while have < SIZE:
            n = min(20_000, SIZE - have)
            body = {"proposal": "p-0815", "commitment": "9f" * 32}
            log.append_many([("proposal.endorsed", f"r:{i:08x}", "2017-ttabok", body)
                             for i in range(have, have + n)])  # fmt: skip
            have += n
        log.seal()
        print(f"built in {time.perf_counter() - start:.0f} s", flush=True)
    return log


def timed(fn: object, cases: list[tuple[int, int]]) -> list[float]:
    out = []
    for a, b in cases:
        start = time.perf_counter()
        fn(a, b)  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    log = build()
    rng = random.Random(1)
    size = log.size()
    with log.engine.connect() as conn:
        max_idx = conn.execute(sa.select(sa.func.max(store.hashes.c.idx))).scalar_one()

    def one_read(i: int, _: int) -> None:
        with log.engine.connect() as conn:
            store.read_hashes(conn, log.log_id, [i])

    base = timed(one_read, [(rng.randrange(max_idx), 0) for _ in range(RUNS)])
    incl_cases = [(rng.randrange(n), n) for n in (rng.randrange(1, size + 1) for _ in range(RUNS))]
    cons_cases = []
    for _ in range(RUNS):
        new = rng.randrange(2, size + 1)
        cons_cases.append((rng.randrange(1, new), new))
    incl = timed(log.inclusion_proof, incl_cases)
    cons = timed(log.consistency_proof, cons_cases)
    index, n = incl_cases[0]  # and the proofs are right
    verify_inclusion(hash_leaf(log.entries(index, index + 1)[0]), index, n,
                     log.inclusion_proof(index, n), log.root(n))  # fmt: skip
    old, new = cons_cases[0]
    verify_consistency(old, new, log.consistency_proof(old, new), log.root(old), log.root(new))
    b = statistics.median(base)
    print(f"log size {size:,}; {RUNS} random requests each; milliseconds (median / p99)")
    print(f"baseline: one stored-hash SELECT      {b:6.3f} / {_p99(base):6.3f} ms  = 1.0")
    for name, times in (("inclusion proof", incl), ("consistency proof", cons)):
        m = statistics.median(times)
        print(
            f"{name:38s}{m:6.3f} / {_p99(times):6.3f} ms  = {m / b:.1f}x one read"
            f"  ({'under' if _p99(times) < 5 else 'OVER'} 5 ms at p99)"
        )
    log.close()


def _p99(times: list[float]) -> float:
    return sorted(times)[int(len(times) * 0.99) - 1]


if __name__ == "__main__":
    main()
