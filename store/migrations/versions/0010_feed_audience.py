"""Who a feed entry's task was for, before or after the entry's change.

A pool member is no longer in a task's audience once someone else claims it; recorded with
the entry, the audience lets the stream and the webhooks tell them it was claimed away.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
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
    # nullable: entries appended before it know no audience (readers use the task's current one)
    with op.batch_alter_table("event_feed") as batch:
        batch.add_column(sa.Column("audience", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event_feed") as batch:
        batch.drop_column("audience")
