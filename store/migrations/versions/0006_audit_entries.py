"""The audit trail in the read model: every entry of every case, numbered within it, so the
workflow need carry only a bounded tail however long a case lives.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("transition", sa.String(40), nullable=True),
        sa.Column("event", JSON, nullable=True),
        sa.PrimaryKeyConstraint("case_id", "seq"),
    )
    op.create_index("ix_audit_entries_transition", "audit_entries", ["case_id", "transition"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_transition", table_name="audit_entries")
    op.drop_table("audit_entries")
