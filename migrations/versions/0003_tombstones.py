"""tombstones: the ids that stand in for an erased person in the vote and role tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pt_tombstone",
        sa.Column("tombstone", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("erased_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tombstone"),
    )


def downgrade() -> None:
    op.drop_table("pt_tombstone")
