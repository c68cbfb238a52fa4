"""The RFC 6962 tree over stored complete-subtree hashes, as Go's `sumdb/tlog` stores it.

Spec: https://www.rfc-editor.org/rfc/rfc6962#section-2.1 and
https://www.rfc-editor.org/rfc/rfc9162#section-2.1

The hash of every complete subtree (level L, number k: leaves [k·2^L, (k+1)·2^L)) is written
once, when its last leaf is appended, at the position `stored_hash_index(L, k)`. Any subtree
of the RFC 6962 tree is at most log2(n) complete subtrees, so roots and proofs need only
O(log n) stored hashes. Pure: reading the hashes is the caller's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence

from ledger.hashing import EMPTY_ROOT
from ledger.hashing import Hash
from ledger.hashing import hash_children
from ledger.hashing import hash_leaf

Range = tuple[int, int]  # leaves [lo, hi) of one node of the RFC 6962 tree
Subtree = tuple[int, int]  # (level, k): 2**level leaves starting at leaf k << level


def stored_hash_index(level: int, k: int) -> int:
    """Return where the hash of complete subtree (level, k) is stored (tlog.StoredHashIndex)."""
    k = ((k + 1) << level) - 1  # level L's k-th hash follows level 0's hash of its last leaf
    return 2 * k - k.bit_count() + level  # k + k/2 + k/4 + ... = 2k - popcount(k)


def stored_hash_count(size: int) -> int:
    """Return how many hashes are stored for a tree of `size` leaves (tlog.StoredHashCount)."""
    if size == 0:
        return 0
    count = stored_hash_index(0, size - 1) + 1
    last = size - 1
    while last & 1:  # subtrees completed by the last leaf
        count += 1
        last >>= 1
    return count


def append_leaf(frontier: list[Hash], size: int, leaf_hash: Hash) -> list[tuple[int, Hash]]:
    """Add leaf number `size`; return the (stored index, hash) pairs it completes, in order.

    `frontier` holds the hashes of the complete subtrees of the tree of `size` leaves, largest
    (leftmost) first; it is updated in place to describe the tree of `size + 1` leaves.
    """
    index = 2 * size - size.bit_count()  # stored_hash_index(0, size)
    out = [(index, leaf_hash)]
    h, k = leaf_hash, size
    while k & 1:  # leaf `size` closes one complete subtree per trailing 1 bit; their hashes
        h = hash_children(frontier.pop(), h)  # are stored right after the leaf's
        k >>= 1
        index += 1
        out.append((index, h))
    frontier.append(h)
    return out


def frontier_subtrees(size: int) -> list[Subtree]:
    """Return the complete subtrees of a tree of `size` leaves, largest (leftmost) first."""
    return subtrees(0, size)


def root_of_frontier(frontier: Sequence[Hash]) -> Hash:
    """Return MTH of the tree whose complete subtrees are `frontier` (largest first)."""
    if not frontier:
        return EMPTY_ROOT
    h = frontier[-1]
    for left in reversed(frontier[:-1]):  # RFC 6962: MTH(D[n]) = H(MTH(D[0:k]) || MTH(D[k:n]))
        h = hash_children(left, h)
    return h


def root_of_leaves(leaves: Iterable[bytes]) -> Hash:
    """Return MTH of the leaves (raw leaf bytes), in one pass with O(log n) memory."""
    frontier: list[Hash] = []
    for size, leaf in enumerate(leaves):
        append_leaf(frontier, size, hash_leaf(leaf))
    return root_of_frontier(frontier)


def subtrees(lo: int, hi: int) -> list[Subtree]:
    """Split the node covering leaves [lo, hi) into complete subtrees, largest first.

    Requires that [lo, hi) is a node of some RFC 6962 tree: lo is a multiple of the largest
    power of two that is < hi - lo (or lo == 0).
    """
    out: list[Subtree] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def hash_of_subtrees(hashes: Sequence[Hash]) -> Hash:
    """Combine the hashes of `subtrees(lo, hi)` into MTH(D[lo:hi])."""
    return root_of_frontier(hashes)


def _split(n: int) -> int:
    """Return k, the largest power of two smaller than n (RFC 6962 §2.1). Requires n > 1."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Return the nodes of PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf end first.

    Requires 0 <= index < size.
    """
    out: list[Range] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:  # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            out.append((lo + k, hi))
            hi = lo + k
        else:  # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
            out.append((lo, lo + k))
            lo, m = lo + k, m - k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """Return the nodes of PROOF(m, D[n]) (RFC 9162 §2.1.4.1), deepest first.

    Requires 0 <= old_size <= new_size; sizes 0 and new_size give an empty proof.
    """
    out: list[Range] = []
    if old_size == 0 or old_size == new_size:
        return out
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:  # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            out.append((lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            out.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        out.append((lo, hi))
    out.reverse()
    return out
