"""Migration 0010: outbox rows gain the proposal, the delivered message and what it showed
(NULL for rows from before it: never edited), and the clock's gateway_notice_subjects; the
downgrade drops them and keeps the rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from gateway.__main__ import ROOT
from gateway.__main__ import migrate
from tests.gateway.test_migration_outbox_titles import upgrade_to

ROW = {"id": 1, "user_id": 7, "key": "participation.notice.answered", "params": None,
       "state": "sent", "attempts": 1, "created_at": 100}  # fmt: skip


def test_outbox_rows_gain_their_message_and_lose_it_on_the_way_down(tmp_path: Path):
    check_up_and_down(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.integration
def test_outbox_rows_gain_their_message_and_lose_it_on_the_way_down_on_postgresql(pg_url: str):
    check_up_and_down(pg_url)


def columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def check_up_and_down(url: str) -> None:
    upgrade_to(url, "0009")
    outbox = sa.table("pt_outbox", *(sa.column(k) for k in ROW))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(outbox).values(**{**ROW, "params": sa.cast(
                sa.literal('{"proposal": "r-3"}'), sa.JSON)}))  # fmt: skip
        upgrade_to(url, "0010")
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT id, proposal, message_id, shown FROM pt_outbox")).one()  # fmt: skip
        assert tuple(row) == (1, None, None, None)
        assert "gateway_notice_subjects" in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE pt_outbox SET proposal = 'r-3', message_id = 5, "
                                 "shown = 'title'"))  # fmt: skip
        config = Config(str(ROOT / "alembic.ini"))
        config.set_main_option("script_location", str(ROOT / "migrations"))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0009")
        engine.dispose()
        assert not {"proposal", "message_id", "shown"} & columns(engine, "pt_outbox")
        assert "gateway_notice_subjects" not in sa.inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id, state FROM pt_outbox")).all() == [(1, "sent")]
        migrate(url)  # and up again
        assert {"proposal", "message_id", "shown"} <= columns(engine, "pt_outbox")
    finally:
        engine.dispose()
