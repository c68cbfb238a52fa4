"""on-site session number: officials tell sessions apart by a running number per round

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Sessions opened before this revision are numbered by when they were opened (ties by id).
_BACKFILL = """
UPDATE pt_onsite_session SET number = (
    SELECT COUNT(*) FROM pt_onsite_session o
    WHERE o.round_id = pt_onsite_session.round_id
      AND (o.opened_at < pt_onsite_session.opened_at
           OR (o.opened_at = pt_onsite_session.opened_at
               AND o.session_id <= pt_onsite_session.session_id))
)
"""


def upgrade() -> None:
    op.add_column("pt_onsite_session", sa.Column("number", sa.Integer, nullable=True))
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_column("pt_onsite_session", "number")
