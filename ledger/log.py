"""`Ledger`: one append-only log in a database, with group commit and proofs.

Writes go through one writer thread per `Ledger`: concurrent `append`/`write`/`seal` calls
queue up, and the writer runs everything that is waiting in ONE transaction (one commit, one
fsync), each `write` callback under its own SAVEPOINT, then wakes the callers once that
transaction has committed. Inside the transaction the log's lock is taken and the head is
re-read, so the cached tree frontier stays right when another process appended meanwhile.
"""

from __future__ import annotations

import queue
import threading
import time
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
from ledger.canonical import JSON
from ledger.checkpoint import Checkpoint
from ledger.checkpoint import format_checkpoint
from ledger.checkpoint import sign_checkpoint
from ledger.entry import ROTATION_KIND
from ledger.entry import ZERO_PREV
from ledger.entry import check_content
from ledger.entry import check_kind
from ledger.entry import entry_object
from ledger.entry import format_ts
from ledger.entry import sign_entry
from ledger.errors import InvalidKind
from ledger.errors import KeyMismatch
from ledger.errors import LedgerClosed
from ledger.errors import LedgerError
from ledger.errors import OutOfRange
from ledger.hashing import Hash
from ledger.keys import LedgerKey
from ledger.proof import prove_consistency
from ledger.proof import prove_inclusion
from ledger.proof import tree_root
from ledger.tree import append_leaf
from ledger.tree import frontier_subtrees
from ledger.tree import root_of_frontier
from ledger.tree import stored_hash_index

T = TypeVar("T")
Clock = Callable[[], datetime]
MAX_BATCH = 2_000  # requests per group-commit transaction
MAX_PAGE = 1_000  # entries per `entries()` call
LINGER_S = 0.001  # how long a half-empty group commit waits for the writers it just woke


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where an entry landed. `duplicate` is True when `dedup_key` found an earlier entry."""

    index: int
    leaf_hash: Hash
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Block:
    """A sealed range of entries [start, end) and the checkpoint signed for size `end`."""

    number: int
    start: int
    end: int
    root: Hash
    checkpoint_text: str
    sealed_at: datetime


@dataclass(frozen=True, slots=True)
class _Cached:
    size: int
    head_hash: Hash | None
    frontier: tuple[Hash, ...]


class _State:
    """The log inside one locked write transaction: appends are buffered, then flushed."""

    def __init__(self, log: Ledger, conn: Connection, cached: _Cached, key: LedgerKey) -> None:
        self.log, self.conn, self.key = log, conn, key
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
        self, kind: str, actor: str, round: str | None, body: JSON, dedup_key: str | None = None
    ) -> Receipt:
        if dedup_key is not None:
            found = self.dedup.get(dedup_key)
            if found is None:
                row = store.find_dedup(self.conn, self.log.log_id, dedup_key)
                found = None if row is None else Receipt(row[0], row[1], True)
            if found is not None:
                return Receipt(found.index, found.leaf_hash, True)
        prev = ZERO_PREV if self.head_hash is None else self.head_hash.hex()
        check_content(actor, round, body)  # the kind was checked by the caller
        ts = format_ts(self.log.clock())
        entry = entry_object(self.size, ts, kind, actor, round, body, prev)
        leaf, leaf_hash = sign_entry(entry, self.key)
        log_id = self.log.log_id
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
        last = self.blocks[-1] if self.blocks else self.log._last_block(self.conn)
        end = 0 if last is None else last.end
        if self.size == end:
            return None
        root = root_of_frontier(self.frontier)
        text = sign_checkpoint(format_checkpoint(self.log.origin, self.size, root), self.key)
        number = 1 if last is None else last.number + 1
        sealed_at = self.log.clock().astimezone(UTC)
        self.blocks.append(store.BlockRecord(number, end, self.size, root, text, sealed_at))
        return Checkpoint(self.log.origin, self.size, root, text, number)

    def flush(self) -> _Cached:
        store.insert_entries(self.conn, self.entry_rows)
        store.insert_hashes(self.conn, self.hash_rows)
        for block in self.blocks:
            store.insert_block(self.conn, self.log.log_id, block)
        for since, vkey in self.rotations:
            store.insert_key(self.conn, self.log.log_id, since, vkey)
        if self.entry_rows:
            assert self.head_hash is not None
            store.write_head(self.conn, self.log.log_id, self.size, self.head_hash, self.key.vkey)
        return _Cached(self.size, self.head_hash, tuple(self.frontier))


class Appender:
    """What a `Ledger.write` callback appends through; valid only during that callback."""

    def __init__(self, state: _State) -> None:
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
    ) -> Receipt:
        """Append an entry in the caller's transaction; see `Ledger.append`."""
        self._state.log.check_kind(kind)
        return self._state.append(kind, actor, round, body, dedup_key)


