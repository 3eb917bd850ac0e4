"""Where each existing case's entries begin in the event feed.

The feed holds entries appended from its revision on. For a case that existed before, the
first write after the upgrade must not append its whole stored history as if it were new
(every webhook subscriber would get months-old events). This marks, for each case the feed
has nothing of yet, the last entry already stored (or -1: none stored, the next stored entry
starts it); a case created later starts at its entry 0. A mark at -1 names no entry, and the
mark at an existing entry is older than any stream or subscription made after it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


MARKS = """
INSERT INTO event_feed (case_id, seq)
SELECT c.case_id, COALESCE((SELECT MAX(a.seq) FROM audit_entries a WHERE a.case_id = c.case_id), -1)
FROM cases c
WHERE NOT EXISTS (SELECT 1 FROM event_feed f WHERE f.case_id = c.case_id)
"""


def upgrade() -> None:
    op.execute(MARKS)


def downgrade() -> None:
    pass  # the marks are harmless to the revisions before
