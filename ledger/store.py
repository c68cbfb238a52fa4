"""Storage of logs, entries, stored tree hashes and blocks through SQLAlchemy 2.

The one module of the ledger that does IO. Tables are prefixed `ledger_`; `metadata` is
exported so that the runtime's Alembic migrations include them. Every method takes the
`Connection` of the caller's transaction: the `Ledger` decides where transactions begin and
end. Writers call `lock` first: on PostgreSQL it locks the log's head row (`SELECT ... FOR
UPDATE`), on SQLite the write transaction was opened with `BEGIN IMMEDIATE` (see
`make_engine`), so appends from several processes serialize instead of deadlocking.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.pool import StaticPool

from ledger.errors import LedgerError
from ledger.errors import NoLedger
from ledger.hashing import Hash
from ledger.messages import Message

WRITE_OPTION = "ledger_write"  # execution option: open this SQLite transaction as a writer
SINGLE_READ_OPTION = "ledger_single_read"  # execution option: no BEGIN on SQLite (single_read)
BUSY_TIMEOUT_MS = 60_000
DEDUP_KEY_MAX = 200
EntryTuple = tuple[int, int, bytes, bytes, str | None]  # log_id, seq, leaf, leaf_hash, dedup_key


class Base(DeclarativeBase):
    pass


metadata = Base.metadata


class LogRow(Base):
    """The head of one log: its size, last leaf hash and keys."""

    __tablename__ = "ledger_logs"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(sa.String(255), unique=True)
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    head_hash: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32), nullable=True)
    initial_vkey: Mapped[str] = mapped_column(sa.Text)
    current_vkey: Mapped[str] = mapped_column(sa.Text)


class EntryRow(Base):
    """One leaf: the exact bytes that were hashed, and its hash."""

    __tablename__ = "ledger_entries"
    log_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_logs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    leaf: Mapped[bytes] = mapped_column(sa.LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    dedup_key: Mapped[str | None] = mapped_column(sa.String(DEDUP_KEY_MAX), nullable=True)
    __table_args__ = (
        sa.UniqueConstraint("log_id", "dedup_key", name="ledger_entries_dedup"),
        sa.Index("ledger_entries_leaf_hash", "log_id", "leaf_hash"),
    )


class HashRow(Base):
    """The hash of one complete subtree, at its `tree.stored_hash_index` position."""

    __tablename__ = "ledger_hashes"
    log_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_logs.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))


class BlockRow(Base):
    """A sealed block: entries [start_seq, end_seq) and the checkpoint signed for end_seq."""

    __tablename__ = "ledger_blocks"
    log_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_logs.id"), primary_key=True)
    number: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    start_seq: Mapped[int] = mapped_column(sa.BigInteger)
    end_seq: Mapped[int] = mapped_column(sa.BigInteger)
    root: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    checkpoint: Mapped[str] = mapped_column(sa.Text)
    sealed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    __table_args__ = (sa.Index("ledger_blocks_end", "log_id", "end_seq"),)


class KeyRow(Base):
    """A signing key of the log and the first entry it signs (0, or the rotation + 1)."""

    __tablename__ = "ledger_keys"
    log_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_logs.id"), primary_key=True)
    since_seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    vkey: Mapped[str] = mapped_column(sa.Text)


logs = metadata.tables["ledger_logs"]
keys = metadata.tables["ledger_keys"]
entries = metadata.tables["ledger_entries"]
hashes = metadata.tables["ledger_hashes"]
blocks = metadata.tables["ledger_blocks"]


@dataclass(frozen=True, slots=True)
class Head:
    """The head row as read inside a transaction."""

    log_id: int
    size: int
    head_hash: Hash | None
    initial_vkey: str
    current_vkey: str


@dataclass(frozen=True, slots=True)
class BlockRecord:
    number: int
    start: int
    end: int
    root: Hash
    checkpoint: str
    sealed_at: datetime


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite turn on WAL and `busy_timeout` and take over BEGIN.

    pysqlite's own transaction handling is switched off so SQLAlchemy's savepoints work, and
    a connection given the execution option `ledger_write=True` begins with `BEGIN
    IMMEDIATE` (the write lock up front) while readers begin with a plain, deferred `BEGIN`.
    """
    if not url.startswith("sqlite"):
        # pre_ping costs a round trip per pool checkout; a caller whose retry path survives
        # one failed statement after a server restart (the pool is then invalidated) may
        # pass pool_pre_ping=False.
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(url, **kwargs)
    if url in ("sqlite://", "sqlite:///:memory:"):
        kwargs.setdefault("poolclass", StaticPool)  # one shared in-memory database
    kwargs.setdefault("connect_args", {"check_same_thread": False})
    engine = sa.create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")  # durable commits; group commit amortizes it
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Open a transaction that will write: on SQLite it begins with `BEGIN IMMEDIATE`.

    A deferred SQLite transaction that reads and then writes fails at once with "database is
    locked" when another writer committed in between (a WAL snapshot cannot be upgraded).
    """
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """Open a connection for a read that is one statement, so needs no transaction around
    it: a statement is its own snapshot. No transaction is begun (SQLite: no `BEGIN`;
    PostgreSQL: autocommit, no `BEGIN` and `ROLLBACK` round trips).

    Only for reads, and two statements through it may see different commits: a caller
    needing them consistent opens a transaction (`engine.connect()`).
    """
    with engine.connect() as conn:
        if is_sqlite(conn):
            conn.execution_options(**{SINGLE_READ_OPTION: True})
        else:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get(SINGLE_READ_OPTION, False):
        return  # autocommit (isolation_level None): each statement is its own transaction
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION, False) else "BEGIN")


def is_sqlite(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "sqlite"


def create_tables(engine: Engine) -> None:
    """Create the ledger tables that do not exist yet.

    Several processes starting at once may race to create them; the loser retries once and
    then finds them there.
    """
    try:
        metadata.create_all(engine, checkfirst=True)
    except (sa.exc.ProgrammingError, sa.exc.IntegrityError, sa.exc.OperationalError):
        metadata.create_all(engine, checkfirst=True)


def ensure_log(conn: Connection, origin: str, vkey: str) -> int:
    """Return the id of the log named `origin`, creating it (with `vkey` as first key)."""
    found = conn.execute(sa.select(logs.c.id).where(logs.c.origin == origin)).scalar()
    if found is not None:
        return int(found)
    result = conn.execute(
        sa.insert(logs).values(origin=origin, size=0, initial_vkey=vkey, current_vkey=vkey)
    )
    key = result.inserted_primary_key
    assert key is not None
    insert_key(conn, int(key[0]), 0, vkey)
    return int(key[0])


def insert_key(conn: Connection, log_id: int, since: int, vkey: str) -> None:
    conn.execute(sa.insert(keys).values(log_id=log_id, since_seq=since, vkey=vkey))


def read_keys(conn: Connection, log_id: int) -> list[tuple[int, str]]:
    """Return (first seq signed, vkey) of every key of the log, oldest first."""
    query = sa.select(keys.c.since_seq, keys.c.vkey).where(keys.c.log_id == log_id)
    return [(int(r.since_seq), str(r.vkey)) for r in conn.execute(query.order_by(keys.c.since_seq))]


def find_log(conn: Connection, origin: str | None) -> int:
    """Return the id of the log `origin`, or of the only log when origin is None.

    Raises:
        NoLedger: no such log, or several logs and no origin.
    """
    query = sa.select(logs.c.id, logs.c.origin)
    if origin is not None:
        query = query.where(logs.c.origin == origin)
    rows = conn.execute(query).all()
    if len(rows) == 1:
        return int(rows[0].id)
    if origin is None and not rows:
        raise NoLedger(Message.of("ledger.error.log_none"))
    if origin is None:
        names = ", ".join(str(row.origin) for row in rows)
        raise NoLedger(Message.of("ledger.error.log_ambiguous", logs=names))
    every = conn.execute(sa.select(logs.c.origin).order_by(logs.c.id)).scalars().all()
    names = ", ".join(map(str, every)) or "-"
    raise NoLedger(Message.of("ledger.error.log_not_found", origin=origin, logs=names))


def reader_url(url: str) -> sa.URL:
    """Return `url` parsed, for reading a ledger that must exist already.

    Raises:
        NoLedger: not a database URL, or a SQLite file that is not there (connecting would
            create it, empty: a mistyped path must not leave a file behind).
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as err:
        shown = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)  # no password on screen
        raise NoLedger(Message.of("ledger.error.db_not_url", db=shown)) from err
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file:")
    if parsed.get_backend_name() == "sqlite" and not in_memory and not Path(database).is_file():
        raise NoLedger(Message.of("ledger.error.db_file_missing", path=database))
    return parsed


