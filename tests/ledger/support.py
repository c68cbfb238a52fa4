"""Test helpers for the ledger: an in-memory stored-hash tree."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.hashing import Hash
from ledger.hashing import hash_leaf
from ledger.proof import tree_root
from ledger.tree import append_leaf


class MemoryTree:
    """Leaves and their stored complete-subtree hashes, kept in a dict (what store.py keeps)."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self.stored: dict[int, Hash] = {}
        self.frontier: list[Hash] = []
        self.size = 0
        self.reads: list[int] = []
        for leaf in leaves:
            self.add(leaf)

    def add(self, leaf: bytes) -> None:
        for index, h in append_leaf(self.frontier, self.size, hash_leaf(leaf)):
            assert index not in self.stored
            self.stored[index] = h
        self.size += 1

    def read(self, indices: Sequence[int]) -> list[Hash]:
        self.reads.extend(indices)
        return [self.stored[i] for i in indices]

    def root(self, size: int | None = None) -> Hash:
        return tree_root(self.size if size is None else size, self.read)
