"""The event feed: the order in which audit entries were committed, across cases.

The live event stream reads it forward from a client's `Last-Event-ID`. Entries recorded
before this revision are not in it: the stream of a case begins with its next change.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_feed",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.UniqueConstraint("case_id", "seq", name="uq_event_feed_entry"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("event_feed")
