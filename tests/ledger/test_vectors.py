"""Known-answer RFC 6962 vectors (transparency-dev/merkle testonly/constants.go)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.hashing import EMPTY_ROOT
from ledger.hashing import hash_leaf
from ledger.proof import prove_consistency
from ledger.proof import prove_inclusion
from ledger.proof import verify_consistency
from ledger.proof import verify_inclusion
from ledger.tree import root_of_leaves
from tests.ledger import reference
from tests.ledger.support import MemoryTree

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]

# Independently known prefixes (STYLE.md C6 and constants.go), so the JSON file cannot drift.
ROOT_PREFIXES = ["6e340b9c", "fac54203", "aeb6bcfe", "d37ee418", "4e3bbb1f", "76e67dad",
                 "ddb89be4", "5dc9da79"]  # fmt: skip
PATH_PREFIXES = {
    (0, 8): ["96a296d2", "5f083f0a", "6b47aaf2"],
    (5, 8): ["bc1a0643", "ca854ea1", "d37ee418"],
    (2, 3): ["fac54203"],
    (1, 5): ["6e340b9c", "5f083f0a", "bc1a0643"],
}
PROOF_PREFIXES = {
    (1, 8): ["96a296d2", "5f083f0a", "6b47aaf2"],
    (6, 8): ["0ebc5d34", "ca854ea1", "d37ee418"],
    (2, 5): ["5f083f0a", "bc1a0643"],
}


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == VECTORS["empty_root"]
    assert EMPTY_ROOT.hex().startswith("e3b0c442") and EMPTY_ROOT.hex().endswith("b855")
    assert root_of_leaves([]) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_published_vectors(size: int) -> None:
    expected = VECTORS["roots"][str(size)]
    assert expected.startswith(ROOT_PREFIXES[size - 1])
    assert reference.mth(LEAVES[:size]).hex() == expected
    assert root_of_leaves(LEAVES[:size]).hex() == expected
    assert MemoryTree(LEAVES[:size]).root().hex() == expected


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}of{c['size']}")
def test_inclusion_paths_match_published_vectors(case: dict[str, object]) -> None:
    index, size = int(str(case["index"])), int(str(case["size"]))
    expected = [str(h) for h in case["path"]]  # type: ignore[attr-defined]
    if (index, size) in PATH_PREFIXES:
        assert [h[:8] for h in expected] == PATH_PREFIXES[(index, size)]
    tree = MemoryTree(LEAVES[:size])
    got = prove_inclusion(index, size, tree.read)
    assert [h.hex() for h in got] == expected
    verify_inclusion(hash_leaf(LEAVES[index]), index, size, got, tree.root())


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['from']}to{c['to']}")
def test_consistency_proofs_match_published_vectors(case: dict[str, object]) -> None:
    old, new = int(str(case["from"])), int(str(case["to"]))
    expected = [str(h) for h in case["path"]]  # type: ignore[attr-defined]
    if (old, new) in PROOF_PREFIXES:
        assert [h[:8] for h in expected] == PROOF_PREFIXES[(old, new)]
    tree = MemoryTree(LEAVES[:new])
    got = prove_consistency(old, new, tree.read)
    assert [h.hex() for h in got] == expected
    verify_consistency(old, new, got, root_of_leaves(LEAVES[:old]), tree.root())
