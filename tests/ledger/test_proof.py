"""The fast tree and proofs against the literal RFC 6962 reference, exhaustively and by property."""

from __future__ import annotations

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidProof
from ledger.errors import RootMismatch
from ledger.hashing import EMPTY_ROOT
from ledger.hashing import hash_leaf
from ledger.proof import prove_consistency
from ledger.proof import prove_inclusion
from ledger.proof import verify_consistency
from ledger.proof import verify_inclusion
from ledger.tree import root_of_leaves
from ledger.tree import stored_hash_count
from ledger.tree import stored_hash_index
from tests.ledger import reference
from tests.ledger.support import MemoryTree

LEAVES = [i.to_bytes(2, "big") * (i % 3 + 1) for i in range(65)]
FULL = MemoryTree(LEAVES)
leaf_lists = st.lists(st.binary(max_size=24), min_size=1, max_size=70)


def flip(data: bytes, position: int, bit: int = 1) -> bytes:
    return data[:position] + bytes([data[position] ^ bit]) + data[position + 1 :]


def test_stored_hash_positions_are_dense_and_unique() -> None:
    seen: list[int] = []
    for size in range(1, 300):
        tree = MemoryTree([b"x"] * size)
        assert sorted(tree.stored) == list(range(stored_hash_count(size)))
        seen = sorted(tree.stored)
    assert stored_hash_index(0, 0) == 0 and stored_hash_index(1, 0) == 2 and seen


@pytest.mark.parametrize("size", range(0, 65))
def test_root_equals_reference_for_every_size_up_to_64(size: int) -> None:
    assert FULL.root(size) == reference.mth(LEAVES[:size])
    assert root_of_leaves(LEAVES[:size]) == reference.mth(LEAVES[:size])


@pytest.mark.parametrize("size", range(1, 65))
def test_every_inclusion_path_equals_reference_up_to_64(size: int) -> None:
    root = reference.mth(LEAVES[:size])
    for index in range(size):
        got = prove_inclusion(index, size, FULL.read)
        assert got == reference.path(index, LEAVES[:size])
        verify_inclusion(hash_leaf(LEAVES[index]), index, size, got, root)


@pytest.mark.parametrize("new", range(1, 65))
def test_every_consistency_proof_equals_reference_up_to_64(new: int) -> None:
    new_root = reference.mth(LEAVES[:new])
    for old in range(0, new + 1):
        got = prove_consistency(old, new, FULL.read)
        assert got == (reference.proof(old, LEAVES[:new]) if 0 < old < new else [])
        verify_consistency(old, new, got, reference.mth(LEAVES[:old]), new_root)


@given(leaves=leaf_lists, data=st.data())
@example(leaves=[b"a"], data=None)
def test_every_inclusion_proof_verifies(leaves: list[bytes], data: st.DataObject | None) -> None:
    index = 0 if data is None else data.draw(st.integers(0, len(leaves) - 1), label="index")
    tree = MemoryTree(leaves)
    path = prove_inclusion(index, len(leaves), tree.read)
    verify_inclusion(hash_leaf(leaves[index]), index, len(leaves), path, reference.mth(leaves))


@given(leaves=leaf_lists, data=st.data())
def test_every_consistency_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    new = data.draw(st.integers(1, len(leaves)), label="new")
    old = data.draw(st.integers(0, new), label="old")
    tree = MemoryTree(leaves)
    path = prove_consistency(old, new, tree.read)
    verify_consistency(old, new, path, tree.root(old), reference.mth(leaves[:new]))


@given(leaves=leaf_lists.filter(lambda xs: len(xs) > 1), data=st.data())
def test_inclusion_fails_when_any_byte_of_leaf_path_or_root_is_flipped(
    leaves: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1), label="index")
    size = len(leaves)
    tree = MemoryTree(leaves)
    path = prove_inclusion(index, size, tree.read)
    leaf, root = hash_leaf(leaves[index]), tree.root()
    parts = [leaf, root, *path]
    which = data.draw(st.integers(0, len(parts) - 1), label="which")
    position = data.draw(st.integers(0, 31), label="position")
    parts[which] = flip(parts[which], position, data.draw(st.sampled_from([1, 2, 128])))
    with pytest.raises(InvalidProof):
        verify_inclusion(parts[0], index, size, parts[2:], parts[1])


@given(leaves=leaf_lists.filter(lambda xs: len(xs) > 2), data=st.data())
def test_consistency_fails_when_any_byte_of_proof_or_roots_is_flipped(
    leaves: list[bytes], data: st.DataObject
) -> None:
    new = data.draw(st.integers(2, len(leaves)), label="new")
    old = data.draw(st.integers(1, new - 1), label="old")
    tree = MemoryTree(leaves)
    parts = [tree.root(old), tree.root(new), *prove_consistency(old, new, tree.read)]
    which = data.draw(st.integers(0, len(parts) - 1), label="which")
    parts[which] = flip(parts[which], data.draw(st.integers(0, 31), label="position"))
    with pytest.raises(InvalidProof):
        verify_consistency(old, new, parts[2:], parts[0], parts[1])


def test_a_different_leaf_raises_root_mismatch_with_both_roots() -> None:
    tree = MemoryTree(LEAVES[:10])
    path = prove_inclusion(3, 10, tree.read)
    with pytest.raises(RootMismatch) as caught:
        verify_inclusion(hash_leaf(b"forged"), 3, 10, path, tree.root())
    assert caught.value.expected == tree.root() and caught.value.calculated != tree.root()


@pytest.mark.parametrize(
    ("index", "size", "cut"),
    [(0, 0, 0), (5, 5, 0), (-1, 4, 0), (3, 10, 1), (3, 10, -1)],
    ids=["empty-tree", "index-equals-size", "negative", "path-too-short", "path-too-long"],
)
def test_malformed_inclusion_requests_raise_invalid_proof(index: int, size: int, cut: int) -> None:
    tree = MemoryTree(LEAVES[:10])
    path = prove_inclusion(3, 10, tree.read)
    path = path[:-1] if cut == 1 else path + [EMPTY_ROOT] if cut == -1 else path
    with pytest.raises(InvalidProof):
        verify_inclusion(hash_leaf(LEAVES[3]), index, size, path, tree.root())


def test_consistency_rejects_sizes_out_of_order_and_nonempty_trivial_paths() -> None:
    tree = MemoryTree(LEAVES[:10])
    with pytest.raises(InvalidProof):
        prove_consistency(5, 4, tree.read)
    with pytest.raises(InvalidProof):
        verify_consistency(4, 4, [EMPTY_ROOT], tree.root(4), tree.root(4))
    with pytest.raises(RootMismatch):
        verify_consistency(0, 4, [], tree.root(1), tree.root(4))


def test_proofs_read_only_logarithmically_many_stored_hashes() -> None:
    tree = MemoryTree([b"%d" % i for i in range(5000)])
    for index, size in [(0, 5000), (4999, 5000), (1234, 4321), (2047, 2049)]:
        tree.reads.clear()
        prove_inclusion(index, size, tree.read)
        assert len(tree.reads) <= 2 * size.bit_length()
    for old, new in [(1, 5000), (1000, 4999), (2048, 4097), (4999, 5000)]:
        tree.reads.clear()
        prove_consistency(old, new, tree.read)
        assert len(tree.reads) <= 2 * new.bit_length()
