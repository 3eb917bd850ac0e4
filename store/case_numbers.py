"""Case numbers: small, increasing integers from the database, one per case id.

Allocation is idempotent per case id, so a start that is retried (after a timeout, by a
client or by Temporal) gets the number it was first given instead of burning a new one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from store.db import Database
from store.tables import CaseNumberRow, utcnow


async def lookup(db: Database, case_id: str) -> int | None:
    async with db.session() as session:
        return await session.scalar(select(CaseNumberRow.number).where(CaseNumberRow.case_id == case_id))


async def allocate(db: Database, case_id: str) -> int:
    """The case's number, allocating the next one if it has none yet."""
    existing = await lookup(db, case_id)
    if existing is not None:
        return existing
    async with db.session() as session:
        row = CaseNumberRow(case_id=case_id, created_at=utcnow())
        session.add(row)
        try:
            await session.commit()
            return row.number
        except IntegrityError:
            # A concurrent allocation for the same case id won (unique case_id); use its
            # number. The number this attempt drew is simply never used.
            await session.rollback()
    number = await lookup(db, case_id)
    if number is None:  # pragma: no cover - the unique row cannot vanish
        raise RuntimeError(f"case number for {case_id!r} disappeared")
    return number
