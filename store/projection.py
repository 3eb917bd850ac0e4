"""Writing a case's changes into the read model (DESIGN.md section 5).

A write is a `CaseChange`: the case at one version and the rows that changed after an
earlier version `base`. It is one transaction, and it applies only when the stored case is
at a version from `base` up to the change's own: then the rows it carries are every row that
differs, and the read model becomes exactly that recorded state. An older change is "stale"
(nothing to do); one whose base is newer than what is stored is a "gap" (a change nobody has
written yet) and is refused, so the read model never mixes two states. Writers that may hit
a gap (the gateways) leave it to the workflow's own projection activity, which writes from
what the store is known to hold.

Statements are built once and executed with parameters (executemany), so SQLAlchemy's
compiled cache serves every write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Database
from store.tables import AuditRow, CaseRow, DelegationPrincipalRow, DelegationRow, FeedRow, ParticipationRow
from workflows.engine import principals
from workflows.engine.projection import CaseChange, CaseDoc, DelegationDoc

CANDIDATE = "candidate"
VIEWER = "viewer"
Outcome = Literal["written", "stale", "gap"]
# PostgreSQL: writers append to the event feed one at a time (a transaction-scoped advisory
# lock), so feed ids are in commit order and a reader going forward by id skips nothing.
FEED_LOCK = 0x63617365  # "case"
# entries appended to the feed by one write, at most (more follow with the next write)
FEED_BATCH = 5000

# How long after a case recorded a change it reached the read model, as the gateway and the
# worker each measure their own writes (one name and one set of buckets, in seconds).
LAG_METRIC = "casework_projection_lag_seconds"
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def lag_seconds(doc: CaseDoc) -> float:
    """Seconds from the change `doc` is at (its case's time of it) to now; never negative,
    since the writer's clock may be behind the server's."""
    return max((datetime.now(UTC) - doc.last_modified).total_seconds(), 0.0)


_CASE_FIELDS = [c for c in CaseDoc.model_fields if c not in ("delegations", "participations")]
# the case's fields that every delegation row repeats, so lists need no join
_REPEATED = {
    "case_title": "title", "app_status": "app_status", "case_state": "state", "case_updated_on": "last_modified",
    "case_finished_at": "finished_at",
}


def _insert(db: Database) -> Any:
    return sqlite.insert if db.is_sqlite else postgresql.insert


def _case_values(doc: CaseDoc) -> dict[str, Any]:
    return {k: getattr(doc, k) for k in _CASE_FIELDS}


def _delegation_values(doc: CaseDoc, d: DelegationDoc) -> dict[str, Any]:
    return {
        **d.model_dump(exclude={"candidates", "viewers", "stamp"}),
        "case_id": doc.case_id, "case_number": doc.case_number, "case_title": doc.title,
        "app_status": doc.app_status, "case_state": doc.state, "definition_id": doc.definition_id,
        "definition_name": doc.definition_name, "category": doc.category, "case_created_on": doc.created_on,
        "case_created_by": doc.created_by, "case_updated_on": doc.last_modified, "case_finished_at": doc.finished_at,
        "search_text": f"{doc.title} {d.task_name}".lower(),
    }


async def write(db: Database, doc: CaseDoc) -> bool:
    """Store a whole projection; False when the stored case is as new or newer."""
    change = CaseChange(base=0, doc=doc, participations=doc.participations, present=[d.del_index for d in doc.delegations])
    return await write_change(db, change) == "written"


async def write_change(db: Database, change: CaseChange, *, replace: bool = False) -> Outcome:
    """`replace` (a whole case, base 0): write it even over a stored case at the same version,
    in the same transaction (never over a newer one), for an operator who knows the stored rows are wrong (the CLI's
    `rebuild --force`). A workflow's next change then finds the version it expects, or a gap
    and writes the case whole: the read model only moves to states the case recorded."""
    if replace and change.base != 0:
        raise ValueError("only a whole case replaces what is stored")
    async with db.session() as session:
        if replace:
            # never over a newer state (a change written since the rebuild asked the case)
            await session.execute(
                update(CaseRow).where(CaseRow.case_id == change.doc.case_id, CaseRow.version <= change.doc.version).values(version=-1)
            )
        outcome = await _claim_case_row(db, session, change)
        audiences: dict[str, list[str]] = {}
        if outcome == "written":
            audiences = await _write_rows(db, session, change)
        elif not change.audit:
            await session.rollback()
            return outcome
        # Audit entries are recorded facts, each written once by its number, whatever the
        # case row's outcome: a stale or early change may still bring entries not yet stored.
        await _write_audit(db, session, change, audiences)
        await session.commit()
    return outcome


async def stored_versions(db: Database, case_ids: list[str]) -> dict[str, int]:
    """The version the read model holds of each case (cases it has not seen are missing)."""
    if not case_ids:
        return {}
    async with db.session() as session:
        rows = await session.execute(select(CaseRow.case_id, CaseRow.version).where(CaseRow.case_id.in_(case_ids)))
        return {case_id: version for case_id, version in rows}


async def join_feed(db: Database, case_id: str, first_seq: int, last_seq: int) -> bool:
    """Before a case is written again from what its workflow holds (the CLI's rebuild, with
    entries `first_seq` to `last_seq`): when the feed could not go on from what it has of the
    case (nothing, or an end before `first_seq - 1`, older entries being gone), mark the
    case's place at `last_seq`, as migration 0011 marks cases from before the feed. The case
    then joins the feed with its next entry: its past is not sent to streams and webhooks as
    new, and the feed does not wait for ever for entries no one can supply. True: marked."""
    async with db.session() as session:
        await _lock_feed(db, session)
        fed = await session.scalar(_statements(db).fed_upto, {"k_case": case_id})
        if fed is not None and fed >= first_seq - 1:
            await session.rollback()
            return False
        await session.execute(_insert(db)(FeedRow).values(case_id=case_id, seq=last_seq).on_conflict_do_nothing())
        await session.commit()
    return True


async def open_cases(db: Database) -> int:
    """How many cases the read model holds that have not finished (for the worker's gauge)."""
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(CaseRow).where(CaseRow.finished_at.is_(None))) or 0)


