"""Alembic: the migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import gateway.store
import ledger.store
import participation.store.tables
from gateway.__main__ import migrate

METADATA = [ledger.store.metadata, participation.store.tables.metadata, gateway.store.metadata]


def assert_schema_matches(url: str) -> None:
    assert migrate(url) == migrate(url)  # applying twice changes nothing
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = [
                d for md in METADATA for d in compare_metadata(context, md) if _relevant(d, md)
            ]
        assert diffs == []
    finally:
        engine.dispose()


def _relevant(diff: object, metadata: sa.MetaData) -> bool:
    # compare_metadata against one MetaData reports the other packages' tables as extra.
    if isinstance(diff, tuple) and diff and diff[0] == "remove_table":
        return diff[1].name in metadata.tables
    if isinstance(diff, tuple) and diff and diff[0] == "remove_index":
        return diff[1].table.name in metadata.tables
    return True


def test_migrations_match_the_code_on_sqlite(tmp_path: Path):
    assert_schema_matches(f"sqlite:///{tmp_path}/m.db")


@pytest.mark.integration
def test_migrations_match_the_code_on_postgresql(pg_url: str):
    assert_schema_matches(pg_url)


def assert_gone_posts_downgrade_as_posted(url: str) -> None:
    """0007's "gone" (a results post deleted from the channel) is unknown before it: the
    publication there re-posts any part not "posted", so a downgrade must not leave one for
    it to send again."""
    from alembic import command
    from alembic.config import Config

    from gateway.__main__ import ROOT

    migrate(url)
    engine = sa.create_engine(url)
    try:
        posts = gateway.store.results_posts
        with engine.begin() as conn:
            for part, state in (("intro-1", "gone"), ("chart", "posted")):
                conn.execute(posts.insert().values(
                    round_id="r1", part=part, state=state, message_id=7, chat_id=-100,
                    shown="ab", updated_at=sa.func.now()))  # fmt: skip
        config = Config(str(ROOT / "alembic.ini"))
        config.set_main_option("script_location", str(ROOT / "migrations"))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT part, state FROM gateway_results_posts"))
            assert dict(rows.all()) == {"intro-1": "posted", "chart": "posted"}
    finally:
        engine.dispose()


def test_a_downgrade_keeps_deleted_results_posts_from_being_posted_again(tmp_path: Path):
    assert_gone_posts_downgrade_as_posted(f"sqlite:///{tmp_path}/m.db")


@pytest.mark.integration
def test_a_downgrade_keeps_deleted_results_posts_from_being_posted_again_on_postgresql(
    pg_url: str,
):
    assert_gone_posts_downgrade_as_posted(pg_url)
