"""on-site session closed_at: a check-in or score received before the close still counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 23:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Sessions closed before this revision keep NULL: closed for every action from now on.
    op.add_column("pt_onsite_session", sa.Column("closed_at", sa.BigInteger, nullable=True))


def downgrade() -> None:
    op.drop_column("pt_onsite_session", "closed_at")
