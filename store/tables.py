"""The store's tables, as SQLAlchemy 2 typed ORM classes.

One `Base` for the whole store, so the read model's tables (cases, delegations, ...) join
the same metadata and `Database.init()` creates them all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    SQLite has no time zones and hands back naive values; storing naive UTC and re-attaching
    UTC on the way out means callers always compare and serialise aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# JSONB on PostgreSQL (indexable, compact); plain JSON text elsewhere.
JsonDict = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    pass


class DefinitionRow(Base):
    """One deployed version of a case definition. Versions are immutable once written."""

    __tablename__ = "definitions"

    # The composite primary key is what keeps concurrent deploys from writing the same
    # version twice: the loser gets an IntegrityError and retries with the next number.
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    # sha256 of the canonical JSON of `body`: an identical redeploy is recognised by it.
    digest: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deployed_by: Mapped[str] = mapped_column(String(200))


class CaseNumberRow(Base):
    """Human-friendly case numbers, handed out by the database so replicas never clash."""

    __tablename__ = "case_numbers"
    # SQLite's AUTOINCREMENT keyword: numbers are never reused, even after a delete.
    __table_args__ = {"sqlite_autoincrement": True}

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# ---------------------------------------------------------------- the read model
#
# Written only by the worker's projection (store/projection.py), one case at a time, each
# write carrying the case's version; read by the faces' lists. Delegation rows repeat the
# case fields lists filter and sort on, so an inbox is one indexed scan with no join.


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_number", "case_number"),
        Index("ix_cases_definition_number", "definition_id", "case_number"),
        Index("ix_cases_state_number", "state", "case_number"),
        Index("ix_cases_created_on", "created_on"),
        Index("ix_cases_last_modified", "last_modified"),
    )

    case_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_number: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(1000))
    definition_id: Mapped[str] = mapped_column(String(200))
    definition_version: Mapped[int] = mapped_column(Integer)
    definition_name: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    app_status: Mapped[str] = mapped_column(String(20))
    created_on: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    parent_case_id: Mapped[str | None] = mapped_column(String(200), nullable=True)


class DelegationRow(Base):
    """One activation of a human task: ProcessMaker's delegation, the native face's task."""

    __tablename__ = "delegations"
    __table_args__ = (
        # a user's inbox: their open delegations, newest case first
        Index("ix_delegations_assignee", "assignee", "open", "case_number"),
        Index("ix_delegations_owner", "owner", "open", "case_number"),
        # advanced search and participated: one current row per case, newest first
        Index("ix_delegations_current", "current", "case_number"),
        Index("ix_delegations_definition", "definition_id", "current", "case_number"),
        Index("ix_delegations_status", "app_status", "current", "case_number"),
        Index("ix_delegations_delegated_at", "delegated_at"),
        Index("ix_delegations_due", "due"),
    )

    case_id: Mapped[str] = mapped_column(String(200), ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    del_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(200))
    task_def_id: Mapped[str] = mapped_column(String(200))
    task_name: Mapped[str] = mapped_column(String(500))
    role: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assign_rule: Mapped[str] = mapped_column(String(40))
    task_state: Mapped[str] = mapped_column(String(20))
    assignee: Mapped[str | None] = mapped_column(String(200), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    previous_user: Mapped[str | None] = mapped_column(String(200), nullable=True)
    delegated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    init_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    open: Mapped[bool] = mapped_column(Boolean)
    # past its due date by the engine's record (TaskDue), as the case itself answers
    overdue: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    current: Mapped[bool] = mapped_column(Boolean)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime())
    # what the task shows and its (draft) output: the native task object carries both
    input: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    output: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    # the case's fields, repeated so lists need no join
    case_number: Mapped[int] = mapped_column(Integer)
    case_title: Mapped[str] = mapped_column(String(1000))
    app_status: Mapped[str] = mapped_column(String(20))
    case_state: Mapped[str] = mapped_column(String(20))
    definition_id: Mapped[str] = mapped_column(String(200))
    definition_name: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(200))
    case_created_on: Mapped[datetime] = mapped_column(UTCDateTime())
    case_created_by: Mapped[str] = mapped_column(String(200))
    case_updated_on: Mapped[datetime] = mapped_column(UTCDateTime())
    case_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # lower-cased case title and task name: ProcessMaker's case-insensitive `search`
    search_text: Mapped[str] = mapped_column(String(1600))


class DelegationPrincipalRow(Base):
    """Who may claim (`candidate`) or see (`viewer`) a delegation, as principals
    (`user:<id>`, `user:<username>`, `group:<id>`)."""

    __tablename__ = "delegation_principals"
    __table_args__ = (Index("ix_delegation_principals_case", "case_id", "del_index"),)

    principal: Mapped[str] = mapped_column(String(250), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    case_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    del_index: Mapped[int] = mapped_column(Integer, primary_key=True)


class ParticipationRow(Base):
    """How a principal belongs to a case: owner, member, supervisor, participant."""

    __tablename__ = "participations"
    __table_args__ = (Index("ix_participations_case", "case_id"),)

    principal: Mapped[str] = mapped_column(String(250), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    case_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(200), ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)


class AuditRow(Base):
    """The audit trail: every entry a case recorded, numbered within it. Written with each
    change (store/projection.py), each entry once; the workflow keeps only a tail."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_transition", "case_id", "transition"),)

    case_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    # the CMMN transition of an ItemTransitioned event (the IBM face's task dates)
    transition: Mapped[str | None] = mapped_column(String(40), nullable=True)
    event: Mapped[dict[str, Any] | None] = mapped_column(JsonDict, nullable=True)


