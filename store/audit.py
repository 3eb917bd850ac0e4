"""Reading a case's audit trail from the read model (written by store/projection.py)."""

from __future__ import annotations

from sqlalchemy import select

from store.db import Database
from store.tables import AuditRow


async def entries(
    db: Database, case_id: str, first: int, end: int, transitions: frozenset[str] | None = None
) -> list[AuditRow]:
    """Entries numbered from `first` up to (not including) `end`, in the order the case
    recorded them; only those of the named CMMN transitions when `transitions` is given."""
    if end <= first:
        return []
    query = select(AuditRow).where(AuditRow.case_id == case_id, AuditRow.seq >= first, AuditRow.seq < end)
    if transitions is not None:
        query = query.where(AuditRow.transition.in_(transitions))
    async with db.session() as session:
        return list(await session.scalars(query.order_by(AuditRow.seq)))