@dataclass(slots=True)
class _Request:
    op: Callable[[Connection, _State], Any]
    savepoint: bool
    future: Future[Any]


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
        self._cached: _Cached | None = None
        self._accepted: set[str] = set()
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._closed = False
        self._start_lock = threading.Lock()
        self._writer: threading.Thread | None = None

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

        With `origin` None the database must hold exactly one log.
        """
        engine = url if isinstance(url, Engine) else store.make_engine(url)
        try:
            with engine.connect() as conn:
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

    def write(self, fn: Callable[[Connection, Appender], T]) -> T:
        """Run `fn(conn, appender)` in the ledger's write transaction; return its result.

        `fn` runs on the writer thread under a SAVEPOINT: if it raises, only its own work
        (projection rows and appends) is rolled back and the exception is raised here. The
        result is returned once the transaction holding it has committed. `fn` must not
        call this Ledger's `append`/`write`/`seal` (use `appender`), and must be quick.
        """
        result: T = self._call(lambda conn, state: fn(conn, Appender(state)), savepoint=True)
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
        with self._start_lock:
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(None)
            writer.join()
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

    def _lock(self, conn: Connection) -> _State:
        head = store.lock(conn, self.log_id)
        cached = self._cached
        if cached is None or (cached.size, cached.head_hash) != (head.size, head.head_hash):
            subtrees = frontier_subtrees(head.size)
            indices = [stored_hash_index(level, k) for level, k in subtrees]
            frontier = store.read_hashes(conn, self.log_id, indices)
            cached = _Cached(head.size, head.head_hash, tuple(frontier))
        key = self._keys.get(head.current_vkey)
        if key is None:
            raise KeyMismatch(f"log {self.origin} is signed by a key this process does not hold")
        return _State(self, conn, cached, key)

    def _append_in(
        self,
        conn: Connection,
        kind: str,
        actor: str,
        round: str | None,
        body: JSON,
        dedup_key: str | None,
    ) -> Receipt:
        self._check_not_writer()
        state = self._lock(conn)
        receipt = state.append(kind, actor, round, body, dedup_key)
        self._cached = state.flush()  # re-checked against the head by the next writer
        return receipt

    def _call(self, op: Callable[[Connection, _State], T], *, savepoint: bool) -> T:
        self._check_not_writer()
        result: T = self._submit(op, savepoint=savepoint).result()
        return result

    def _submit(self, op: Callable[[Connection, _State], T], *, savepoint: bool) -> Future[T]:
        future: Future[T] = Future()
        with self._start_lock:
            if self._closed:
                raise LedgerClosed("this Ledger is closed")
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name=f"ledger-writer-{self.log_id}", daemon=True
                )
                self._writer.start()
            self._queue.put(_Request(op, savepoint, future))
        return future

    def _check_not_writer(self) -> None:
        if threading.current_thread() is self._writer:
            raise LedgerError("a write callback must append through its appender, not the log")

    def _write_loop(self) -> None:
        last = 1  # size of the previous batch: a hint that more writers are on their way
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = self._drain_into(batch)
            if not stop and len(batch) < last:
                # Writers woken by the previous commit are still coming back: wait a moment
                # so they share this commit instead of each paying for one.
                time.sleep(LINGER_S)
                stop = self._drain_into(batch)
            last = len(batch)
            self._run(batch)
            if stop:
                return

    def _drain_into(self, batch: list[_Request]) -> bool:
        """Move waiting requests into `batch`; return True if the stop marker was seen."""
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _run(self, batch: list[_Request]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{store.WRITE_OPTION: True})
                with conn.begin():
                    state = self._lock(conn)
                    outcomes = [_apply(conn, state, request) for request in batch]
                    cached = state.flush()
            self._cached = cached
        except Exception as err:  # the transaction failed: none of the batch took effect
            self._cached = None
            for request in batch:
                request.future.set_exception(err)
            return
        for request, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                request.future.set_result(value)
            else:
                request.future.set_exception(value)


def _apply(conn: Connection, state: _State, request: _Request) -> tuple[bool, Any]:
    mark = state.mark()
    if not request.savepoint:
        try:
            return True, request.op(conn, state)
        except LedgerError as err:  # raised before anything reached the database
            state.reset(mark)
            return False, err
    savepoint = conn.begin_nested()
    try:
        value = request.op(conn, state)
    except BaseException as err:  # the caller's exception: undo only the caller's work
        savepoint.rollback()
        state.reset(mark)
        return False, err
    savepoint.commit()
    return True, value


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
