"""Small Protocols the service needs from the outside, declared here where they are consumed.

Implemented by ``ledger`` (the appender handed to ``Ledger.write`` callbacks) and ``gateway``
(the clock). Transactions: everything a ``Ledger.write`` callback does on its connection and
through its appender commits together or not at all; the ledger serializes writers, so state
read inside the callback cannot change before the commit, and a callback that raises leaves
no trace (its savepoint is rolled back) and the error reaches the caller unchanged.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from participation.domain.events import JSON


class ReceiptLike(Protocol):
    """What an append returns: the entry's index and its RFC 6962 leaf hash."""

    @property
    def index(self) -> int: ...

    @property
    def leaf_hash(self) -> bytes: ...


class Appender(Protocol):
    """Appends one entry inside the current write transaction.

    ``dedup_key``: a second append with the same key returns the first receipt, no new entry.
    ``new_key``: the caller knows no entry has ``dedup_key`` yet (it checked under the lock).
    """

    def append(
        self,
        kind: str,
        actor: str,
        round: str | None,
        body: dict[str, JSON],
        dedup_key: str | None = None,
        new_key: bool = False,
    ) -> ReceiptLike: ...


class Clock(Protocol):
    """Returns the current time as an aware datetime (UTC)."""

    def __call__(self) -> dt.datetime: ...
