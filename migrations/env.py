"""Alembic environment: one schema history for ledger, participation and gateway tables.

The URL is `DATABASE_URL` (through gateway.settings, so the embedded default applies), or
`-x url=...` on the alembic command line, or a Connection handed over in
`config.attributes["connection"]` (python -m gateway migrate does that).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

import gateway.store
import ledger.store
import participation.store.tables

config = context.config
target_metadata = [
    ledger.store.metadata,
    participation.store.tables.metadata,
    gateway.store.metadata,
]


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from gateway.settings import Settings

    return Settings.from_env(os.environ, create_missing=False).database_url


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = ledger.store.make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
