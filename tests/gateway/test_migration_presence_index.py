"""Migration 0009: pt_presence keeps the ledger index and leaf hash of the check-in that made
each row. Rows from before it take them from the person's newest receipt of that check-in
(kind onsite.checked_in, subject the session); a row with no such receipt (erased since, a
tombstone's) keeps NULL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.__main__ import migrate
from tests.gateway.test_migration_outbox_titles import upgrade_to

H = {n: f"{n:064x}" for n in (3, 5, 8, 9)}


def test_presences_take_their_check_in_from_the_receipts(tmp_path: Path):
    check_backfill(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.integration
def test_presences_take_their_check_in_from_the_receipts_on_postgresql(pg_url: str):
    check_backfill(pg_url)


def check_backfill(url: str) -> None:
    upgrade_to(url, "0008")
    presence = sa.table("pt_presence", sa.column("session_id"), sa.column("user_id"),
                        sa.column("at"))  # fmt: skip
    receipt = sa.table("pt_receipt", sa.column("user_id"), sa.column("round_id"),
                       sa.column("kind"), sa.column("subject"), sa.column("ledger_index"),
                       sa.column("leaf_hash"), sa.column("created_at"))  # fmt: skip
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(presence), [
                {"session_id": "a", "user_id": 7, "at": 100},  # checked in twice: the newest
                {"session_id": "b", "user_id": 7, "at": 100},
                {"session_id": "a", "user_id": -42, "at": 90},  # erased: no receipt
            ])  # fmt: skip
            conn.execute(sa.insert(receipt), [
                {"user_id": 7, "round_id": "r", "kind": k, "subject": s, "ledger_index": i,
                 "leaf_hash": H[i], "created_at": 100}
                for k, s, i in (("onsite.checked_in", "a", 3), ("onsite.checked_in", "a", 8),
                                ("onsite.checked_in", "b", 5), ("onsite.scored", "b", 9))
            ])  # fmt: skip
        migrate(url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT session_id, user_id, ledger_index, leaf_hash FROM pt_presence"
            )).all()  # fmt: skip
        assert sorted(tuple(r) for r in rows) == [
            ("a", -42, None, None), ("a", 7, 8, H[8]), ("b", 7, 5, H[5])
        ]  # fmt: skip
    finally:
        engine.dispose()
