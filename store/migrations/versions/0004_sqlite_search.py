"""ProcessMaker's `search` on SQLite: a trigram full-text index over `delegations.search_text`.

PostgreSQL has its pg_trgm index since 0002. SQLite gets an FTS5 table with the trigram
tokenizer (SQLite 3.34+), kept in step with `delegations` by triggers, so a case-insensitive
substring search of three or more characters reads the index instead of every row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An external-content table: the text lives in `delegations`, the index here.
UPGRADE = [
    "CREATE VIRTUAL TABLE delegations_search USING fts5("
    "search_text, content='delegations', content_rowid='rowid', tokenize='trigram')",
    "INSERT INTO delegations_search(delegations_search) VALUES ('rebuild')",
    "CREATE TRIGGER delegations_search_insert AFTER INSERT ON delegations BEGIN "
    "INSERT INTO delegations_search(rowid, search_text) VALUES (new.rowid, new.search_text); END",
    "CREATE TRIGGER delegations_search_delete AFTER DELETE ON delegations BEGIN "
    "INSERT INTO delegations_search(delegations_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); END",
    # a projection rewrites every delegation of its case; only a changed text is re-indexed
    "CREATE TRIGGER delegations_search_update AFTER UPDATE OF search_text ON delegations "
    "WHEN old.search_text IS NOT new.search_text BEGIN "
    "INSERT INTO delegations_search(delegations_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); "
    "INSERT INTO delegations_search(rowid, search_text) VALUES (new.rowid, new.search_text); END",
]
DOWNGRADE = [
    "DROP TRIGGER IF EXISTS delegations_search_update",
    "DROP TRIGGER IF EXISTS delegations_search_delete",
    "DROP TRIGGER IF EXISTS delegations_search_insert",
    "DROP TABLE IF EXISTS delegations_search",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in DOWNGRADE:
        op.execute(statement)
