"""`Ledger`: one append-only log in a database, with group commit and proofs.

Writes go through one writer thread per `Ledger`: concurrent `append`/`write`/`seal` calls
queue up, and the writer runs everything that is waiting in ONE transaction (one commit, one
fsync), each `write` callback under its own SAVEPOINT, then wakes the callers once that
transaction has committed. Inside the transaction the log's lock is taken and the head is
re-read, so the cached tree frontier stays right when another process appended meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine

from ledger import store
from ledger.batch import Appender
from ledger.batch import Cached
from ledger.batch import LogInfo
from ledger.batch import Receipt
from ledger.batch import State
from ledger.canonical import JSON
from ledger.checkpoint import Checkpoint
from ledger.checkpoint import format_checkpoint
from ledger.entry import check_kind
from ledger.errors import DatabaseUnreachable
from ledger.errors import InvalidKind
from ledger.errors import KeyMismatch
from ledger.errors import LedgerError
from ledger.errors import NoLedger
from ledger.errors import OutOfRange
from ledger.hashing import Hash
from ledger.keys import LedgerKey
from ledger.messages import Message
from ledger.proof import prove_consistency
from ledger.proof import prove_inclusion
from ledger.proof import tree_root
from ledger.tree import frontier_subtrees
from ledger.tree import stored_hash_index
from ledger.writer import GroupCommit

T = TypeVar("T")
Clock = Callable[[], datetime]
MAX_PAGE = 1_000  # entries per `entries()` call


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Block:
    """A sealed range of entries [start, end) and the checkpoint signed for size `end`."""

    number: int
    start: int
    end: int
    root: Hash
    checkpoint_text: str
    sealed_at: datetime


class Ledger:
    """One log: append entries, seal blocks, serve proofs and exports. Thread-safe."""

    def __init__(
        self,
        engine: Engine,
        log_id: int,
        key: LedgerKey | None,
        origin: str,
        *,
        kinds: Collection[str] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """Use `Ledger.open`; this constructor expects tables and the log row to exist."""
        self.engine, self.log_id, self.origin = engine, log_id, origin
        self.kinds = None if kinds is None else frozenset(kinds)
        self.clock = clock
        self._keys: dict[str, LedgerKey] = {} if key is None else {key.vkey: key}
        self._cached: Cached | None = None
        self._accepted: set[str] = set()
        self._info = LogInfo(log_id, origin, clock, self.check_kind)
        self._commit = GroupCommit(
            engine, self._lock_writer, self._publish, f"ledger-writer-{log_id}"
        )

    @classmethod
    def open(
        cls,
        url: str | Engine,
        key: LedgerKey,
        origin: str,
        *,
        kinds: Collection[str] | None = None,
        clock: Clock = utc_now,
    ) -> Ledger:
        """Open (creating tables and the log when missing) the log `origin` at `url`.

        `kinds`, when given, is the closed list of entry kinds `append` accepts. `clock`
        returns the aware datetime stamped on entries and blocks.

        Raises:
            KeyMismatch: the log's current signing key is not `key` (it was rotated).
        """
        format_checkpoint(origin, 0, bytes(32))  # validates the origin line
        engine = url if isinstance(url, Engine) else store.make_engine(url)
        try:
            store.create_tables(engine)
            log_id, head = _ensure(engine, origin, key.vkey)
            if head.current_vkey != key.vkey:
                current = "+".join(head.current_vkey.split("+")[:2])
                raise KeyMismatch(f"log {origin} is now signed by {current}, not {key.key_id}")
        except BaseException:
            if engine is not url:
                engine.dispose()
            raise
        return cls(engine, log_id, key, origin, kinds=kinds, clock=clock)

    @classmethod
    def open_reader(cls, url: str | Engine, origin: str | None = None) -> Ledger:
        """Open an existing log for reading, proofs and export only (no key needed).

        With `origin` None the database must hold exactly one log. Nothing is created: a
        SQLite file that is not there is refused before connecting (SQLite would create it).

        Raises:
            NoLedger: not a database URL, no such SQLite file, no ledger tables, no such log
                (or several and no origin).
            DatabaseUnreachable: the database cannot be connected to.
        """
        if isinstance(url, Engine):
            engine = url
        else:
            store.reader_url(url)
            try:
                engine = store.make_engine(url)
            except sa.exc.ArgumentError as err:  # e.g. an unknown dialect ("postgres://")
                shown = sa.make_url(url).render_as_string(hide_password=True)
                raise NoLedger(Message.of("ledger.error.db_not_url", db=shown)) from err
        shown = engine.url.render_as_string(hide_password=True)
        try:
            try:
                conn = engine.connect()
            except sa.exc.DBAPIError as err:
                if engine.dialect.name == "sqlite" and isinstance(err, sa.exc.DatabaseError):
                    raise NoLedger(Message.of("ledger.error.db_no_ledger", db=shown)) from err
                detail = " ".join(str(err.orig).split()) or type(err.orig).__name__
                raise DatabaseUnreachable(
                    Message.of("ledger.error.db_unreachable", db=shown, detail=detail)
                ) from err
            with conn:
                if not sa.inspect(conn).has_table(store.logs.name):
                    raise NoLedger(Message.of("ledger.error.db_no_ledger", db=shown))
                log_id = store.find_log(conn, origin)
                name = conn.execute(
                    sa.select(store.logs.c.origin).where(store.logs.c.id == log_id)
                ).scalar_one()
        except BaseException:
            if engine is not url:
                engine.dispose()
            raise
        return cls(engine, log_id, None, str(name))

    # -- writing -------------------------------------------------------------------------

    def append(
        self,
        kind: str,
        actor: str,
        round: str | None,
        body: JSON,
        *,
        dedup_key: str | None = None,
        conn: Connection | None = None,
    ) -> Receipt:
        """Append one entry and return its Receipt once it is committed.

        With `dedup_key`, an earlier entry appended with the same key is returned (marked
        `duplicate`) instead of adding another. With `conn`, the entry joins the caller's
        open transaction instead (the caller commits; the log stays locked until then; on
        SQLite begin that transaction with `log.begin_write()`).

        Raises:
            InvalidKind: a malformed kind, one outside `kinds`, or a `ledger.*` kind.
            MalformedEntry: a body that is not canonical JSON (floats, huge integers...).
        """
        self.check_kind(kind)
        if conn is not None:
            return self._append_in(conn, kind, actor, round, body, dedup_key)
        result: Receipt = self._call(
            lambda c, state: state.append(kind, actor, round, body, dedup_key), savepoint=False
        )
        return result

    def append_async(
        self, kind: str, actor: str, round: str | None, body: JSON, *, dedup_key: str | None = None
    ) -> Future[Receipt]:
        """Queue an append and return a Future that resolves after its commit."""
        self.check_kind(kind)
        return self._submit(
            lambda c, state: state.append(kind, actor, round, body, dedup_key), savepoint=False
        )

    def append_many(self, items: Iterable[tuple[str, str, str | None, JSON]]) -> list[Receipt]:
        """Append several entries atomically in one transaction (the bulk path)."""
        batch = list(items)
        for kind, *_ in batch:
            self.check_kind(kind)
        result: list[Receipt] = self._call(
            lambda c, state: [state.append(k, a, r, b) for k, a, r, b in batch],
            savepoint=False,
        )
        return result

    def write(self, fn: Callable[[Connection, Appender], T], *, savepoint: bool = True) -> T:
        """Run `fn(conn, appender)` in the ledger's write transaction; return its result.

        `fn` runs on the writer thread under a SAVEPOINT: if it raises, only its own work
        (projection rows and appends) is rolled back and the exception is raised here. The
        result is returned once the transaction holding it has committed. `fn` must not
        call this Ledger's `append`/`write`/`seal` (use `appender`), and must be quick.

        `savepoint=False` saves the SAVEPOINT and its RELEASE for an `fn` that raises only
        before it wrote anything (its appends are still undone); a database error in it fails
        the whole group commit (every request in it gets the error).
        """
        result: T = self._call(lambda conn, state: fn(conn, Appender(state)), savepoint=savepoint)
        return result

    def seal(self) -> Checkpoint | None:
        """Seal a block if the log grew since the last one; return the newest Checkpoint.

        Returns None when the log is empty.
        """
        sealed: Checkpoint | None = self._call(lambda c, state: state.seal(), savepoint=False)
        return sealed if sealed is not None else self.checkpoint()

    def rotate(self, new_key: LedgerKey) -> Receipt:
        """Append `ledger.key_rotated` naming `new_key`, signed by the current key.

        Later entries and checkpoints are signed by `new_key`.
        """
        self._keys[new_key.vkey] = new_key
        result: Receipt = self._call(lambda c, state: state.rotate(new_key), savepoint=False)
        return result

    def begin_write(self) -> Connection:
        """Return a new Connection whose transaction will begin as a writer.

        Use as `with log.begin_write() as conn, conn.begin(): ... log.append(..., conn=conn)`.
        """
        conn = self.engine.connect()
        conn.execution_options(**{store.WRITE_OPTION: True})
        return conn

    def close(self) -> None:
        """Finish queued writes, stop the writer thread and dispose of the engine."""
        self._commit.close()
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_kind(self, kind: str) -> None:
        """Check that `append` accepts `kind` (remembering the kinds already accepted).

        Raises:
            InvalidKind: a malformed kind, one outside `kinds`, or a `ledger.*` kind.
        """
        if kind in self._accepted:
            return
        check_kind(kind, self.kinds)
        _check_not_reserved(kind)
        if len(self._accepted) < 1_000:
            self._accepted.add(kind)

    # -- reading -------------------------------------------------------------------------

    def size(self) -> int:
        """Return the number of committed entries."""
        with self.engine.connect() as conn:
            return store.read_head(conn, self.log_id).size

    def checkpoint(self) -> Checkpoint | None:
        """Return the Checkpoint of the newest block, or None before the first seal."""
        with self.engine.connect() as conn:
            last = self._last_block(conn)
        if last is None:
            return None
        return Checkpoint(self.origin, last.end, last.root, last.checkpoint, last.number)

    def blocks(self, start: int = 0, limit: int = 100) -> list[Block]:
        """Return up to `limit` blocks numbered `start` and up, oldest first."""
        with self.engine.connect() as conn:
            rows = store.read_blocks(conn, self.log_id, start, limit)
        return [_public_block(row) for row in rows]

    def block_of(self, index: int) -> Block | None:
        """Return the block that sealed entry `index`, or None if not sealed yet."""
        with self.engine.connect() as conn:
            row = store.block_containing(conn, self.log_id, index)
        return None if row is None else _public_block(row)

    def entries(self, start: int, end: int) -> list[bytes]:
        """Return leaves [start, min(end, start + 1000)), exactly the bytes that were hashed.

        Raises:
            OutOfRange: start < 0, end < start, or start beyond the log.
        """
        with self.engine.connect() as conn:
            size = store.read_head(conn, self.log_id).size
            if not 0 <= start <= end or start > size:
                raise OutOfRange(f"no entries [{start}, {end}) in a log of {size}", size=size)
            return store.read_leaves(conn, self.log_id, start, min(end, size, start + MAX_PAGE))

    def find(self, leaf_hash: bytes) -> int | None:
        """Return the index of the entry with this leaf hash, or None."""
        with self.engine.connect() as conn:
            return store.find_leaf(conn, self.log_id, leaf_hash)

    def root(self, size: int | None = None) -> Hash:
        """Return the Merkle root of the first `size` entries (default: all of them)."""
        with self.engine.connect() as conn:
            current = store.read_head(conn, self.log_id).size
            size = current if size is None else size
            _check_size(size, current)
            return tree_root(size, self._reader(conn))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return the RFC 9162 inclusion path of entry `index` in the tree of `size`.

        Reads O(log size) stored hashes in one query.

        Raises:
            OutOfRange: not 0 <= index < size <= the log's size.
        """
        with self.engine.connect() as conn:
            current = store.read_head(conn, self.log_id).size
            _check_size(size, current)
            if not 0 <= index < size:
                raise OutOfRange(f"index {index} is not in a tree of size {size}", size=current)
            return list(prove_inclusion(index, size, self._reader(conn)))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Return the RFC 9162 consistency proof from tree `old_size` to tree `new_size`.

        Raises:
            OutOfRange: not 0 <= old_size <= new_size <= the log's size.
        """
        with self.engine.connect() as conn:
            current = store.read_head(conn, self.log_id).size
            _check_size(new_size, current)
            if not 0 <= old_size <= new_size:
                raise OutOfRange(f"sizes {old_size} > {new_size}", size=current)
            return list(prove_consistency(old_size, new_size, self._reader(conn)))

    def vkeys(self) -> list[str]:
        """Return the initial verifier key, then every key rotated to, in order."""
        with self.engine.connect() as conn:
            return [vkey for _, vkey in store.read_keys(conn, self.log_id)]

    def export(self, directory: str | Path) -> Checkpoint | None:
        """Seal (when this Ledger holds a key) and write the export directory.

        Writes `entries.jsonl` (one leaf per line, up to the newest checkpoint), `checkpoint`,
        `checkpoints/<block>.txt` and `vkey` (the initial verifier key).
        """
        from ledger.export import export_log

        if self._keys:
            self.seal()
        return export_log(self.engine, self.log_id, self.origin, Path(directory))

    # -- internals -----------------------------------------------------------------------

    def _reader(self, conn: Connection) -> Callable[[Any], list[Hash]]:
        return lambda indices: store.read_hashes(conn, self.log_id, indices)

    def _last_block(self, conn: Connection) -> store.BlockRecord | None:
        found = store.read_blocks(conn, self.log_id, last=True)
        return found[0] if found else None

    def _lock_writer(self, conn: Connection) -> State:
        return self._lock(conn, immediate=True)  # the writer's transactions begin as writers

    def _lock(self, conn: Connection, *, immediate: bool = False) -> State:
        head = store.lock(conn, self.log_id, immediate=immediate)
        cached = self._cached
        if cached is None or (cached.size, cached.head_hash) != (head.size, head.head_hash):
            subtrees = frontier_subtrees(head.size)
            indices = [stored_hash_index(level, k) for level, k in subtrees]
            frontier = store.read_hashes(conn, self.log_id, indices)
            cached = Cached(head.size, head.head_hash, tuple(frontier))
        key = self._keys.get(head.current_vkey)
        if key is None:
            raise KeyMismatch(f"log {self.origin} is signed by a key this process does not hold")
        return State(self._info, conn, cached, key)

    def _append_in(
        self,
        conn: Connection,
        kind: str,
        actor: str,
        round: str | None,
        body: JSON,
        dedup_key: str | None,
    ) -> Receipt:
        if self._commit.is_writer():
            raise LedgerError("a write callback must append through its appender, not the log")
        state = self._lock(conn)
        receipt = state.append(kind, actor, round, body, dedup_key)
        self._cached = state.flush()  # re-checked against the head by the next writer
        return receipt

    def _call(self, op: Callable[[Connection, State], T], *, savepoint: bool) -> T:
        return self._commit.call(op, savepoint=savepoint)

    def _submit(self, op: Callable[[Connection, State], T], *, savepoint: bool) -> Future[T]:
        return self._commit.submit(op, savepoint=savepoint)

    def _publish(self, cached: Cached | None) -> None:
        self._cached = cached


def _ensure(engine: Engine, origin: str, vkey: str) -> tuple[int, store.Head]:
    for attempt in range(2):
        try:
            with engine.connect() as conn:
                conn.execution_options(**{store.WRITE_OPTION: True})
                with conn.begin():
                    log_id = store.ensure_log(conn, origin, vkey)
                    return log_id, store.read_head(conn, log_id)
        except sa.exc.IntegrityError:  # another process created the same log just now
            if attempt:
                raise
    raise AssertionError("unreachable")


def _check_not_reserved(kind: str) -> None:
    if kind.startswith("ledger."):
        raise InvalidKind(f"kind {kind!r} is reserved for the ledger itself")


def _check_size(size: int, current: int) -> None:
    if not 0 <= size <= current:
        raise OutOfRange(f"tree size {size} is not within the log's {current}", size=current)


def _public_block(row: store.BlockRecord) -> Block:
    return Block(row.number, row.start, row.end, row.root, row.checkpoint, row.sealed_at)
