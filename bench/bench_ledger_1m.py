"""The ledger at 1,000,000 entries: append rate, proof times, export and verify times.

Reuses the 1,000,000-entry SQLite log that `bench_ledger_proofs.py` builds and caches in
var/bench/ledger-1m.db (signed, chained entries through `Ledger.append_many`; ~2 minutes the
first time). Each figure has a baseline measured in this run:

- append: 10,000 `append_async` entries (a burst, every one committed with its Merkle nodes)
  onto a copy of the 1M log, against the same burst onto an empty log. A ratio near 1 means
  appends do not slow down as the log grows (stored-hash index, no scans).
- proofs: 1,000 random inclusion and consistency proofs through `Ledger`, against one
  primary-key SELECT of a stored hash (as in bench_ledger_proofs.py, here at 1M).
- export: `python -m ledger export` of all 1M entries, against streaming the same leaves out
  of the database into a file with one plain SELECT (the least any export must do).
- verify: `python -m ledger verify` of that export on all cores (every signature, canonical
  form, prev chain, Merkle root of every checkpoint), against the same process pool doing
  only Ed25519 verify over the same lines (bench_ledger_verify.bare_chunk).

    .venv/bin/python bench/bench_ledger_1m.py           # everything (~4 minutes once built)
    .venv/bin/python bench/bench_ledger_1m.py --quick   # append and proofs only
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_ledger_proofs as proofs  # noqa: E402
import bench_ledger_verify as verify_bench  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from ledger import Ledger  # noqa: E402
from ledger import LedgerKey  # noqa: E402
from ledger import store  # noqa: E402

HERE = ROOT / "var" / "bench"
BURST = 10_000
RUNS = 1_000


def log(text: str) -> None:
    print(text, flush=True)


def burst(ledger: Ledger, n: int) -> float:
    """Append `n` entries as one burst of `append_async`; return entries/s until all commit."""
    body = {"proposal": "p-0815", "commitment": "9f" * 32}
    start = time.perf_counter()
    futures = [
        ledger.append_async("proposal.endorsed", f"r:{i:08x}", "2017-ttabok", body)
        for i in range(n)
    ]
    for future in futures:
        future.result()
    return n / (time.perf_counter() - start)


def appends(base: Ledger) -> tuple[float, float]:
    """Return (entries/s onto an empty log, entries/s onto a copy of the 1M log)."""
    base.close()
    copy, empty = HERE / "ledger-1m-append.db", HERE / "ledger-empty-append.db"
    for path in (copy, empty):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(proofs.DB, copy)
    os.sync()  # the copy's dirty pages must not slow the fsyncs measured below
    key = LedgerKey.from_seed(proofs.ORIGIN, bytes(32))
    rates = {"empty": 0.0, "1m": 0.0}
    try:
        for _ in range(2):  # alternate, keep the best of each: background load hits both alike
            for name, path in (("empty", empty), ("1m", copy)):
                with Ledger.open(f"sqlite:///{path}", key, proofs.ORIGIN) as ledger:
                    warm(ledger)
                    size = ledger.size()
                    rates[name] = max(rates[name], burst(ledger, BURST))
                    assert ledger.size() == size + BURST
    finally:
        for path in (copy, empty):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return rates["empty"], rates["1m"]


def warm(ledger: Ledger) -> None:
    """Read the hash table and the leaf-hash index once, as a running server has them cached."""
    with ledger.engine.connect() as conn:
        conn.execute(sa.text("SELECT sum(length(hash)) FROM ledger_hashes")).scalar()
        conn.execute(sa.text("SELECT count(leaf_hash) FROM ledger_entries")).scalar()


def proof_times(ledger: Ledger) -> tuple[list[float], list[float], list[float]]:
    rng = random.Random(1)
    warm(ledger)
    size = ledger.size()
    with ledger.engine.connect() as conn:
        max_idx = conn.execute(sa.select(sa.func.max(store.hashes.c.idx))).scalar_one()

    def one_read(i: int, _: int) -> None:
        with ledger.engine.connect() as conn:
            store.read_hashes(conn, ledger.log_id, [i])

    base = proofs.timed(one_read, [(rng.randrange(max_idx), 0) for _ in range(RUNS)])
    incl = [(rng.randrange(n), n) for n in (rng.randrange(1, size + 1) for _ in range(RUNS))]
    cons = []
    for _ in range(RUNS):
        new = rng.randrange(2, size + 1)
        cons.append((rng.randrange(1, new), new))
    return (
        base,
        proofs.timed(ledger.inclusion_proof, incl),
        proofs.timed(ledger.consistency_proof, cons),
    )


def raw_leaves(ledger: Ledger, out: Path) -> float:
    """Stream every leaf into `out` with one SELECT; return seconds."""
    e = store.entries.c
    start = time.perf_counter()
    with ledger.engine.connect() as conn, out.open("wb") as f:
        rows = conn.execution_options(stream_results=True, yield_per=10_000).execute(
            sa.select(e.leaf).where(e.log_id == ledger.log_id).order_by(e.seq)
        )
        for (leaf,) in rows:
            f.write(leaf)
            f.write(b"\n")
    return time.perf_counter() - start


def cli(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ledger", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def bare_verify(path: Path, public: bytes, processes: int) -> tuple[int, float]:
    """Ed25519-verify every line of `path` on `processes` cores; return (lines, seconds)."""
    start = time.perf_counter()
    size = path.stat().st_size
    pieces = processes * 8
    bounds, begin = [], 0
    with path.open("rb") as f:
        for i in range(1, pieces + 1):
            if i == pieces:
                stop = size
            else:
                f.seek(size * i // pieces)
                f.readline()
                stop = f.tell()
            bounds.append((begin, stop))
            begin = stop
    jobs = [(str(path), a, b, public) for a, b in bounds if b > a]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        count = sum(pool.map(verify_bench.bare_chunk, jobs, chunksize=1))
    return count, time.perf_counter() - start


def ms(times: list[float]) -> str:
    return f"{statistics.median(times):6.3f} / {sorted(times)[int(len(times) * 0.99) - 1]:6.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="append and proofs only")
    args = parser.parse_args()
    ledger = proofs.build()
    size = ledger.size()
    cores = os.cpu_count() or 1
    log(f"log of {size:,} entries ({proofs.DB.stat().st_size / 1e6:,.0f} MB SQLite), "
        f"{cores} cores")  # fmt: skip

    base, incl, cons = proof_times(ledger)
    b = statistics.median(base)
    log(f"proofs, {RUNS:,} random requests each (median / p99):")
    log(f"  baseline: one stored-hash SELECT  {ms(base)} = 1.0")
    for name, times in (("inclusion proof", incl), ("consistency proof", cons)):
        log(f"  {name:32s}  {ms(times)} = {statistics.median(times) / b:.1f}x one read")

    if not args.quick:
        out = HERE / "export-1m"
        shutil.rmtree(out, ignore_errors=True)
        raw = raw_leaves(ledger, HERE / "leaves-1m.jsonl")
        (HERE / "leaves-1m.jsonl").unlink()
        url = f"sqlite:///{proofs.DB}"
        export_s = cli("export", "--db", url, "--out", str(out))
        log(f"export of {size:,} entries:")
        log(f"  baseline: one SELECT streaming the leaves to a file  {raw:6.1f} s "
            f"({size / raw:9,.0f} entries/s) = 1.0")  # fmt: skip
        log(f"  python -m ledger export                            {export_s:6.1f} s "
            f"({size / export_s:9,.0f} entries/s) = {raw / export_s:.2f} of baseline")  # fmt: skip
        public = LedgerKey.from_seed(proofs.ORIGIN, bytes(32)).verifier.public_key
        lines, bare_s = bare_verify(out / "entries.jsonl", public, cores)
        assert lines == size, (lines, size)
        verify_s = cli("verify", str(out), "--processes", str(cores))
        log(f"verify of the {size:,}-entry export on {cores} cores:")
        log(f"  baseline: Ed25519 verify only, same pool  {bare_s:6.1f} s "
            f"({size / bare_s:9,.0f} entries/s) = 1.0")  # fmt: skip
        log(f"  python -m ledger verify (everything)      {verify_s:6.1f} s "
            f"({size / verify_s:9,.0f} entries/s) = {bare_s / verify_s:.2f} of bare")  # fmt: skip
        shutil.rmtree(out, ignore_errors=True)

    empty_rate, big_rate = appends(ledger)
    log(f"appends, a burst of {BURST:,} append_async (each committed, synchronous=FULL):")
    log(f"  baseline: onto an empty log   {empty_rate:8,.0f} entries/s = 1.0")
    log(f"  onto the {size:,}-entry log {big_rate:8,.0f} entries/s = "
        f"{big_rate / empty_rate:.2f} of empty")  # fmt: skip


if __name__ == "__main__":
    main()