def lock(conn: Connection, log_id: int, *, immediate: bool = False) -> Head:
    """Take the log's write lock for the rest of the transaction and return its head.

    `immediate`: the transaction was opened with the write option (`BEGIN IMMEDIATE` on
    SQLite), so it holds the database write lock already and one read of the head is enough.
    """
    if is_sqlite(conn):
        if not immediate:  # takes the database write lock if the transaction did not have it
            sql = "UPDATE ledger_logs SET size = size WHERE id = ?"
            conn.exec_driver_sql(sql, (log_id,))
        return read_head(conn, log_id)
    return read_head(conn, log_id, for_update=True)


def read_head(conn: Connection, log_id: int, *, for_update: bool = False) -> Head:
    sql = "SELECT size, head_hash, initial_vkey, current_vkey FROM ledger_logs WHERE id = ?"
    if for_update:
        sql += " FOR UPDATE"
    row = conn.exec_driver_sql(driver_sql(conn, sql), (log_id,)).one()
    size, head_hash, initial_vkey, current_vkey = row
    head = None if head_hash is None else Hash(bytes(head_hash))
    return Head(log_id, int(size), head, str(initial_vkey), str(current_vkey))


def write_head(conn: Connection, log_id: int, size: int, head_hash: bytes, vkey: str) -> None:
    sql = "UPDATE ledger_logs SET size = ?, head_hash = ?, current_vkey = ? WHERE id = ?"
    conn.exec_driver_sql(driver_sql(conn, sql), (size, head_hash, vkey, log_id))


