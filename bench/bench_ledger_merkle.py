"""Merkle root of 100,000 leaves: ours side by side with pymerkle, in the same run.

Baseline: pymerkle 7's `InmemoryTree` (RFC 6962 hashing, the same roots). Ours: the one-pass
frontier of `ledger.tree.root_of_leaves`, and the stored-hash path the ledger actually uses
(`append_leaf` into a dict, then `tree_root` from log2(n) stored hashes). Also checks that
all three roots agree.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from pymerkle import InmemoryTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.hashing import Hash  # noqa: E402
from ledger.hashing import hash_leaf  # noqa: E402
from ledger.proof import tree_root  # noqa: E402
from ledger.tree import append_leaf  # noqa: E402
from ledger.tree import root_of_leaves  # noqa: E402

N = 100_000


def ours_stored(leaves: list[bytes]) -> bytes:
    stored: dict[int, Hash] = {}
    frontier: list[Hash] = []
    for i, leaf in enumerate(leaves):
        stored.update(append_leaf(frontier, i, hash_leaf(leaf)))
    return tree_root(len(leaves), lambda idx: [stored[i] for i in idx])


def pymerkle_root(leaves: list[bytes]) -> bytes:
    tree = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        tree.append_entry(leaf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        root: bytes = tree.get_state()
    return root


def main() -> None:
    leaves = [b'{"entry":{"seq":%d},"sig":"..."}' % i for i in range(N)]
    results = {}
    for name, fn in [("pymerkle InmemoryTree", pymerkle_root),
                     ("ledger root_of_leaves (frontier)", root_of_leaves),
                     ("ledger stored hashes + tree_root", ours_stored)]:  # fmt: skip
        start = time.perf_counter()
        root = fn(leaves)
        results[name] = (time.perf_counter() - start, bytes(root))
    base = results["pymerkle InmemoryTree"][0]
    assert len({root for _, root in results.values()}) == 1, "roots disagree"
    print(f"root of {N:,} leaves: {results['pymerkle InmemoryTree'][1].hex()[:16]}... (all agree)")
    for name, (seconds, _) in results.items():
        print(f"{name:34s}: {seconds * 1000:8.1f} ms = {seconds / base:.2f}x pymerkle's time")


if __name__ == "__main__":
    main()
