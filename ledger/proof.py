"""Inclusion and consistency proofs. Spec: RFC 9162 §2.1.3 and §2.1.4
(https://www.rfc-editor.org/rfc/rfc9162#section-2.1.3).

`prove_*` read only the O(log n) stored complete-subtree hashes they need, through one call
of a `HashReader` (the shape of sumdb's `tlog.HashReader`); `verify_*` are pure and either
return None or raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ledger.errors import InvalidProof
from ledger.errors import RootMismatch
from ledger.hashing import EMPTY_ROOT
from ledger.hashing import HASH_SIZE
from ledger.hashing import Hash
from ledger.hashing import hash_children
from ledger.messages import Message
from ledger.tree import Range
from ledger.tree import consistency_ranges
from ledger.tree import hash_of_subtrees
from ledger.tree import inclusion_ranges
from ledger.tree import stored_hash_index
from ledger.tree import subtrees


class HashReader(Protocol):
    """Reads stored complete-subtree hashes by `stored_hash_index` position.

    Must return one hash per index, in the order asked, all from one consistent snapshot;
    an index beyond the stored tree is a caller bug (raise, do not return garbage).
    """

    def __call__(self, indices: Sequence[int], /) -> Sequence[Hash]: ...


def hashes_of_ranges(ranges: Sequence[Range], read: HashReader) -> list[Hash]:
    """Return MTH(D[lo:hi]) for every range, reading all needed stored hashes in one call."""
    pieces = [subtrees(lo, hi) for lo, hi in ranges]
    wanted = sorted({stored_hash_index(level, k) for piece in pieces for level, k in piece})
    found = dict(zip(wanted, read(wanted), strict=True))
    return [
        hash_of_subtrees([found[stored_hash_index(level, k)] for level, k in piece])
        for piece in pieces
    ]


def tree_root(size: int, read: HashReader) -> Hash:
    """Return MTH(D[0:size]) from at most log2(size) stored hashes."""
    if size == 0:
        return EMPTY_ROOT
    return hashes_of_ranges([(0, size)], read)[0]


def prove_inclusion(index: int, size: int, read: HashReader) -> list[Hash]:
    """Return PATH(index, D[0:size]) (RFC 9162 §2.1.3.1). Requires 0 <= index < size.

    Raises:
        InvalidProof: index outside the tree.
    """
    if not 0 <= index < size:
        raise InvalidProof(Message.of("ledger.error.proof_index", index=index, size=size))
    return hashes_of_ranges(inclusion_ranges(index, size), read)


def prove_consistency(old_size: int, new_size: int, read: HashReader) -> list[Hash]:
    """Return PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1). Requires 0 <= old <= new.

    Raises:
        InvalidProof: sizes out of order or negative.
    """
    if not 0 <= old_size <= new_size:
        raise InvalidProof(Message.of("ledger.error.proof_sizes", old=old_size, new=new_size))
    return hashes_of_ranges(consistency_ranges(old_size, new_size), read)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is entry `index` of the tree of `size` leaves with `root`.

    Implements RFC 9162 §2.1.3.2. Requires 0 <= index < size.

    Raises:
        InvalidProof: index out of range, a hash of the wrong length, or a path of the wrong
            length.
        RootMismatch: a well-formed path that leads to a different root.
    """
    if not 0 <= index < size:
        raise InvalidProof(Message.of("ledger.error.proof_index", index=index, size=size))
    _check_hashes([leaf_hash, root, *path])
    fn, sn, r = index, size - 1, leaf_hash  # steps 2-3
    for p in path:
        if sn == 0:  # step 4a
            raise InvalidProof(Message.of("ledger.error.inclusion_long"))
        if fn & 1 or fn == sn:  # step 4b: right child, or the last node of its level
            r = hash_children(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1  # step 4c
    if sn != 0:  # step 5
        raise InvalidProof(Message.of("ledger.error.inclusion_short"))
    if r != root:
        raise RootMismatch(expected=root, calculated=r)


def verify_consistency(
    old_size: int, new_size: int, path: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree (old_size, old_root) is a prefix of the tree (new_size, new_root).

    Implements RFC 9162 §2.1.4.2. Requires 0 <= old_size <= new_size; from size 0 or to the
    same size the path must be empty (and, for equal sizes, the roots equal).

    Raises:
        InvalidProof: sizes out of order, a hash of the wrong length, or a path of the wrong
            length.
        RootMismatch: a well-formed path that leads to different roots.
    """
    if not 0 <= old_size <= new_size:
        raise InvalidProof(Message.of("ledger.error.proof_sizes", old=old_size, new=new_size))
    _check_hashes([old_root, new_root, *path])
    if old_size == 0 or old_size == new_size:
        if path:
            raise InvalidProof(Message.of("ledger.error.consistency_not_empty"))
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise RootMismatch(expected=old_root, calculated=EMPTY_ROOT)
        if old_size == new_size and old_root != new_root:
            raise RootMismatch(expected=new_root, calculated=old_root)
        return
    if not path:  # step 1
        raise InvalidProof(Message.of("ledger.error.consistency_empty"))
    nodes = list(path)
    if old_size & (old_size - 1) == 0:  # step 2: first is an exact power of 2
        nodes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]  # step 5
    for c in nodes[1:]:  # step 6
        if sn == 0:
            raise InvalidProof(Message.of("ledger.error.consistency_long"))
        if fn & 1 or fn == sn:
            fr, sr = hash_children(c, fr), hash_children(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 7
        raise InvalidProof(Message.of("ledger.error.consistency_short"))
    if fr != old_root:
        raise RootMismatch(expected=old_root, calculated=fr)
    if sr != new_root:
        raise RootMismatch(expected=new_root, calculated=sr)


def _check_hashes(hashes: Sequence[bytes]) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise InvalidProof(
                Message.of("ledger.error.hash_size", size=len(h), expected=HASH_SIZE)
            )