def read_hashes(conn: Connection, log_id: int, indices: Sequence[int]) -> list[Hash]:
    """Return the stored hashes at `indices`, in that order, in one query.

    Raises:
        LedgerError: an index that is not stored (a bug or a damaged table).
    """
    if not indices:
        return []
    wanted = sorted(set(indices))
    marks = ", ".join("?" * len(wanted))
    sql = f"SELECT idx, hash FROM ledger_hashes WHERE log_id = ? AND idx IN ({marks})"
    rows = conn.exec_driver_sql(driver_sql(conn, sql), (log_id, *wanted))
    found = {int(idx): Hash(bytes(h)) for idx, h in rows}
    try:
        return [found[i] for i in indices]
    except KeyError as err:
        raise LedgerError(f"stored tree hash {err.args[0]} is missing") from err


def insert_entries(conn: Connection, rows: Sequence[EntryTuple]) -> None:
    """Insert entry rows `(log_id, seq, leaf, leaf_hash, dedup_key)` in one DBAPI executemany.

    The hot path of every append: plain tuples straight to the driver, no per-row
    SQLAlchemy processing (the columns are integers, bytes and text only).
    """
    if rows:
        sql = "INSERT INTO ledger_entries (log_id, seq, leaf, leaf_hash, dedup_key) VALUES "
        conn.exec_driver_sql(sql + _marks(conn, 5), list(rows))


def insert_hashes(conn: Connection, rows: Sequence[tuple[int, int, bytes]]) -> None:
    """Insert stored hash rows `(log_id, idx, hash)` in one DBAPI executemany."""
    if rows:
        sql = "INSERT INTO ledger_hashes (log_id, idx, hash) VALUES "
        conn.exec_driver_sql(sql + _marks(conn, 3), list(rows))


