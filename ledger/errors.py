"""Errors raised by the ledger: one root, a shallow tree, data carried as attributes.

An error a person may read (what `python -m ledger` prints) is raised with a `Message`, a
`ledger.error.<code>` key of the ledger's catalog and its parameters: `err.text(locale)` says
it in Korean or English, `err.said` is that Message (a parameter of a bigger message, put in
the same language), and `str(err)` is its English text, as before. An error raised with a
plain string (one only a programmer sees) says that string in every language.
"""

from __future__ import annotations

from ledger.messages import Message


def _at(message: str | Message, index: int | None) -> str | Message:
    """Return `message` after the index of the entry it is about, when there is one."""
    if index is None:
        return message
    if isinstance(message, Message):
        return Message.of("ledger.failed.at_index", index=index, reason=message)
    return f"index {index}: {message}"


class LedgerError(Exception):
    """Root of every error the ledger raises."""

    def __init__(self, message: str | Message = "", *args: object) -> None:
        self.said: str | Message = message if isinstance(message, Message) else str(message)
        super().__init__(str(message), *args)

    def text(self, locale: str) -> str:
        """Return what went wrong in `locale` (English when raised with a plain string)."""
        return self.said.text(locale) if isinstance(self.said, Message) else str(self)


class MalformedEntry(LedgerError):
    """An entry, leaf, key or checkpoint does not have the required shape.

    `index` is the entry's position when known; `reason` the English text without it.
    """

    def __init__(self, message: str | Message, *, index: int | None = None) -> None:
        super().__init__(_at(message, index))
        self.index = index
        self.reason = str(message)
        self.what = message  # without the index, for a caller that names the index itself


class NonCanonicalEncoding(MalformedEntry):
    """Bytes that are not the RFC 8785 canonical encoding of their own value."""


class InvalidKind(MalformedEntry):
    """An entry kind that is not a dotted lowercase name, or not in the log's closed list."""


class OutOfRange(LedgerError):
    """An index or tree size outside the log (HTTP maps this to 400)."""

    def __init__(self, message: str | Message, *, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size


class InvalidProof(LedgerError):
    """A proof that is malformed: wrong length, or index/sizes out of range."""


class RootMismatch(InvalidProof):
    """A well-formed proof or tree that leads to a different root than expected."""

    def __init__(self, *, expected: bytes, calculated: bytes, index: int | None = None) -> None:
        want, got = expected.hex(), calculated.hex()
        super().__init__(
            Message.of("ledger.error.root_mismatch", expected=want, calculated=got)
            if index is None
            else Message.of(
                "ledger.error.root_mismatch_at", size=index, expected=want, calculated=got
            )
        )
        self.expected = expected
        self.calculated = calculated
        self.index = index


class InvalidSignature(LedgerError):
    """A signature that does not verify under the key it names."""

    def __init__(self, message: str | Message, *, index: int | None = None) -> None:
        super().__init__(_at(message, index))
        self.index = index
        self.reason = str(message)


class UnknownKey(LedgerError):
    """A signature or leaf that names a key the verifier does not know (or not the current one)."""

    def __init__(self, message: str | Message, *, key: str = "", index: int | None = None) -> None:
        super().__init__(_at(message, index))
        self.key = key
        self.index = index


class BrokenChain(LedgerError):
    """An entry whose `seq` or `prev` does not continue the chain."""

    def __init__(
        self, message: str | Message, *, index: int, expected: str = "", found: str = ""
    ) -> None:
        super().__init__(_at(message, index))
        self.index = index
        self.expected = expected
        self.found = found


class InconsistentCheckpoint(LedgerError):
    """Two checkpoints (or a checkpoint and the entries) that cannot describe the same log."""

    def __init__(self, message: str | Message, *, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size


class KeyMismatch(LedgerError):
    """The key given to `Ledger.open` is not the log's current signing key."""


class LedgerClosed(LedgerError):
    """The `Ledger` was closed; no more writes are accepted."""


class NoLedger(LedgerError):
    """The database named holds no ledger (or not the log asked for): a mistyped path or URL,
    another application's database. Nothing was read; a missing SQLite file is not created."""


class DatabaseUnreachable(LedgerError):
    """The database server named cannot be connected to (down, wrong host or password)."""
