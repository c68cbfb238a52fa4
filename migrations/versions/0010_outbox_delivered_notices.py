"""outbox delivered notices: the message and what it shows, so a hiding can edit it

A notice about a proposal delivered before the proposal was hidden (or its content erased)
kept showing its title in the person's chat. The sender now records, on the outbox row, the
proposal, the message Telegram answered with and what the text showed of it (``title``,
``hidden:<reason>``, ``erased``; ``gone`` once the message was found deleted), and the clock
edits the messages whose proposal changed since (gateway.notice_edits). Its bookkeeping table
keeps, per proposal whose title was withheld, what it last found and until when it looks
again. Rows delivered before this revision keep NULL: their message is unknown, never edited.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 03:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("pt_outbox", sa.Column("proposal", sa.String(length=48), nullable=True))
    op.add_column("pt_outbox", sa.Column("message_id", sa.BigInteger(), nullable=True))
    op.add_column("pt_outbox", sa.Column("shown", sa.String(length=40), nullable=True))
    op.create_index("pt_outbox_proposal", "pt_outbox", ["proposal"])
    op.create_table(
        "gateway_notice_subjects",
        sa.Column("proposal_id", sa.String(length=48), nullable=False),
        sa.Column("withheld", sa.String(length=40), nullable=False),
        sa.Column("recheck_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("proposal_id"),
    )


def downgrade() -> None:
    op.drop_table("gateway_notice_subjects")
    op.drop_index("pt_outbox_proposal", table_name="pt_outbox")
    with op.batch_alter_table("pt_outbox") as batch:
        batch.drop_column("shown")
        batch.drop_column("message_id")
        batch.drop_column("proposal")
