"""erasure indexes: the person's tokens, notices and enrollment code found without a scan

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 12:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("pt_button_user", "pt_button", ["user_id"])
    op.create_index("pt_outbox_user", "pt_outbox", ["user_id"])
    op.create_index("pt_enrollment_code_user", "pt_enrollment_code", ["user_id"])


def downgrade() -> None:
    op.drop_index("pt_enrollment_code_user", table_name="pt_enrollment_code")
    op.drop_index("pt_outbox_user", table_name="pt_outbox")
    op.drop_index("pt_button_user", table_name="pt_button")
