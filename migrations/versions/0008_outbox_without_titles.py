"""outbox without titles: notices queued before this revision drop the proposal's title

Notices about a proposal (in_review, hidden_*, restored, answered, selected) used to copy its
title into pt_outbox.params when queued, so a title hidden or erased since stayed in the rows
of everyone told about it, sent or not. They now keep the proposal only, and the sender reads
the title when each goes out (participation Support.notice_title). This drops ``title`` from
every row whose params name a proposal; other rows (broadcasts, the results announcement whose
``title`` is the round's, judges' notices) are left as they are. No schema change.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
# Outbox keys whose params never name a proposal: broadcasts are most of the table.
OTHER_KEYS = ("participation.notice.broadcast", "participation.notice.results")
outbox = sa.table("pt_outbox", sa.column("id", sa.Integer), sa.column("key", sa.String),
                  sa.column("params", sa.JSON))  # fmt: skip


def upgrade() -> None:
    conn, o, after = op.get_bind(), outbox.c, -1
    while True:
        rows = conn.execute(
            sa.select(o.id, o.params)
            .where(o.id > after, o.key.like("participation.notice.%"), o.key.not_in(OTHER_KEYS))
            .order_by(o.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        for row in rows:
            params = dict(row.params or {})
            if "proposal" in params and "title" in params:
                del params["title"]
                conn.execute(sa.update(outbox).where(o.id == row.id).values(params=params))


def downgrade() -> None:
    """Nothing to put back: the titles were withheld on purpose (the sender fills them)."""
