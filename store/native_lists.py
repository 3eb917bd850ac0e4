"""The native face's lists across cases (DESIGN.md section 8): `GET /cases`, `GET /tasks`
and the caller's task counts, read from the read model.

Who sees what follows the engine's rules as the projection wrote them down: a case is
listed for the principals that belong to it (team, role holders, task holders,
supervisors) or for holders of PM_ALLCASES; a task for its role's holders and its holder,
and for the case's owners and supervisors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select, tuple_
from sqlalchemy.sql import Select

from store.db import Database
from store.projection import CANDIDATE, VIEWER
from store.tables import CaseRow, DelegationPrincipalRow, DelegationRow, ParticipationRow

DELETED = "DELETED"

CASE_SORTS: dict[str, Any] = {
    "caseNumber": CaseRow.case_number,
    "name": CaseRow.title,
    "definition": CaseRow.definition_id,
    "state": CaseRow.state,
    "createdOn": CaseRow.created_on,
    "lastModified": CaseRow.last_modified,
}
TASK_SORTS: dict[str, Any] = {
    "createdOn": DelegationRow.delegated_at,
    "lastModified": DelegationRow.last_modified,
    "dueDate": DelegationRow.due,
    "taskName": DelegationRow.task_name,
    "caseName": DelegationRow.case_title,
    "taskState": DelegationRow.task_state,
    "assignee": DelegationRow.assignee,
    "caseNumber": DelegationRow.case_number,
}


class UnknownSort(ValueError):
    def __init__(self, field: str, allowed: list[str]) -> None:
        super().__init__(f"cannot sort by '{field}': sortBy is one of {', '.join(allowed)}")
        self.field = field
        self.allowed = allowed


@dataclass(frozen=True)
class Page:
    offset: int = 0
    size: int = 100
    sort_by: str | None = None
    descending: bool = True


def _order(page: Page, sorts: dict[str, Any], default: str, tiebreak: list[Any]) -> list[Any]:
    field = page.sort_by or default
    if field not in sorts:
        raise UnknownSort(field, list(sorts))
    column = sorts[field]
    first = column.desc() if page.descending else column.asc()
    # a stable total order, so consecutive pages neither repeat nor skip rows
    return [first] + [c.desc() if page.descending else c.asc() for c in tiebreak]


def _paged(stmt: Select[Any], page: Page) -> Select[Any]:
    return stmt.offset(page.offset).limit(page.size)


# ------------------------------------------------------------------ cases


def case_visible(principals: list[str], all_cases: bool) -> ColumnElement[bool]:
    """`all_cases`: the caller sees every case (access.sees_all), else those they belong to."""
    if all_cases:
        return CaseRow.app_status != DELETED
    member = select(ParticipationRow.case_id).where(ParticipationRow.principal.in_(principals))
    return and_(CaseRow.app_status != DELETED, CaseRow.case_id.in_(member))


async def cases(
    db: Database, principals: list[str], all_cases: bool, *, state: str | None = None,
    definition: str | None = None, page: Page = Page(),
) -> list[CaseRow]:
    order = _order(page, CASE_SORTS, "caseNumber", [CaseRow.case_number])
    stmt = select(CaseRow).where(case_visible(principals, all_cases))
    if state:
        stmt = stmt.where(CaseRow.state == state)
    if definition:
        stmt = stmt.where(CaseRow.definition_id == definition)
    async with db.session() as session:
        return list((await session.execute(_paged(stmt.order_by(*order), page))).scalars())


# ------------------------------------------------------------------ tasks


# Up to this many visible tasks, a task list starts from the caller's rows in the principal
# index (a few lookups, then a small sort); past it, from the sort order's index, testing each
# row's visibility until the page is full (a busy user fills a page early). Either one alone
# is slow for the other kind of user: measured in bench/README.md.
FEW_TASKS = 2000


def _viewer(principals: list[str]) -> list[ColumnElement[bool]]:
    return [DelegationPrincipalRow.kind == VIEWER, DelegationPrincipalRow.principal.in_(principals)]


async def _task_visibility(session: Any, principals: list[str]) -> ColumnElement[bool] | None:
    """Which delegations the caller sees (the projection writes as viewers a task's role
    holders, its holder, and the case's owners and supervisors); None: none at all."""
    keys = (
        await session.execute(
            select(DelegationPrincipalRow.case_id, DelegationPrincipalRow.del_index).where(*_viewer(principals)).limit(FEW_TASKS + 1)
        )
    ).all()
    if not keys:
        return None
    if len(keys) <= FEW_TASKS:
        pairs = sorted({(k[0], k[1]) for k in keys})
        # the case ids alone as well: SQLite looks a row-value list up by the primary key
        # only through its first column (without it, it scans the sort order's index)
        return and_(
            DelegationRow.case_id.in_(sorted({p[0] for p in pairs})),
            tuple_(DelegationRow.case_id, DelegationRow.del_index).in_(pairs),
        )
    return exists().where(
        DelegationPrincipalRow.case_id == DelegationRow.case_id,
        DelegationPrincipalRow.del_index == DelegationRow.del_index,
        *_viewer(principals),
    )


@dataclass(frozen=True)
class TaskFilter:
    assignee: str | None = None
    owner: str | None = None
    task_state: str | None = None
    case_name: str | None = None
    task_name: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None


def _task_filters(f: TaskFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.assignee:
        out.append(DelegationRow.assignee == f.assignee)
    if f.owner:
        out.append(DelegationRow.owner == f.owner)
    if f.task_state:
        out.append(DelegationRow.task_state == f.task_state)
    if f.case_name:
        out.append(DelegationRow.case_title == f.case_name)
    if f.task_name:
        out.append(DelegationRow.task_name == f.task_name)
    if f.due_before:
        out.append(DelegationRow.due < f.due_before)
    if f.due_after:
        out.append(DelegationRow.due > f.due_after)
    return out


async def tasks(db: Database, principals: list[str], f: TaskFilter = TaskFilter(), page: Page = Page()) -> list[DelegationRow]:
    order = _order(page, TASK_SORTS, "createdOn", [DelegationRow.case_number, DelegationRow.del_index])
    async with db.session() as session:
        visible = await _task_visibility(session, principals)
        if visible is None:
            return []
        stmt = select(DelegationRow).where(DelegationRow.app_status != DELETED, visible, *_task_filters(f))
        return list((await session.execute(_paged(stmt.order_by(*order), page))).scalars())


async def task_counts(db: Database, user_id: str, principals: list[str]) -> dict[str, int]:
    """`claimed`: open tasks the user holds; `unclaimed`: open tasks in a pool they may claim."""
    claimed = select(func.count()).select_from(DelegationRow).where(
        DelegationRow.assignee == user_id, DelegationRow.open.is_(True), DelegationRow.app_status != DELETED,
    )
    pools = (
        select(DelegationPrincipalRow.case_id, DelegationPrincipalRow.del_index)
        .where(DelegationPrincipalRow.kind == CANDIDATE, DelegationPrincipalRow.principal.in_(principals))
        .distinct()
        .subquery()
    )
    unclaimed = select(func.count()).select_from(pools)
    async with db.session() as session:
        return {
            "claimed": (await session.execute(claimed)).scalar_one(),
            "unclaimed": (await session.execute(unclaimed)).scalar_one(),
        }
