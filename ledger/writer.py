"""Group commit: one writer thread per `Ledger` runs every queued write in one transaction.

Callers queue a request (an operation on the transaction's `State`) and wait on a Future.
The writer takes everything waiting, opens one write transaction, takes the log's lock,
applies each request (a `write` callback under its own SAVEPOINT), flushes all rows with
executemany, commits once (one fsync), and only then resolves the Futures.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ledger import store
from ledger.batch import Cached
from ledger.batch import State
from ledger.errors import LedgerClosed
from ledger.errors import LedgerError

T = TypeVar("T")
MAX_BATCH = 2_000  # requests per group-commit transaction
LINGER_S = 0.001  # how long a group commit waits for the writers the previous one woke


@dataclass(slots=True)
class Request:
    op: Callable[[Connection, State], Any]
    savepoint: bool
    future: Future[Any]


class GroupCommit:
    """The writer thread of one Ledger (started on first use)."""

    def __init__(
        self,
        engine: Engine,
        begin: Callable[[Connection], State],
        publish: Callable[[Cached | None], None],
        name: str,
    ) -> None:
        """`begin` locks the log in a transaction and returns its State; `publish` receives
        the head after each commit (None after a failed one)."""
        self._engine, self._begin, self._publish, self._name = engine, begin, publish, name
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._closed = False
        self._start_lock = threading.Lock()
        self._writer: threading.Thread | None = None

    def is_writer(self) -> bool:
        """Return True on the writer thread itself (where waiting on a write would deadlock)."""
        return threading.current_thread() is self._writer

    def call(self, op: Callable[[Connection, State], T], *, savepoint: bool) -> T:
        """Queue `op` and return its result once its transaction has committed."""
        if self.is_writer():
            raise LedgerError("a write callback must append through its appender, not the log")
        result: T = self.submit(op, savepoint=savepoint).result()
        return result

    def submit(self, op: Callable[[Connection, State], T], *, savepoint: bool) -> Future[T]:
        """Queue `op`; the Future resolves after the commit."""
        future: Future[T] = Future()
        with self._start_lock:
            if self._closed:
                raise LedgerClosed("this Ledger is closed")
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name=self._name,
                                                daemon=True)  # fmt: skip
                self._writer.start()
            self._queue.put(Request(op, savepoint, future))
        return future

    def close(self) -> None:
        """Finish what is queued and stop the thread."""
        with self._start_lock:
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(None)
            writer.join()

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

    def _drain_into(self, batch: list[Request]) -> bool:
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

    def _run(self, batch: list[Request]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{store.WRITE_OPTION: True})
                with conn.begin():
                    state = self._begin(conn)
                    outcomes = [apply(conn, state, request) for request in batch]
                    cached = state.flush()
            self._publish(cached)
        except Exception as err:  # the transaction failed: none of the batch took effect
            self._publish(None)
            for request in batch:
                request.future.set_exception(err)
            return
        for request, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                request.future.set_result(value)
            else:
                request.future.set_exception(value)


def apply(conn: Connection, state: State, request: Request) -> tuple[bool, Any]:
    mark = state.mark()
    if not request.savepoint:
        try:
            return True, request.op(conn, state)
        except SQLAlchemyError:  # the transaction may be unusable: the whole batch fails
            raise
        except Exception as err:  # raised before the op wrote anything: undo its appends
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
