"""`verify` of a 100,000-entry export, as a ratio of the bare Ed25519-verify rate on all cores.

The export is built once and cached in var/bench/export-100k/. Baseline in the same run: the
same worker pool (one process per core, same start method) reads the same file in the same
chunks and only cuts out each entry's bytes and signature and runs Ed25519 verify (PyNaCl) on
it; no JSON, no canonical check, no hashing, no chain. `verify_export` does all of those.
Target: ratio >= 0.8.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import sys
import time
from pathlib import Path

import nacl.signing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger import Ledger  # noqa: E402
from ledger import LedgerKey  # noqa: E402
from ledger.verify import verify_export  # noqa: E402

SIZE = 100_000
HERE = ROOT / "var" / "bench"
ORIGIN = "bench.example/100k"
KEY = LedgerKey.from_seed(ORIGIN, bytes(range(32)))


def build() -> Path:
    out = HERE / "export-100k"
    if (out / "checkpoint").exists():
        return out
    HERE.mkdir(parents=True, exist_ok=True)
    print("building the 100,000-entry export (cached) ...", flush=True)
    with Ledger.open(f"sqlite:///{HERE / 'ledger-100k.db'}", KEY, ORIGIN) as log:
        have = log.size()
        while have < SIZE:
            n = min(10_000, SIZE - have)
            log.append_many([("proposal.endorsed", f"r:{i:08x}", "2017-ttabok",
                              {"proposal": f"p-{i % 815}", "commitment": "9f" * 32, "t": "공감"})
                             for i in range(have, have + n)])  # fmt: skip
            have += n
            log.seal()
        log.export(out)
    return out


def bare_chunk(job: tuple[str, int, int, bytes]) -> int:
    path, begin, end, public = job
    verify = nacl.signing.VerifyKey(public).verify
    with open(path, "rb") as handle:
        handle.seek(begin)
        lines = handle.read(end - begin).split(b"\n")
    count = 0
    for line in lines:
        if line:
            cut = line.rindex(b',"key":"')
            verify(line[9:cut], base64.b64decode(line[line.rindex(b'"sig":"') + 7 : -2]))
            count += 1
    return count


def bare(path: Path, processes: int) -> int:
    data = path.read_bytes()
    pieces = processes * 4
    bounds, start = [], 0
    for i in range(1, pieces + 1):
        stop = len(data) if i == pieces else data.find(b"\n", len(data) * i // pieces) + 1
        bounds.append((start, stop))
        start = stop
    jobs = [(str(path), a, b, KEY.verifier.public_key) for a, b in bounds]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        count = sum(pool.map(bare_chunk, jobs, chunksize=1))
    assert count == SIZE
    return count


def main() -> None:
    export = build()
    cores = os.cpu_count() or 1
    bare_times, ours_times = [], []
    for _ in range(3):  # alternate, so background load hits both alike; keep the best of each
        begin = time.perf_counter()
        bare(export / "entries.jsonl", cores)
        bare_times.append(time.perf_counter() - begin)
        begin = time.perf_counter()
        report = verify_export(export, processes=cores)
        ours_times.append(time.perf_counter() - begin)
        assert report.size == SIZE
    base, ours = SIZE / min(bare_times), SIZE / min(ours_times)
    print(f"{SIZE:,} entries, {cores} cores, best of {len(bare_times)} alternating runs")
    print(f"bare Ed25519 verify, all cores : {base:9,.0f} entries/s = 1.00")
    print(f"python -m ledger verify (full) : {ours:9,.0f} entries/s = {ours / base:.2f} of bare")
    print("all runs, seconds (bare; verify):", ", ".join(f"{t:.2f}" for t in bare_times), ";",
          ", ".join(f"{t:.2f}" for t in ours_times))  # fmt: skip


if __name__ == "__main__":
    main()
