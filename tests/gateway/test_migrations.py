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
