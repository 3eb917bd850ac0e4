"""Reading the event feed (written by store/projection.py): the audit entries the read model
committed, in commit order across cases, each with who may see it.

An entry is for those who see its case (the participations the projection wrote, or every
case with PM_ALLCASES), and, when it is about a task, for those the task lists show it to
(its viewers: its role's holders, its holder, the case's owners and supervisors) and those
who may claim it: a pool member outside the case learns that a task was offered to them and
that it was claimed away, as `GET /tasks` would show them, but not the case's other changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from store.db import Database
from store.native_lists import DELETED
from store.projection import CANDIDATE, VIEWER
from store.tables import AuditRow, CaseRow, DelegationPrincipalRow, DelegationRow, FeedRow, ParticipationRow
# the one builder of a task as the faces show it (a pure function of the row), and the
# engine's spelling of principals
from workflows.engine import principals
from workflows.engine.views import task_view


@dataclass
class Entry:
    """One committed entry of the feed, resolved with its audience and its task as the read
    model held them when it was read."""

    id: int
    case_id: str
    seq: int
    at: datetime
    user: str
    action: str
    item_id: str | None
    event: dict[str, Any] | None
    case: CaseRow | None = None
    task: DelegationRow | None = None
    members: frozenset[str] = frozenset()
    task_audience: frozenset[str] = frozenset()
    # who the task was for around the entry's change, as recorded with it (None: not recorded)
    recorded: frozenset[str] = frozenset()

    @property
    def kind(self) -> str:
        """The typed event's kind; `AuditEntry` for entries recorded before typed events."""
        return str(self.event.get("kind")) if self.event else "AuditEntry"

    def document(self) -> dict[str, Any]:
        """What the stream's events and the webhooks' deliveries carry of the entry."""
        case = self.case
        return {
            "id": self.id, "caseInstanceId": self.case_id, "caseNumber": case.case_number if case else None,
            "caseName": case.title if case else None, "caseState": case.state if case else None,
            "definition": case.definition_id if case else None,
            "seq": self.seq, "at": self.at.isoformat(), "user": self.user, "planItemId": self.item_id,
            "kind": self.kind, "event": self.event,
            # the task as the read model holds it now: as new as this entry, or newer
            "task": task_view(self.case_id, self.task.case_title, self.task).model_dump(mode="json") if self.task else None,
        }

    def visible_to(self, principals: frozenset[str], all_cases: bool) -> bool:
        if self.case is None or self.case.app_status == DELETED:
            return False
        return (
            all_cases or not principals.isdisjoint(self.members) or not principals.isdisjoint(self.task_audience)
            or not principals.isdisjoint(self.recorded)
        )


async def last_id(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.max(FeedRow.id))) or 0)


async def since(db: Database, after: int, limit: int) -> list[Entry]:
    """Up to `limit` entries with ids after `after`, oldest first, resolved."""
    query = (
        select(FeedRow.id, FeedRow.audience, AuditRow)
        .join(AuditRow, (AuditRow.case_id == FeedRow.case_id) & (AuditRow.seq == FeedRow.seq))
        .where(FeedRow.id > after).order_by(FeedRow.id).limit(limit)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
        entries = [
            Entry(id=feed_id, case_id=a.case_id, seq=a.seq, at=a.at, user=a.user, action=a.action, item_id=a.item_id, event=a.event,
                  recorded=frozenset(audience or ()))
            for feed_id, audience, a in rows
        ]
        await _resolve(session, entries)
    return entries


@dataclass
class _Audience:
    case: CaseRow | None = None
    members: set[str] = field(default_factory=set)
    # item id -> its current delegation, and who may claim or holds it
    tasks: dict[str, DelegationRow] = field(default_factory=dict)
    task_audience: dict[str, set[str]] = field(default_factory=dict)


async def _resolve(session: Any, entries: list[Entry]) -> None:
    case_ids = sorted({e.case_id for e in entries})
    if not case_ids:
        return
    found = {c: _Audience() for c in case_ids}
    for row in await session.scalars(select(CaseRow).where(CaseRow.case_id.in_(case_ids))):
        found[row.case_id].case = row
    parts = select(ParticipationRow.case_id, ParticipationRow.principal).where(ParticipationRow.case_id.in_(case_ids))
    for case_id, principal in await session.execute(parts):
        found[case_id].members.add(principal)
    # The newest activation of each item is the task as it is now; it and who it is for come
    # from one statement, so they agree with each other: the reads here are separate
    # snapshots, and a claim committed between two of them would otherwise leave a pool
    # member out of the task's audience for that moment.
    item_ids = sorted({e.item_id for e in entries if e.item_id is not None})
    tasks = (
        select(DelegationRow, DelegationPrincipalRow.principal)
        .outerjoin(DelegationPrincipalRow, (DelegationPrincipalRow.case_id == DelegationRow.case_id)
                   & (DelegationPrincipalRow.del_index == DelegationRow.del_index)
                   & DelegationPrincipalRow.kind.in_((CANDIDATE, VIEWER)))
        .where(DelegationRow.case_id.in_(case_ids), DelegationRow.item_id.in_(item_ids))
        .order_by(DelegationRow.del_index)
    )
    for row, principal in await session.execute(tasks):
        audience = found[row.case_id]
        if audience.tasks.get(row.item_id) is not row:
            audience.tasks[row.item_id] = row
            # the task's holder sees it (and its case), whatever the participations read said
            audience.task_audience[row.item_id] = {principals.user(row.assignee)} if row.open and row.assignee else set()
        if principal is not None:
            audience.task_audience[row.item_id].add(principal)
    for e in entries:
        audience = found[e.case_id]
        e.case = audience.case
        e.members = frozenset(audience.members)
        if e.item_id is not None:
            e.task = audience.tasks.get(e.item_id)
            e.task_audience = frozenset(audience.task_audience.get(e.item_id, ()))
