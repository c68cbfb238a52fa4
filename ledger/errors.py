"""Errors raised by the ledger: one root, a shallow tree, data carried as attributes."""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error the ledger raises."""


class MalformedEntry(LedgerError):
    """An entry, leaf, key or checkpoint does not have the required shape.

    `index` is the entry's position when known.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message if index is None else f"index {index}: {message}")
        self.index = index
        self.reason = message


class NonCanonicalEncoding(MalformedEntry):
    """Bytes that are not the RFC 8785 canonical encoding of their own value."""


class InvalidKind(MalformedEntry):
    """An entry kind that is not a dotted lowercase name, or not in the log's closed list."""


class OutOfRange(LedgerError):
    """An index or tree size outside the log (HTTP maps this to 400)."""

    def __init__(self, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size


class InvalidProof(LedgerError):
    """A proof that is malformed: wrong length, or index/sizes out of range."""


class RootMismatch(InvalidProof):
    """A well-formed proof or tree that leads to a different root than expected."""

    def __init__(self, *, expected: bytes, calculated: bytes, index: int | None = None) -> None:
        where = "" if index is None else f" at size {index}"
        super().__init__(
            f"root mismatch{where}: expected {expected.hex()}, calculated {calculated.hex()}"
        )
        self.expected = expected
        self.calculated = calculated
        self.index = index


class InvalidSignature(LedgerError):
    """A signature that does not verify under the key it names."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message if index is None else f"index {index}: {message}")
        self.index = index
        self.reason = message


class UnknownKey(LedgerError):
    """A signature or leaf that names a key the verifier does not know (or not the current one)."""

    def __init__(self, message: str, *, key: str = "", index: int | None = None) -> None:
        super().__init__(message if index is None else f"index {index}: {message}")
        self.key = key
        self.index = index


class BrokenChain(LedgerError):
    """An entry whose `seq` or `prev` does not continue the chain."""

    def __init__(self, message: str, *, index: int, expected: str = "", found: str = "") -> None:
        super().__init__(f"index {index}: {message}")
        self.index = index
        self.expected = expected
        self.found = found


class InconsistentCheckpoint(LedgerError):
    """Two checkpoints (or a checkpoint and the entries) that cannot describe the same log."""

    def __init__(self, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size


class KeyMismatch(LedgerError):
    """The key given to `Ledger.open` is not the log's current signing key."""


class LedgerClosed(LedgerError):
    """The `Ledger` was closed; no more writes are accepted."""
