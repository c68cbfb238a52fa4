"""results posts edits: the chat and content of each channel post, and what was last checked

A proposal hidden or erased after the publication must leave the channel's results posts
too: the clock edits them (gateway.results_edits), which needs the chat each post is in and a
digest of what it shows. Posts recorded before this revision keep NULL in both: they are in
PUBLIC_CHANNEL, and their content is unknown, so the first check edits them once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 00:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("gateway_results_posts", sa.Column("chat_id", sa.BigInteger(), nullable=True))
    op.add_column("gateway_results_posts", sa.Column("shown", sa.String(length=64), nullable=True))
    op.create_table(
        "gateway_results_checked",
        sa.Column("round_id", sa.String(length=32), nullable=False),
        sa.Column("checked", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("round_id"),
    )


def downgrade() -> None:
    # "gone" (deleted from the channel) is unknown before this revision, whose publication
    # posts again any part not "posted": it stays out of the channel as "posted".
    op.execute("UPDATE gateway_results_posts SET state = 'posted' WHERE state = 'gone'")
    op.drop_table("gateway_results_checked")
    with op.batch_alter_table("gateway_results_posts") as batch:
        batch.drop_column("shown")
        batch.drop_column("chat_id")