class _Statements:
    """The write's statements for one dialect, built once with bound parameters: each write
    only binds values, so SQLAlchemy neither builds nor compiles a statement per write (it
    did, and that was most of a write's CPU)."""

    def __init__(self, db: Database) -> None:
        cases, dels = CaseRow.__table__, DelegationRow.__table__
        principals, parts = DelegationPrincipalRow.__table__, ParticipationRow.__table__
        insert = _insert(db)
        upsert = insert(cases).values({c: bindparam(f"v_{c}") for c in _CASE_FIELDS})
        self.case_whole = upsert.on_conflict_do_update(
            index_elements=[cases.c.case_id],
            set_={c: upsert.excluded[c] for c in _CASE_FIELDS if c != "case_id"},
            where=cases.c.version < upsert.excluded.version,
        )
        self.case_since = (
            update(cases)
            .where(cases.c.case_id == bindparam("k_case"), cases.c.version < bindparam("k_version"),
                   cases.c.version >= bindparam("k_base"))
            .values({c: bindparam(f"v_{c}") for c in _CASE_FIELDS if c != "case_id"})
        )
        self.stored = select(cases.c.version).where(cases.c.case_id == bindparam("k_case"))
        self.repeated = (
            update(dels).where(dels.c.case_id == bindparam("k_case"))
            .values({column: bindparam(f"v_{column}") for column in _REPEATED})
        )
        self.close_absent = (
            update(dels)
            .where(dels.c.case_id == bindparam("k_case"), dels.c.del_index.not_in(bindparam("k_present", expanding=True)))
            .values(open=False, current=False)
        )
        keys = {"case_id", "del_index"}
        base = insert(dels)
        self.delegations = base.on_conflict_do_update(
            index_elements=[dels.c.case_id, dels.c.del_index],
            set_={c.name: base.excluded[c.name] for c in dels.columns if c.name not in keys},
        )
        # what it answers: who the changed delegations were for before this change
        self.drop_principals = delete(principals).where(
            principals.c.case_id == bindparam("k_case"), principals.c.del_index.in_(bindparam("k_changed", expanding=True))
        ).returning(principals.c.del_index, principals.c.principal)
        self.principals = insert(principals).on_conflict_do_nothing()
        self.drop_participations = delete(parts).where(parts.c.case_id == bindparam("k_case"))
        self.participations = insert(parts).on_conflict_do_nothing()
        self.audit = insert(AuditRow.__table__).on_conflict_do_nothing()
        feed, audit = FeedRow.__table__, AuditRow.__table__
        self.fed_upto = select(func.max(feed.c.seq)).where(feed.c.case_id == bindparam("k_case"))
        self.unfed = (
            select(audit.c.seq).where(audit.c.case_id == bindparam("k_case"), audit.c.seq >= bindparam("k_from"))
            .order_by(audit.c.seq).limit(FEED_BATCH)
        )
        self.first_stored = select(func.min(audit.c.seq)).where(audit.c.case_id == bindparam("k_case"))
        self.feed = insert(feed).on_conflict_do_nothing()


_STATEMENTS: dict[bool, _Statements] = {}


def _statements(db: Database) -> _Statements:
    found = _STATEMENTS.get(db.is_sqlite)
    if found is None:
        found = _STATEMENTS[db.is_sqlite] = _Statements(db)
    return found


