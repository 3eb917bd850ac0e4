"""The read model: cases, delegations, their principals, participations, balanced counters.

On PostgreSQL also a GIN trigram index on delegations.search_text, so ProcessMaker's
case-insensitive substring `search` (LIKE '%...%' on the lower-cased text) uses an index.
It needs the pg_trgm extension: trusted since PostgreSQL 13, so a role allowed to CREATE in
the database may add it; otherwise a superuser runs `CREATE EXTENSION pg_trgm` beforehand.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# store.tables.UTCDateTime stores this; JsonDict is JSONB on PostgreSQL, JSON text elsewhere.
UTC_DATETIME = sa.DateTime(timezone=True)
JSON_DICT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# Listed in store.db.DATABASE_ONLY_INDEXES: the models do not declare it.
SEARCH_TRGM_INDEX = "ix_delegations_search_trgm"


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("case_number", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(1000), nullable=False),
        sa.Column("definition_id", sa.String(200), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("definition_name", sa.String(500), nullable=False),
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("app_status", sa.String(20), nullable=False),
        sa.Column("created_on", UTC_DATETIME, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("last_modified", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("paused_until", UTC_DATETIME, nullable=True),
        sa.Column("parent_case_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_cases_number", "cases", ["case_number"])
    op.create_index("ix_cases_definition_number", "cases", ["definition_id", "case_number"])
    op.create_index("ix_cases_state_number", "cases", ["state", "case_number"])
    op.create_index("ix_cases_created_on", "cases", ["created_on"])
    op.create_index("ix_cases_last_modified", "cases", ["last_modified"])

    op.create_table(
        "delegations",
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("del_index", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("task_def_id", sa.String(200), nullable=False),
        sa.Column("task_name", sa.String(500), nullable=False),
        sa.Column("role", sa.String(200), nullable=True),
        sa.Column("assign_rule", sa.String(40), nullable=False),
        sa.Column("task_state", sa.String(20), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("previous_user", sa.String(200), nullable=True),
        sa.Column("delegated_at", UTC_DATETIME, nullable=False),
        sa.Column("init_at", UTC_DATETIME, nullable=True),
        sa.Column("due", UTC_DATETIME, nullable=True),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("last_modified", UTC_DATETIME, nullable=False),
        # what the task shows and its (draft) output
        sa.Column("input", JSON_DICT, nullable=False),
        sa.Column("output", JSON_DICT, nullable=False),
        # the case's fields, repeated so lists need no join
        sa.Column("case_number", sa.Integer(), nullable=False),
        sa.Column("case_title", sa.String(1000), nullable=False),
        sa.Column("app_status", sa.String(20), nullable=False),
        sa.Column("case_state", sa.String(20), nullable=False),
        sa.Column("definition_id", sa.String(200), nullable=False),
        sa.Column("definition_name", sa.String(500), nullable=False),
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("case_created_on", UTC_DATETIME, nullable=False),
        sa.Column("case_created_by", sa.String(200), nullable=False),
        sa.Column("case_updated_on", UTC_DATETIME, nullable=False),
        sa.Column("case_finished_at", UTC_DATETIME, nullable=True),
        sa.Column("search_text", sa.String(1600), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "del_index"),
    )
    op.create_index("ix_delegations_assignee", "delegations", ["assignee", "open", "case_number"])
    op.create_index("ix_delegations_owner", "delegations", ["owner", "open", "case_number"])
    op.create_index("ix_delegations_current", "delegations", ["current", "case_number"])
    op.create_index("ix_delegations_definition", "delegations", ["definition_id", "current", "case_number"])
    op.create_index("ix_delegations_status", "delegations", ["app_status", "current", "case_number"])
    op.create_index("ix_delegations_delegated_at", "delegations", ["delegated_at"])
    op.create_index("ix_delegations_due", "delegations", ["due"])
    if _is_postgresql():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            SEARCH_TRGM_INDEX,
            "delegations",
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )

    op.create_table(
        "delegation_principals",
        sa.Column("principal", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("case_number", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("del_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("principal", "kind", "case_number", "case_id", "del_index"),
    )
    op.create_index("ix_delegation_principals_case", "delegation_principals", ["case_id", "del_index"])

    op.create_table(
        "participations",
        sa.Column("principal", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("case_number", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("principal", "kind", "case_number", "case_id"),
    )
    op.create_index("ix_participations_case", "participations", ["case_id"])

    op.create_table(
        "balanced_counters",
        sa.Column("definition_id", sa.String(200), nullable=False),
        sa.Column("task_def_id", sa.String(200), nullable=False),
        sa.Column("handed_out", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("definition_id", "task_def_id"),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes. pg_trgm stays: other schemas may use it.
    op.drop_table("balanced_counters")
    op.drop_table("participations")
    op.drop_table("delegation_principals")
    op.drop_table("delegations")
    op.drop_table("cases")
