"""A task's `overdue` as the engine recorded it, so a listed task and the same task read from
its case agree (the list used to compare the due date with the reader's clock, which drifts
from the case's own record, e.g. while a case is paused).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ADD COLUMN (no batch copy): rebuilding the table on SQLite would drop its
    # full-text triggers (0004) and renumber the rows that index points at
    op.add_column("delegations", sa.Column("overdue", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("delegations", "overdue")  # SQLite 3.35+ drops a column in place