async def _claim_case_row(db: Database, session: AsyncSession, change: CaseChange) -> Outcome:
    """Move the case row to the change's version, if the stored one is in [base, version).
    Deciding in the one conditional statement means two writers of one case cannot both win."""
    doc = change.doc
    sql = _statements(db)
    values = {f"v_{k}": v for k, v in _case_values(doc).items()}
    if change.base == 0:
        result = await session.execute(sql.case_whole, values)
    else:
        result = await session.execute(sql.case_since, {**values, "k_case": doc.case_id, "k_version": doc.version, "k_base": change.base})
    if result.rowcount:
        return "written"
    stored = await session.scalar(sql.stored, {"k_case": doc.case_id})
    return "stale" if stored is not None and stored >= doc.version else "gap"


async def _write_rows(db: Database, session: AsyncSession, change: CaseChange) -> dict[str, list[str]]:
    """Write the rows; answer, for each task whose delegation changed, who it was for before
    or after the change (its viewers, candidates and holder): the audience of the change's
    entries about it in the event feed, so a pool member hears that a task was claimed away."""
    doc = change.doc
    case_id = doc.case_id
    sql = _statements(db)
    audiences: dict[str, set[str]] = {}
    # Rows the change does not carry are as they were, but for the case fields they repeat.
    await session.execute(sql.repeated, {"k_case": case_id, **{f"v_{c}": getattr(doc, f) for c, f in _REPEATED.items()}})
    if change.present is not None:
        # An activation that left the case (a reactivated task has a new del_index) stays
        # as history, closed.
        await session.execute(sql.close_absent, {"k_case": case_id, "k_present": change.present or [-1]})
    if doc.delegations:
        await session.execute(sql.delegations, [_delegation_values(doc, d) for d in doc.delegations])
        before = await session.execute(sql.drop_principals, {"k_case": case_id, "k_changed": [d.del_index for d in doc.delegations]})
        item_of = {d.del_index: d.item_id for d in doc.delegations}
        for del_index, principal in before:
            audiences.setdefault(item_of[del_index], set()).add(principal)
        for d in doc.delegations:
            audiences.setdefault(d.item_id, set()).update(d.candidates, d.viewers, [principals.user(d.assignee)] if d.assignee else [])
        principal_rows = [
            {"principal": p, "kind": kind, "case_number": doc.case_number, "case_id": case_id, "del_index": d.del_index}
            for d in doc.delegations
            for kind, names in ((CANDIDATE, d.candidates), (VIEWER, d.viewers))
            for p in names
        ]
        if principal_rows:
            await session.execute(sql.principals, principal_rows)
    if change.participations is not None:
        await session.execute(sql.drop_participations, {"k_case": case_id})
        parts = [
            {"principal": p.principal, "kind": p.kind, "case_number": doc.case_number, "case_id": case_id}
            for p in change.participations
        ]
        if parts:
            await session.execute(sql.participations, parts)
    return {item: sorted(names) for item, names in audiences.items()}


async def _write_audit(db: Database, session: AsyncSession, change: CaseChange, audiences: dict[str, list[str]]) -> None:
    if not change.audit:
        return
    case_id = change.doc.case_id
    rows = [
        {"case_id": case_id, "seq": a.seq, "at": a.at, "user": a.user, "action": a.action[:100], "item_id": a.item_id,
         "detail": a.detail, "event": a.event,
         "transition": a.event.get("transition") if a.event and a.event.get("kind") == "ItemTransitioned" else None}
        for a in change.audit
    ]
    await session.execute(_statements(db).audit, rows)
    recorded = {a.seq: audiences[a.item_id] for a in change.audit if a.item_id in audiences}
    await _append_to_feed(db, session, case_id, recorded)


async def _lock_feed(db: Database, session: AsyncSession) -> None:
    """PostgreSQL: one appender to the feed at a time, until the transaction ends (FEED_LOCK)."""
    if not db.is_sqlite:
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK})


async def _append_to_feed(db: Database, session: AsyncSession, case_id: str, audiences: dict[int, list[str]]) -> None:
    """Append the case's stored entries that follow what the feed has of it, in their order
    and without a gap: an entry written ahead of an earlier one waits in the audit table
    until the earlier one arrives, so the stream shows every case's entries in order. A case
    with nothing in the feed yet (made since the feed exists) starts at its entry 0; the
    cases from before it start after what was stored then (migration 0011 marks them). `audiences`: by entry number,
    who the task an entry of this change is about was for, before or after it."""
    sql = _statements(db)
    await _lock_feed(db, session)
    fed = await session.scalar(sql.fed_upto, {"k_case": case_id})
    if fed is None:
        start = 0  # a case made since the feed exists: from its first entry, waiting for it
    elif fed == -1:
        # a case from before the feed with no entry stored then (migration 0011): from the
        # first entry stored since
        start = await session.scalar(sql.first_stored, {"k_case": case_id}) or 0
    else:
        start = fed + 1
    seqs = list(await session.scalars(sql.unfed, {"k_case": case_id, "k_from": start}))
    contiguous = [s for i, s in enumerate(seqs) if s == start + i]
    if contiguous:
        await session.execute(sql.feed, [{"case_id": case_id, "seq": s, "audience": audiences.get(s)} for s in contiguous])
