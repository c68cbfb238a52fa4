"""The Ledger on a real database (SQLite file; PostgreSQL when reachable)."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from ledger import Ledger
from ledger import LedgerKey
from ledger import store
from ledger.checkpoint import open_checkpoint
from ledger.entry import parse_leaf
from ledger.errors import InvalidKind
from ledger.errors import KeyMismatch
from ledger.errors import LedgerError
from ledger.errors import OutOfRange
from ledger.hashing import hash_leaf
from ledger.proof import verify_consistency
from ledger.proof import verify_inclusion
from ledger.verify import verify_export
from tests.ledger import reference
from tests.ledger.conftest import ORIGIN
from tests.ledger.conftest import SEED
from tests.ledger.conftest import TickingClock

projection = sa.Table(
    "test_projection",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("note", sa.String(40)),
)


def endorse(log: Ledger, n: int, **kw: object) -> list[int]:
    return [log.append("proposal.endorsed", "r:ab", "r1", {"i": i}, **kw).index for i in range(n)]  # type: ignore[arg-type]


def test_appends_form_a_signed_hash_chain(log: Ledger, key: LedgerKey) -> None:
    receipts = [log.append("proposal.submitted", "r:ab12", "r1", {"n": i}) for i in range(5)]
    assert [r.index for r in receipts] == [0, 1, 2, 3, 4] and log.size() == 5
    leaves = log.entries(0, 10)
    prev = "0" * 64
    for receipt, leaf in zip(receipts, leaves, strict=True):
        parsed = parse_leaf(leaf)
        assert parsed.entry.prev == prev and parsed.leaf_hash == receipt.leaf_hash
        key.verifier.verify(parsed.entry_bytes, parsed.signature)
        prev = receipt.leaf_hash.hex()
    assert parse_leaf(leaves[0]).entry.ts == "2017-02-23T01:00:01.000Z"


def test_seal_signs_only_when_the_log_grew(log: Ledger, key: LedgerKey) -> None:
    assert log.seal() is None and log.checkpoint() is None
    endorse(log, 3)
    first = log.seal()
    assert first is not None and (first.size, first.block) == (3, 1)
    assert log.seal() == first
    endorse(log, 2)
    second = log.seal()
    assert second is not None and (second.size, second.block) == (5, 2)
    opened = open_checkpoint(second.text, key.verifier)
    assert opened.root == second.root == reference.mth(log.entries(0, 5))
    blocks = log.blocks()
    assert [(b.number, b.start, b.end) for b in blocks] == [(1, 0, 3), (2, 3, 5)]
    assert blocks[0].sealed_at.tzinfo is not None
    assert log.block_of(3) == blocks[1] and log.block_of(0) == blocks[0]
    endorse(log, 1)
    assert log.block_of(5) is None


def test_proofs_from_the_database_match_the_reference(log: Ledger) -> None:
    endorse(log, 21)
    leaves = log.entries(0, 21)
    for size in (1, 2, 7, 8, 13, 21):
        root = reference.mth(leaves[:size])
        assert log.root(size) == root
        for index in range(size):
            path = log.inclusion_proof(index, size)
            assert path == reference.path(index, leaves[:size])
            verify_inclusion(hash_leaf(leaves[index]), index, size, path, root)
        for old in range(1, size):
            proof = log.consistency_proof(old, size)
            assert proof == reference.proof(old, leaves[:size])
            verify_consistency(old, size, proof, reference.mth(leaves[:old]), root)


@pytest.mark.parametrize(
    ("call", "args"),
    [("inclusion_proof", (0, 4)), ("inclusion_proof", (3, 3)), ("inclusion_proof", (-1, 2)),
     ("consistency_proof", (2, 4)), ("consistency_proof", (3, 2)), ("entries", (4, 5)),
     ("root", (9,))],
    ids=["size-beyond", "index-equals-size", "negative", "cons-beyond", "cons-reversed",
         "entries-beyond", "root-beyond"],
)  # fmt: skip
def test_out_of_range_requests_raise_out_of_range(
    log: Ledger, call: str, args: tuple[int, ...]
) -> None:
    endorse(log, 3)
    with pytest.raises(OutOfRange):
        getattr(log, call)(*args)


def test_dedup_key_returns_the_existing_receipt(log: Ledger) -> None:
    first = log.append("proposal.endorsed", "r:ab", "r1", {}, dedup_key="tg:update:1")
    again = log.append("proposal.endorsed", "r:ab", "r1", {"x": 1}, dedup_key="tg:update:1")
    assert again.duplicate and not first.duplicate
    assert (again.index, again.leaf_hash) == (first.index, first.leaf_hash) and log.size() == 1
    both = log.write(
        lambda conn, appender: [
            appender.append("proposal.endorsed", "r:ab", "r1", {}, dedup_key="tg:update:2"),
            appender.append("proposal.endorsed", "r:ab", "r1", {}, dedup_key="tg:update:2"),
        ]
    )
    assert both[1].duplicate and both[0].index == both[1].index == 1 and log.size() == 2


def test_an_overlong_dedup_key_fails_alone(log: Ledger) -> None:
    with pytest.raises(LedgerError, match="dedup_key"):
        log.append("proposal.endorsed", "r:ab", "r1", {}, dedup_key="x" * 201)
    assert log.append("proposal.endorsed", "r:ab", "r1", {}, dedup_key="x" * 200).index == 0


def test_write_commits_projection_and_entries_together(log: Ledger) -> None:
    projection.create(log.engine)

    def submit(conn: sa.Connection, appender: object) -> int:
        conn.execute(projection.insert().values(id=1, note="p-1"))
        return appender.append("proposal.submitted", "r:ab", "r1", {"p": 1}).index  # type: ignore[attr-defined]

    assert log.write(submit) == 0
    with log.engine.connect() as conn:  # visible to anyone once write() returned
        assert conn.execute(sa.select(projection.c.note)).scalar_one() == "p-1"
    assert log.size() == 1


def test_a_failing_write_rolls_back_only_its_own_work(log: Ledger) -> None:
    projection.create(log.engine)
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        def fn(conn: sa.Connection, appender: object) -> None:
            conn.execute(projection.insert().values(id=i, note=f"n{i}"))
            appender.append("proposal.submitted", "r:ab", "r1", {"i": i})  # type: ignore[attr-defined]
            if i % 3 == 0:
                raise ValueError(f"rule broken by {i}")

        barrier.wait()
        try:
            log.write(fn)
        except ValueError as err:
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(str(e) for e in errors) == sorted(f"rule broken by {i}" for i in (0, 3, 6, 9))
    with log.engine.connect() as conn:
        ids = sorted(conn.execute(sa.select(projection.c.id)).scalars())
    assert ids == [i for i in range(12) if i % 3]
    bodies = sorted(parse_leaf(leaf).entry.body["i"] for leaf in log.entries(0, 100))  # type: ignore[type-var]
    assert bodies == ids and log.size() == 8  # gap-free: failed writes left no hole


def test_a_write_without_savepoint_that_raises_before_writing_leaves_no_trace(
    log: Ledger,
) -> None:
    projection.create(log.engine)
    statements: list[str] = []
    event.listen(log.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def fn(i: int) -> object:
        def run(conn: sa.Connection, appender: object) -> int:
            index: int = appender.append("proposal.submitted", "r:ab", "r1", {"i": i}).index  # type: ignore[attr-defined]
            if i % 2:
                raise ValueError(f"refused {i}")  # before any write: its append is undone
            conn.execute(projection.insert().values(id=i, note=f"n{i}"))
            return index

        return run

    barrier = threading.Barrier(6)
    outcomes: dict[int, object] = {}

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = log.write(fn(i), savepoint=False)
        except ValueError as err:
            outcomes[i] = str(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(str(outcomes[i]) for i in (1, 3, 5)) == ["refused 1", "refused 3", "refused 5"]
    assert sorted(int(outcomes[i]) for i in (0, 2, 4)) == [0, 1, 2]  # type: ignore[call-overload]
    assert log.write(fn(10), savepoint=False) == 3 and log.size() == 4
    with pytest.raises(ValueError, match="refused 11"):
        log.write(fn(11), savepoint=False)
    assert not any("SAVEPOINT" in s for s in statements)
    bodies = sorted(parse_leaf(leaf).entry.body["i"] for leaf in log.entries(0, 100))  # type: ignore[type-var]
    assert bodies == [0, 2, 4, 10]  # gap-free
    with log.engine.connect() as conn:
        assert sorted(conn.execute(sa.select(projection.c.id)).scalars()) == [0, 2, 4, 10]


def test_new_key_skips_the_dedup_lookup(log: Ledger) -> None:
    statements: list[str] = []
    event.listen(log.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    receipt = log.write(
        lambda conn, appender: appender.append(
            "proposal.endorsed", "r:ab", "r1", {}, dedup_key="tg:update:7", new_key=True
        )
    )
    assert not any("dedup_key =" in s for s in statements)
    again = log.append("proposal.endorsed", "r:ab", "r1", {}, dedup_key="tg:update:7")
    assert again.duplicate and again.index == receipt.index


def test_a_burst_of_appends_is_group_committed(log: Ledger) -> None:
    commits = []
    event.listen(log.engine, "commit", lambda conn: commits.append(1))
    futures = [log.append_async("proposal.endorsed", "r:ab", None, {"i": i}) for i in range(400)]
    assert [f.result().index for f in futures] == list(range(400))
    assert len(commits) < 40


def test_caller_transaction_join_and_rollback(log: Ledger) -> None:
    projection.create(log.engine)
    endorse(log, 2)
    with log.begin_write() as conn, conn.begin():
        conn.execute(projection.insert().values(id=1, note="kept"))
        assert log.append("proposal.submitted", "r:ab", "r1", {"k": 1}, conn=conn).index == 2
    with log.begin_write() as conn:
        trans = conn.begin()
        log.append("proposal.submitted", "r:ab", "r1", {"k": 2}, conn=conn)
        trans.rollback()
    assert log.append("proposal.submitted", "r:ab", "r1", {"k": 3}).index == 3
    assert log.size() == 4
    log.seal()
    assert log.root() == reference.mth(log.entries(0, 4))


def test_cache_stays_right_when_another_writer_appended(
    log: Ledger, db_url: str, key: LedgerKey
) -> None:
    endorse(log, 3)
    other = Ledger.open(db_url, key, ORIGIN, clock=TickingClock())
    try:
        endorse(other, 5)
    finally:
        other.close()
    assert log.append("proposal.endorsed", "r:ab", None, {}).index == 8
    leaves = log.entries(0, 9)
    assert log.root() == reference.mth(leaves)
    assert [parse_leaf(leaf).entry.seq for leaf in leaves] == list(range(9))


def test_kinds_are_checked_before_anything_is_written(db_url: str, key: LedgerKey) -> None:
    with Ledger.open(db_url, key, ORIGIN, kinds={"round.opened"}) as log:
        log.append("round.opened", "o:1", "r1", {})
        for bad in ("round.closed", "ledger.key_rotated", "Round.opened"):
            with pytest.raises(InvalidKind):
                log.append(bad, "o:1", "r1", {})
        with pytest.raises(LedgerError):
            log.append("round.opened", "o:1", "r1", {"x": 1.5})
        assert log.size() == 1


def test_rotation_switches_keys_and_verify_follows_it(
    log: Ledger, db_url: str, key: LedgerKey, tmp_path: Path
) -> None:
    endorse(log, 2)
    log.seal()
    new_key = LedgerKey.generate("test.example/ledger-2")
    rotation = log.rotate(new_key)
    entry = parse_leaf(log.entries(rotation.index, rotation.index + 1)[0])
    assert entry.key_id == key.key_id and entry.entry.body == {"vkey": new_key.vkey}
    endorse(log, 2)
    checkpoint = log.seal()
    assert checkpoint is not None
    open_checkpoint(checkpoint.text, new_key.verifier)
    assert parse_leaf(log.entries(4, 5)[0]).key_id == new_key.key_id
    assert log.vkeys() == [key.vkey, new_key.vkey]
    report = verify_export_of(log, tmp_path)
    assert report.key_ids == (key.key_id, new_key.key_id) and report.checkpoint_sizes == (2, 5)
    with pytest.raises(KeyMismatch):
        Ledger.open(db_url, key, ORIGIN).close()
    Ledger.open(db_url, new_key, ORIGIN).close()


def verify_export_of(log: Ledger, tmp_path: Path):  # type: ignore[no-untyped-def]
    log.export(tmp_path / "export")
    return verify_export(tmp_path / "export", processes=2)


def test_nested_append_from_a_write_callback_is_refused(log: Ledger) -> None:
    with pytest.raises(LedgerError, match="appender"):
        log.write(lambda conn, appender: log.append("a.b", "r", None, {}))
    assert log.size() == 0


def _append_in_child(url: str, count: int, tag: int) -> None:
    key = LedgerKey.from_seed(ORIGIN, SEED)
    with Ledger.open(url, key, ORIGIN) as log:
        for i in range(count):
            log.append("proposal.endorsed", f"r:p{tag}", None, {"i": i})


@pytest.mark.slow
def test_threads_and_processes_keep_a_gap_free_valid_chain(
    log: Ledger, db_url: str, tmp_path: Path
) -> None:
    endorse(log, 1)  # tables exist before the children start
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_append_in_child, args=(db_url, 40, n)) for n in range(3)]
    for child in children:
        child.start()
    threads = [threading.Thread(target=endorse, args=(log, 40)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    assert log.size() == 1 + 3 * 40 + 6 * 40
    report = verify_export_of(log, tmp_path)
    assert report.size == 361
    assert log.append("proposal.endorsed", "r:ab", None, {}).index == 361
    assert log.root() == reference.mth(log.entries(0, 1000))


def test_a_single_read_begins_no_transaction(log: Ledger) -> None:
    """`store.single_read`: a statement is its own snapshot, so no BEGIN on SQLite and
    autocommit on PostgreSQL; a commit in between is seen by the next read."""
    seen: list[str] = []

    def on_execute(conn: sa.Connection, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    with store.single_read(log.engine) as conn:
        event.listen(conn, "before_cursor_execute", on_execute)
        assert store.read_head(conn, log.log_id).size == 0
        endorse(log, 1)  # committed in between
        assert store.read_head(conn, log.log_id).size == 1  # no snapshot held
        assert not in_transaction(conn)
    assert len(seen) == 2 and all("FROM ledger_logs" in s for s in seen)
    with log.engine.connect() as conn:  # the pooled connection begins transactions again
        store.read_head(conn, log.log_id)
        assert in_transaction(conn)


def in_transaction(conn: sa.Connection) -> bool:
    """Return whether the driver's connection is inside a database transaction."""
    dbapi: Any = conn.connection.dbapi_connection
    if store.is_sqlite(conn):
        return bool(dbapi.in_transaction)
    from psycopg.pq import TransactionStatus

    return bool(dbapi.info.transaction_status != TransactionStatus.IDLE)
