"""Writing a case's projection into the read model (DESIGN.md section 5).

One transaction per projection. The case row is written only when the projection is newer
than what is stored (`version`), so a retried or late local activity never rolls a case
back; its delegations, principals and participations are replaced in the same transaction,
so a list never sees half a case.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Database
from store.tables import CaseRow, DelegationPrincipalRow, DelegationRow, ParticipationRow
from workflows.engine.projection import CaseDoc, DelegationDoc

CANDIDATE = "candidate"
VIEWER = "viewer"


def _insert(db: Database) -> Any:
    return sqlite.insert if db.is_sqlite else postgresql.insert


def _case_values(doc: CaseDoc) -> dict[str, Any]:
    return doc.model_dump(exclude={"delegations", "participations"})


def _delegation_values(doc: CaseDoc, d: DelegationDoc) -> dict[str, Any]:
    return {
        **d.model_dump(exclude={"candidates", "viewers"}),
        "case_id": doc.case_id, "case_number": doc.case_number, "case_title": doc.title,
        "app_status": doc.app_status, "case_state": doc.state, "definition_id": doc.definition_id,
        "definition_name": doc.definition_name, "category": doc.category, "case_created_on": doc.created_on,
        "case_created_by": doc.created_by, "case_updated_on": doc.last_modified, "case_finished_at": doc.finished_at,
        "search_text": f"{doc.title} {d.task_name}".lower(),
    }


async def write(db: Database, doc: CaseDoc) -> bool:
    """Store the projection; False when a newer one is already there (nothing changes)."""
    async with db.session() as session:
        if not await _claim_case_row(db, session, doc):
            await session.rollback()
            return False
        await _replace_children(db, session, doc)
        await session.commit()
    return True


async def _claim_case_row(db: Database, session: AsyncSession, doc: CaseDoc) -> bool:
    """Insert the case row, or update it when this projection is newer. The conditional
    upsert is one statement, so two writers of the same case cannot both win."""
    values = _case_values(doc)
    stmt = _insert(db)(CaseRow).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[CaseRow.case_id],
        set_={k: stmt.excluded[k] for k in values if k != "case_id"},
        where=CaseRow.version < stmt.excluded.version,
    )
    result = await session.execute(stmt)
    return bool(result.rowcount)


async def _replace_children(db: Database, session: AsyncSession, doc: CaseDoc) -> None:
    case_id = doc.case_id
    # Delegations are upserted, never deleted: an activation that left the state (a
    # reactivated task gets a new del_index) stays as history, closed.
    present = [d.del_index for d in doc.delegations]
    await session.execute(
        update(DelegationRow)
        .where(DelegationRow.case_id == case_id, DelegationRow.del_index.not_in(present))
        .values(open=False, current=False, app_status=doc.app_status, case_state=doc.state,
                case_updated_on=doc.last_modified, case_finished_at=doc.finished_at)
    )
    if doc.delegations:
        rows = [_delegation_values(doc, d) for d in doc.delegations]
        stmt = _insert(db)(DelegationRow).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=[DelegationRow.case_id, DelegationRow.del_index],
            set_={k: stmt.excluded[k] for k in rows[0] if k not in ("case_id", "del_index")},
        )
        await session.execute(stmt)
    await session.execute(delete(DelegationPrincipalRow).where(DelegationPrincipalRow.case_id == case_id))
    principals = [
        {"principal": p, "kind": kind, "case_number": doc.case_number, "case_id": case_id, "del_index": d.del_index}
        for d in doc.delegations
        for kind, names in ((CANDIDATE, d.candidates), (VIEWER, d.viewers))
        for p in names
    ]
    if principals:
        await session.execute(_insert(db)(DelegationPrincipalRow).values(principals).on_conflict_do_nothing())
    await session.execute(delete(ParticipationRow).where(ParticipationRow.case_id == case_id))
    parts = [
        {"principal": p.principal, "kind": p.kind, "case_number": doc.case_number, "case_id": case_id}
        for p in doc.participations
    ]
    if parts:
        await session.execute(_insert(db)(ParticipationRow).values(parts).on_conflict_do_nothing())

