"""Migration 0008: notices queued before 6c7cb5a kept the proposal's title in pt_outbox.params
(pending and sent alike), so a title hidden or erased since stayed in other people's rows. The
migration drops ``title`` from every row that names a proposal and leaves every other row as
it was (the results broadcast's ``title`` is the round's)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from gateway.__main__ import ROOT

ROWS = [
    (1, "participation.notice.answered", {"proposal": "r-1", "title": "홍길동 010-1234-5678"},
     "sent"),
    (2, "participation.notice.hidden_spam", {"proposal": "r-1", "reason": "spam", "title": "x"},
     "pending"),
    (3, "participation.notice.results", {"title": "2017 따복공동체", "count": 3, "channel": "@c"},
     "pending"),
    (4, "participation.notice.broadcast", {"text": "공지"}, "sent"),
]  # fmt: skip


def upgrade_to(url: str, revision: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_queued_and_sent_notices_lose_the_proposals_title_and_nothing_else(tmp_path: Path):
    check_titles_dropped(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.integration
def test_queued_and_sent_notices_lose_the_proposals_title_on_postgresql(pg_url: str):
    check_titles_dropped(pg_url)


def check_titles_dropped(url: str) -> None:
    upgrade_to(url, "0007")
    outbox = sa.table("pt_outbox", sa.column("id"), sa.column("user_id"), sa.column("key"),
                      sa.column("params", sa.JSON), sa.column("state"), sa.column("attempts"),
                      sa.column("created_at"))  # fmt: skip
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(outbox), [
                {"id": i, "user_id": 100 + i, "key": k, "params": p, "state": s, "attempts": 0,
                 "created_at": 0} for i, k, p, s in ROWS
            ])  # fmt: skip
        upgrade_to(url, "0008")
        with engine.connect() as conn:
            got = dict(conn.execute(sa.select(outbox.c.id, outbox.c.params)).all())
    finally:
        engine.dispose()
    assert got == {
        1: {"proposal": "r-1"},
        2: {"proposal": "r-1", "reason": "spam"},
        3: ROWS[2][2],
        4: ROWS[3][2],
    }
