"""Merkle tree hashing. Spec: RFC 6962 §2.1 (https://www.rfc-editor.org/rfc/rfc6962#section-2.1).

The same formulas as RFC 9162 §2.1.1 and Go's `golang.org/x/mod/sumdb/tlog`.
"""

from __future__ import annotations

import hashlib
from typing import NewType

Hash = NewType("Hash", bytes)  # always 32 bytes of SHA-256 output

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"  # RFC 6962 §2.1: leaves can never collide with interior nodes
NODE_PREFIX = b"\x01"
EMPTY_ROOT = Hash(hashlib.sha256(b"").digest())  # RFC 6962 §2.1: MTH({}) = SHA-256()

_sha256 = hashlib.sha256


def hash_leaf(leaf: bytes) -> Hash:
    """Return MTH({d0}) = SHA-256(0x00 || d0) for one leaf."""
    return Hash(_sha256(LEAF_PREFIX + leaf).digest())


def hash_children(left: bytes, right: bytes) -> Hash:
    """Return SHA-256(0x01 || left || right), the hash of an interior node."""
    return Hash(_sha256(NODE_PREFIX + left + right).digest())


def parse_hash(text: str) -> Hash:
    """Return the 32 bytes of a lowercase hex hash.

    Raises:
        ValueError: not 64 lowercase hex digits.
    """
    if len(text) != 2 * HASH_SIZE or text != text.lower():
        raise ValueError(f"not a 64-digit lowercase hex hash: {text[:80]!r}")
    return Hash(bytes.fromhex(text))
