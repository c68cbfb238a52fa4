"""presence ledger index: the later of two check-ins in one second is the current one

``pt_presence`` keeps the ledger index and leaf hash of the onsite.checked_in entry that made
the row. A person's current session was the one they checked in to last by epoch second, so
two check-ins in the same second left either one current; the index orders them as the ledger
did. It also answers a scan again of the current session with the first check-in's receipt
when the person erased their receipts (participation Review._check_in). Rows from before this
revision take the index from the person's newest receipt of that check-in; without one (erased
since) they keep NULL, ordered before any indexed row of the same second.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEWEST = (
    "(SELECT r.{column} FROM pt_receipt AS r WHERE r.user_id = pt_presence.user_id"
    " AND r.kind = 'onsite.checked_in' AND r.subject = pt_presence.session_id"
    " ORDER BY r.ledger_index DESC LIMIT 1)"
)


def upgrade() -> None:
    op.add_column("pt_presence", sa.Column("ledger_index", sa.BigInteger, nullable=True))
    op.add_column("pt_presence", sa.Column("leaf_hash", sa.String(64), nullable=True))
    op.execute(
        "UPDATE pt_presence SET ledger_index = {}, leaf_hash = {}".format(
            _NEWEST.format(column="ledger_index"), _NEWEST.format(column="leaf_hash")
        )
    )


def downgrade() -> None:
    op.drop_column("pt_presence", "leaf_hash")
    op.drop_column("pt_presence", "ledger_index")
