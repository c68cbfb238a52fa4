"""The log inside one locked write transaction: appends are buffered, then flushed at once.

`State` holds the head (size, last leaf hash, tree frontier, signing key) as it evolves
through the transaction, and the rows to insert; `mark`/`reset` undo one caller's part when
its SAVEPOINT is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from ledger import store
from ledger.canonical import JSON
from ledger.checkpoint import Checkpoint
from ledger.checkpoint import format_checkpoint
from ledger.checkpoint import sign_checkpoint
from ledger.entry import ROTATION_KIND
from ledger.entry import ZERO_PREV
from ledger.entry import check_content
from ledger.entry import entry_object
from ledger.entry import format_ts
from ledger.entry import sign_entry
from ledger.errors import MalformedEntry
from ledger.hashing import Hash
from ledger.keys import LedgerKey
from ledger.tree import append_leaf
from ledger.tree import root_of_frontier


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where an entry landed. `duplicate` is True when `dedup_key` found an earlier entry."""

    index: int
    leaf_hash: Hash
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class LogInfo:
    """What a transaction needs to know about its log."""

    log_id: int
    origin: str
    clock: Callable[[], datetime]
    check_kind: Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Cached:
    """The head of the log as last committed by this process."""

    size: int
    head_hash: Hash | None
    frontier: tuple[Hash, ...]


class State:
    """The log inside one locked write transaction: appends are buffered, then flushed."""

    def __init__(self, info: LogInfo, conn: Connection, cached: Cached, key: LedgerKey) -> None:
        self.info, self.conn, self.key = info, conn, key
        self.size, self.head_hash, self.frontier = (
            cached.size,
            cached.head_hash,
            list(cached.frontier),
        )
        self.entry_rows: list[tuple[int, int, bytes, bytes, str | None]] = []
        self.hash_rows: list[tuple[int, int, bytes]] = []
        self.blocks: list[store.BlockRecord] = []
        self.rotations: list[tuple[int, str]] = []
        self.dedup: dict[str, Receipt] = {}

    def mark(self) -> tuple[Any, ...]:
        return (self.size, self.head_hash, list(self.frontier), self.key, len(self.entry_rows),
                len(self.hash_rows), len(self.blocks), dict(self.dedup),
                len(self.rotations))  # fmt: skip

    def reset(self, mark: tuple[Any, ...]) -> None:
        self.size, self.head_hash, self.frontier, self.key = mark[:4]
        del self.entry_rows[mark[4] :], self.hash_rows[mark[5] :], self.blocks[mark[6] :]
        self.dedup = mark[7]
        del self.rotations[mark[8] :]

    def append(
        self,
        kind: str,
        actor: str,
        round: str | None,
        body: JSON,
        dedup_key: str | None = None,
        new_key: bool = False,
    ) -> Receipt:
        if dedup_key is not None:
            if not isinstance(dedup_key, str) or not 0 < len(dedup_key) <= store.DEDUP_KEY_MAX:
                raise MalformedEntry(f"dedup_key must be 1..{store.DEDUP_KEY_MAX} characters")
            found = self.dedup.get(dedup_key)
            if found is None and not new_key:
                row = store.find_dedup(self.conn, self.info.log_id, dedup_key)
                found = None if row is None else Receipt(row[0], row[1], True)
            if found is not None:
                return Receipt(found.index, found.leaf_hash, True)
        prev = ZERO_PREV if self.head_hash is None else self.head_hash.hex()
        check_content(actor, round, body)  # the kind was checked by the caller
        ts = format_ts(self.info.clock())
        entry = entry_object(self.size, ts, kind, actor, round, body, prev)
        leaf, leaf_hash = sign_entry(entry, self.key)
        log_id = self.info.log_id
        for idx, h in append_leaf(self.frontier, self.size, leaf_hash):
            self.hash_rows.append((log_id, idx, h))
        self.entry_rows.append((log_id, self.size, leaf, leaf_hash, dedup_key))
        receipt = Receipt(self.size, leaf_hash)
        if dedup_key is not None:
            self.dedup[dedup_key] = receipt
        self.size, self.head_hash = self.size + 1, leaf_hash
        return receipt

    def rotate(self, new_key: LedgerKey) -> Receipt:
        receipt = self.append(ROTATION_KIND, "ledger", None, {"vkey": new_key.vkey})
        self.key = new_key  # the rotation entry itself is signed by the old key
        self.rotations.append((self.size, new_key.vkey))
        return receipt

    def seal(self) -> Checkpoint | None:
        last = self.blocks[-1] if self.blocks else _last_block(self.conn, self.info.log_id)
        end = 0 if last is None else last.end
        if self.size == end:
            return None
        root = root_of_frontier(self.frontier)
        text = sign_checkpoint(format_checkpoint(self.info.origin, self.size, root), self.key)
        number = 1 if last is None else last.number + 1
        sealed_at = self.info.clock().astimezone(UTC)
        self.blocks.append(store.BlockRecord(number, end, self.size, root, text, sealed_at))
        return Checkpoint(self.info.origin, self.size, root, text, number)

    def flush(self) -> Cached:
        store.insert_entries(self.conn, self.entry_rows)
        store.insert_hashes(self.conn, self.hash_rows)
        for block in self.blocks:
            store.insert_block(self.conn, self.info.log_id, block)
        for since, vkey in self.rotations:
            store.insert_key(self.conn, self.info.log_id, since, vkey)
        if self.entry_rows:
            assert self.head_hash is not None
            store.write_head(self.conn, self.info.log_id, self.size, self.head_hash, self.key.vkey)
        return Cached(self.size, self.head_hash, tuple(self.frontier))


class Appender:
    """What a `Ledger.write` callback appends through; valid only during that callback."""

    def __init__(self, state: State) -> None:
        self._state = state

    @property
    def size(self) -> int:
        """Return the log size including what this transaction appended so far."""
        return self._state.size

    def append(
        self,
        kind: str,
        actor: str,
        round: str | None,
        body: JSON,
        *,
        dedup_key: str | None = None,
        new_key: bool = False,
    ) -> Receipt:
        """Append an entry in the caller's transaction; see `Ledger.append`.

        `new_key`: the caller knows that no committed entry has `dedup_key` (it checked
        something written with every such entry, in this locked transaction), so the
        lookup is skipped; the unique constraint on the key still guards the commit.
        """
        self._state.info.check_kind(kind)
        return self._state.append(kind, actor, round, body, dedup_key, new_key)


def _last_block(conn: Connection, log_id: int) -> store.BlockRecord | None:
    found = store.read_blocks(conn, log_id, last=True)
    return found[0] if found else None