def _marks(conn: Connection, count: int) -> str:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return "(" + ", ".join([mark] * count) + ")"


_DRIVER_SQL: dict[tuple[str, str], str] = {}


def driver_sql(conn: Connection, sql: str) -> str:
    """Return `sql`, written with `?` marks, in the driver's positional paramstyle.

    The hot statements are plain SQL sent with `exec_driver_sql`: no statement construction,
    cache-key generation or compilation per call (their columns need no type processing).
    """
    style = conn.dialect.paramstyle
    if style == "qmark":
        return sql
    found = _DRIVER_SQL.get((style, sql))
    if found is None:
        if style not in ("format", "pyformat"):
            raise LedgerError(f"unsupported driver paramstyle {style}")
        found = _DRIVER_SQL[(style, sql)] = sql.replace("?", "%s")
    return found


def find_dedup(conn: Connection, log_id: int, dedup_key: str) -> tuple[int, Hash] | None:
    sql = "SELECT seq, leaf_hash FROM ledger_entries WHERE log_id = ? AND dedup_key = ?"
    row = conn.exec_driver_sql(driver_sql(conn, sql), (log_id, dedup_key)).first()
    return None if row is None else (int(row[0]), Hash(bytes(row[1])))


def find_leaf(conn: Connection, log_id: int, leaf_hash: bytes) -> int | None:
    row = conn.execute(
        sa.select(entries.c.seq).where(entries.c.log_id == log_id, entries.c.leaf_hash == leaf_hash)
    ).first()
    return None if row is None else int(row.seq)


def read_leaves(conn: Connection, log_id: int, start: int, end: int) -> list[bytes]:
    query = (
        sa.select(entries.c.leaf)
        .where(entries.c.log_id == log_id, entries.c.seq >= start, entries.c.seq < end)
        .order_by(entries.c.seq)
    )
    return [bytes(leaf) for leaf in conn.execute(query).scalars()]


def iter_leaves(conn: Connection, log_id: int, end: int, chunk: int = 20_000) -> Iterator[bytes]:
    """Yield leaves [0, end) in order, `chunk` rows per query (keyset pagination)."""
    for start in range(0, end, chunk):
        yield from read_leaves(conn, log_id, start, min(end, start + chunk))


def insert_block(conn: Connection, log_id: int, block: BlockRecord) -> None:
    conn.execute(
        sa.insert(blocks).values(
            log_id=log_id,
            number=block.number,
            start_seq=block.start,
            end_seq=block.end,
            root=block.root,
            checkpoint=block.checkpoint,
            sealed_at=block.sealed_at,
        )
    )


def read_blocks(
    conn: Connection, log_id: int, start: int = 0, limit: int | None = None, *, last: bool = False
) -> list[BlockRecord]:
    """Return blocks numbered >= start in order (or only the newest when `last`)."""
    query = sa.select(blocks).where(blocks.c.log_id == log_id, blocks.c.number >= start)
    if last:
        query = query.order_by(blocks.c.number.desc()).limit(1)
    else:
        query = query.order_by(blocks.c.number)
        if limit is not None:
            query = query.limit(limit)
    return [_block(row) for row in conn.execute(query)]


def block_containing(conn: Connection, log_id: int, index: int) -> BlockRecord | None:
    query = (
        sa.select(blocks)
        .where(blocks.c.log_id == log_id, blocks.c.end_seq > index, blocks.c.start_seq <= index)
        .order_by(blocks.c.end_seq)
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _block(row)


def _block(row: sa.Row[Any]) -> BlockRecord:
    return BlockRecord(
        number=int(row.number),
        start=int(row.start_seq),
        end=int(row.end_seq),
        root=Hash(bytes(row.root)),
        checkpoint=str(row.checkpoint),
        sealed_at=_aware(row.sealed_at),
    )


def _aware(when: datetime) -> datetime:
    # SQLite keeps no time zone; the ledger only ever stores UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
