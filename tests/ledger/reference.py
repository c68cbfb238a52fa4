"""RFC 6962 §2.1 written out literally (tests only): MTH, PATH and PROOF as recursive definitions.

Deliberately naive, like transparency-dev/merkle's testonly/reference_test.go, so the fast
code is checked against the spec rather than against itself.
"""

from __future__ import annotations

import hashlib


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 §2.1."""
    n = len(d)
    if n == 0:
        return _h(b"")  # MTH({}) = SHA-256()
    if n == 1:
        return _h(b"\x00" + d[0])  # MTH({d(0)}) = SHA-256(0x00 || d(0))
    k = _k(n)
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))  # SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 6962 §2.1.2."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 §2.1.2, for 0 < m < n."""
    return subproof(m, d, True)
