"""Refresh-token rotation: the refresh tokens already exchanged, and the revoked families.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# store.tables.UTCDateTime stores this.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "used_refresh_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("used_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_used_refresh_tokens_expires_at", "used_refresh_tokens", ["expires_at"])

    op.create_table(
        "revoked_token_families",
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("family"),
    )


def downgrade() -> None:
    # Dropping a table drops its index.
    op.drop_table("revoked_token_families")
    op.drop_table("used_refresh_tokens")
