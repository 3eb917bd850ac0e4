"""Which token's reuse revoked a family of refresh tokens.

Of concurrent redeems of one refresh token, the losers revoke the family, and their
revocation may commit before the winner reads whether the family is revoked. Knowing that
the revocation was for a reuse of the very token the winner redeemed first lets the winner
keep its success: exactly one redeem of a token succeeds, whatever the order of commits.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
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
    # nullable: families revoked before this revision name no token
    op.add_column("revoked_token_families", sa.Column("revoked_by", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("revoked_token_families", "revoked_by")
