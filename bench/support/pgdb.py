"""A fresh PostgreSQL database for one benchmark run on the shared server, dropped after.

``BENCH_PG_URL`` names the server's maintenance database (default: the machine's ``postgres``
database, trust auth); each run creates ``<prefix>_<pid>_<time>`` beside it.
"""

from __future__ import annotations

import os
import time

import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def create_pg_database(prefix: str) -> str:
    """Create a fresh database on the shared PostgreSQL; return its URL."""
    name = f"{prefix}_{os.getpid()}_{int(time.time())}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    """Drop the database ``url`` names (sessions still on it are ended)."""
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
