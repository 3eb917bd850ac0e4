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

from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Database
from store.tables import AuditRow, CaseRow, DelegationPrincipalRow, DelegationRow, ParticipationRow
from workflows.engine.projection import CaseChange, CaseDoc, DelegationDoc

CANDIDATE = "candidate"
VIEWER = "viewer"
Outcome = Literal["written", "stale", "gap"]

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


async def write_change(db: Database, change: CaseChange) -> Outcome:
    async with db.session() as session:
        outcome = await _claim_case_row(db, session, change)
        if outcome == "written":
            await _write_rows(db, session, change)
        elif not change.audit:
            await session.rollback()
            return outcome
        # Audit entries are recorded facts, each written once by its number, whatever the
        # case row's outcome: a stale or early change may still bring entries not yet stored.
        await _write_audit(db, session, change)
        await session.commit()
    return outcome


async def stored_versions(db: Database, case_ids: list[str]) -> dict[str, int]:
    """The version the read model holds of each case (cases it has not seen are missing)."""
    if not case_ids:
        return {}
    async with db.session() as session:
        rows = await session.execute(select(CaseRow.case_id, CaseRow.version).where(CaseRow.case_id.in_(case_ids)))
        return {case_id: version for case_id, version in rows}


async def _claim_case_row(db: Database, session: AsyncSession, change: CaseChange) -> Outcome:
    """Move the case row to the change's version, if the stored one is in [base, version).
    Deciding in the one conditional statement means two writers of one case cannot both win."""
    doc = change.doc
    values = _case_values(doc)
    if change.base == 0:
        stmt = _insert(db)(CaseRow).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[CaseRow.case_id],
            set_={k: stmt.excluded[k] for k in values if k != "case_id"},
            where=CaseRow.version < stmt.excluded.version,
        )
    else:
        stmt = (
            update(CaseRow)
            .where(CaseRow.case_id == doc.case_id, CaseRow.version < doc.version, CaseRow.version >= change.base)
            .values(**{k: v for k, v in values.items() if k != "case_id"})
        )
    if (await session.execute(stmt)).rowcount:
        return "written"
    stored = await session.scalar(select(CaseRow.version).where(CaseRow.case_id == doc.case_id))
    return "stale" if stored is not None and stored >= doc.version else "gap"


async def _write_rows(db: Database, session: AsyncSession, change: CaseChange) -> None:
    doc = change.doc
    case_id = doc.case_id
    repeated = {column: getattr(doc, field) for column, field in _REPEATED.items()}
    # Rows the change does not carry are as they were, but for the case fields they repeat.
    await session.execute(update(DelegationRow).where(DelegationRow.case_id == case_id).values(**repeated))
    if change.present is not None:
        # An activation that left the case (a reactivated task has a new del_index) stays
        # as history, closed.
        await session.execute(
            update(DelegationRow)
            .where(DelegationRow.case_id == case_id, DelegationRow.del_index.not_in(change.present))
            .values(open=False, current=False)
        )
    if doc.delegations:
        await session.execute(_upsert_delegations(db), [_delegation_values(doc, d) for d in doc.delegations])
        changed = [d.del_index for d in doc.delegations]
        await session.execute(
            delete(DelegationPrincipalRow).where(
                DelegationPrincipalRow.case_id == case_id, DelegationPrincipalRow.del_index.in_(changed)
            )
        )
        principals = [
            {"principal": p, "kind": kind, "case_number": doc.case_number, "case_id": case_id, "del_index": d.del_index}
            for d in doc.delegations
            for kind, names in ((CANDIDATE, d.candidates), (VIEWER, d.viewers))
            for p in names
        ]
        if principals:
            await session.execute(_insert(db)(DelegationPrincipalRow).on_conflict_do_nothing(), principals)
    if change.participations is not None:
        await session.execute(delete(ParticipationRow).where(ParticipationRow.case_id == case_id))
        parts = [
            {"principal": p.principal, "kind": p.kind, "case_number": doc.case_number, "case_id": case_id}
            for p in change.participations
        ]
        if parts:
            await session.execute(_insert(db)(ParticipationRow).on_conflict_do_nothing(), parts)


async def _write_audit(db: Database, session: AsyncSession, change: CaseChange) -> None:
    if not change.audit:
        return
    case_id = change.doc.case_id
    rows = [
        {"case_id": case_id, "seq": a.seq, "at": a.at, "user": a.user, "action": a.action[:100], "item_id": a.item_id,
         "detail": a.detail, "event": a.event,
         "transition": a.event.get("transition") if a.event and a.event.get("kind") == "ItemTransitioned" else None}
        for a in change.audit
    ]
    await session.execute(_insert(db)(AuditRow).on_conflict_do_nothing(), rows)


_UPSERTS: dict[bool, Any] = {}


def _upsert_delegations(db: Database) -> Any:
    """One statement object per dialect, reused, so its compiled form is cached."""
    stmt = _UPSERTS.get(db.is_sqlite)
    if stmt is None:
        keys = {"case_id", "del_index"}
        base = _insert(db)(DelegationRow)
        columns = [c.name for c in DelegationRow.__table__.columns if c.name not in keys]
        stmt = base.on_conflict_do_update(
            index_elements=[DelegationRow.case_id, DelegationRow.del_index],
            set_={c: base.excluded[c] for c in columns},
        )
        _UPSERTS[db.is_sqlite] = stmt
    return stmt