class FeedRow(Base):
    """The order in which the read model committed audit entries, across all cases: the event
    stream (`GET /events`) reads it forward from a client's last id. Each case's entries are
    appended in their own order, with no gap (store/projection.py)."""

    __tablename__ = "event_feed"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_event_feed_entry"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(Integer)
    # who the task the entry is about was for, before or after the entry's change (principals);
    # None: not known when it was appended (readers then go by the task as it is)
    audience: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class SubscriptionRow(Base):
    """A webhook subscription: where a user's events go (store/subscriptions.py). `cursor` is
    the feed id up to which the feed has been turned into its deliveries."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(200), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # the signing key, as Standard Webhooks writes it ("whsec_" and base64)
    secret: Mapped[str] = mapped_column(String(200))
    filter: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    description: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(20))  # active, paused
    cursor: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    created_on: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryRow(Base):
    """One event for one subscription; its id is the `webhook-id` a receiver deduplicates
    on. `pending` until the receiver answers 2xx (`delivered`), or until its attempts run
    out (`failed`: set aside, replayable)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "feed_id", name="uq_deliveries_event"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_case", "subscription_id", "case_id", "status", "feed_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(40), ForeignKey("subscriptions.id", ondelete="CASCADE"))
    feed_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    case_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # a dispatcher sending it holds it until then; past it (the worker died), it is sent again
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_on: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_on: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BalancedCounterRow(Base):
    """BALANCED assignment: how many times a task has been handed out, across cases."""

    __tablename__ = "balanced_counters"

    definition_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    task_def_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    handed_out: Mapped[int] = mapped_column(Integer, default=0)


class UsedRefreshTokenRow(Base):
    """A refresh token already exchanged at the token endpoint, by its `jti`. The primary key
    makes redeeming atomic: of two redeems of one token, exactly one inserts its row."""

    __tablename__ = "used_refresh_tokens"
    __table_args__ = (Index("ix_used_refresh_tokens_expires_at", "expires_at"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the token's own expiry: past it the token is refused anyway, so the row may go
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RevokedTokenFamilyRow(Base):
    """A family of refresh tokens (every token rotated from one password grant, named by the
    first token's `jti`) revoked because one of its tokens was redeemed twice."""

    __tablename__ = "revoked_token_families"

    family: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the `jti` whose second redeem revoked the family (None: revoked before this was kept)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
