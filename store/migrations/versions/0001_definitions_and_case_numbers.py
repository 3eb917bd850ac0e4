"""Definitions and case numbers: the tables of the releases before Alembic.

Databases those releases created with `create_all` already have exactly these tables;
`Database.init()` stamps them with this revision instead of running it (store/db.py).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# store.tables.UTCDateTime stores this; JsonDict is JSONB on PostgreSQL, JSON text elsewhere.
UTC_DATETIME = sa.DateTime(timezone=True)
JSON_DICT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "definitions",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("body", JSON_DICT, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("deployed_at", UTC_DATETIME, nullable=False),
        sa.Column("deployed_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", "version"),
    )
    op.create_table(
        "case_numbers",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("case_id"),
        # SQLite's AUTOINCREMENT: numbers are never reused, even after a delete (SERIAL on
        # PostgreSQL never reuses them either).
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("case_numbers")
    op.drop_table("definitions")
