"""ProcessMaker's case lists (to do, draft, participated, unassigned, paused, advanced search)
over the read model's delegation rows.

Every list is one select on `delegations`, one row per delegation, as ProcessMaker shows them:
each kind only says which rows are its own (`_todo`, `_unassigned`, ...); filtering, sorting,
paging and counting are shared by `_page`. Callers pass raw query-string values through
`parse_filters`, which refuses what ProcessMaker would silently ignore (an unknown sort column,
a bad direction, a limit past the maximum) with a `BadFilter` naming what is allowed.

How each kind is served by an index (store/tables.py), default sort (APP_NUMBER):
- to do, draft: `ix_delegations_assignee` (assignee, open, case_number).
- unassigned: the primary key of `delegation_principals` (principal, kind, ...), then the
  delegations' primary key.
- participated, and advanced search without PM_ALLCASES: the primary key of `participations`
  (principal, kind, ...), then the delegations' primary key.
- paused: `ix_delegations_status` (app_status, current, case_number).
- advanced search with PM_ALLCASES: `ix_delegations_current`, `ix_delegations_status` with
  `app_status`, `ix_delegations_definition` with `pro_uid`, `ix_delegations_assignee` with
  `usr_uid`, `ix_delegations_delegated_at` with dates.
- `search` is a substring match on `search_text`: a pg_trgm GIN index serves it on PostgreSQL, an
  FTS5 trigram table (`delegations_search`) on SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, literal, literal_column, select, table, true, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from store.db import SEARCH_TABLE, Database
from store.tables import DefinitionRow, DelegationPrincipalRow, DelegationRow, ParticipationRow

D = DelegationRow
# What a list row carries: every delegation column but the task's input and output documents,
# which no list shows.
LIST_COLUMNS = [c for c in DelegationRow.__table__.c if c.name not in ("input", "output")]

DEFAULT_LIMIT = 25
# A page is at most this many rows: past it a client pages with start/limit (the seed's
# "download them with multiple calls"). Larger asks are refused, never silently cut short.
# The most rows one query reads: a longer list is read (and answered) in chunks of this size.
CHUNK = 1000
# The largest `limit` by default (the setting CASEWORK_PM_MAX_LIMIT): the seed advises asking
# for the whole total at once.
MAX_LIMIT = 100_000

TO_DO, DRAFT, PAUSED, COMPLETED, CANCELLED, DELETED = "TO_DO", "DRAFT", "PAUSED", "COMPLETED", "CANCELLED", "DELETED"
UNASSIGNED = "UNASSIGNED"
# What advanced search's `app_status` may ask for (the seed's list).
SEARCHABLE_STATUSES = (TO_DO, DRAFT, PAUSED, CANCELLED, COMPLETED)

# Participation and delegation-principal kinds, as the projection writes them.
PARTICIPANT, SUPERVISOR, CANDIDATE = "participant", "supervisor", "candidate"

SORT_PREFIX = "APP_CACHE_VIEW."
# ProcessMaker's APP_CACHE_VIEW columns (the case object's fields) and the delegation column
# each sorts by. Columns that only the directory knows (user names) cannot be sorted in SQL.
SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "APP_NUMBER": D.case_number,
    "APP_UID": D.case_id,
    "APP_TITLE": D.case_title,
    "APP_STATUS": D.app_status,
    "APP_PRO_TITLE": D.definition_name,
    "APP_TAS_TITLE": D.task_name,
    "APP_CREATE_DATE": D.case_created_on,
    "APP_UPDATE_DATE": D.case_updated_on,
    "APP_FINISH_DATE": D.case_finished_at,
    "DEL_INDEX": D.del_index,
    "DEL_DELEGATE_DATE": D.delegated_at,
    "DEL_INIT_DATE": D.init_at,
    "DEL_TASK_DUE_DATE": D.due,
    "DEL_FINISH_DATE": D.finished_at,
    "DEL_THREAD_STATUS": D.open,  # CLOSED < OPEN, as false < true
    "USR_UID": D.assignee,
    "PREVIOUS_USR_UID": D.previous_user,
    "PRO_UID": D.definition_id,
    "TAS_UID": D.task_def_id,
}
DEFAULT_SORT = "APP_NUMBER"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT = re.compile(r"^[0-9]+$")


class BadFilter(ValueError):
    """A filter the caller must fix; the message is fit to show them (it names no secret)."""


@dataclass(frozen=True)
class Caller:
    """Who is listing: their user id (what `assignee` holds), every principal they match
    (`user:<id>`, `user:<username>`, `group:<id>`), and whether they may see all cases."""

    user_id: str
    principals: Sequence[str]
    all_cases: bool = False


@dataclass(frozen=True)
class Filters:
    start: int = 1  # 1-based: the first row returned is row `start`
    limit: int = DEFAULT_LIMIT
    sort: str = DEFAULT_SORT
    dir: str = "DESC"
    cat_uid: str = ""
    pro_uid: str = ""
    search: str = ""
    # advanced search only
    app_status: str = ""
    usr_uid: str = ""
    date_from: date | None = None
    date_to: date | None = None

    @property
    def sort_name(self) -> str:
        return (SORT_PREFIX + self.sort).lower()


@dataclass
class Page:
    rows: list[Row[Any]]  # LIST_COLUMNS, by name
    total: int | None = None  # counted only when asked for
    filters: Filters = field(default_factory=Filters)


# ---------------------------------------------------------------- parsing the query string


def _count(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    if not _INT.match(raw.strip()):
        raise BadFilter(f"The parameter {name} must be a whole number of 0 or more.")
    return int(raw.strip())


def _day(name: str, raw: str | None) -> date | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        if not _DATE.match(raw.strip()):
            raise ValueError
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise BadFilter(f"The parameter {name} must be a date in 'YYYY-MM-DD' format.") from None


def parse_filters(
    *,
    start: str | None = None,
    limit: str | None = None,
    sort: str | None = None,
    dir: str | None = None,
    cat_uid: str | None = None,
    pro_uid: str | None = None,
    search: str | None = None,
    app_status: str | None = None,
    usr_uid: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    max_limit: int = MAX_LIMIT,
) -> Filters:
    """Query-string values (as sent, or None) to `Filters`; `BadFilter` for anything unusable."""
    first = _count("start", start, 1)
    size = _count("limit", limit, DEFAULT_LIMIT)
    if size > max_limit:
        raise BadFilter(f"The parameter limit must be at most {max_limit}; page through longer lists with start.")
    column = (sort or "").strip().upper() or DEFAULT_SORT
    column = column.removeprefix(SORT_PREFIX)
    if column not in SORT_COLUMNS:
        allowed = ", ".join(SORT_PREFIX + c for c in SORT_COLUMNS)
        raise BadFilter(f"The sort column is not valid; it must be one of: {allowed}.")
    direction = (dir or "").strip().upper() or "DESC"
    if direction not in ("ASC", "DESC"):
        raise BadFilter("The parameter dir must be ASC or DESC.")
    status = (app_status or "").strip().upper()
    if status and status not in SEARCHABLE_STATUSES:
        raise BadFilter(f"The parameter app_status must be one of: {', '.join(SEARCHABLE_STATUSES)}.")
    return Filters(
        start=max(first, 1), limit=size, sort=column, dir=direction, cat_uid=(cat_uid or "").strip(),
        pro_uid=(pro_uid or "").strip(), search=search or "", app_status=status, usr_uid=(usr_uid or "").strip(),
        date_from=_day("date_from", date_from), date_to=_day("date_to", date_to),
    )


# ---------------------------------------------------------------- building the select


def like_pattern(text: str) -> str:
    """`%text%` for LIKE ... ESCAPE '\\', lower-cased as `search_text` is, wildcards escaped."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _search(text_: str, sqlite: bool) -> ColumnElement[bool]:
    """A case-insensitive substring of the case or task title. On SQLite, three characters or
    more are looked up in the trigram full-text index (migration 0004) as a phrase, which is
    a substring match; shorter ones, and PostgreSQL (its pg_trgm index), use LIKE."""
    if sqlite and len(text_) >= 3:
        phrase = '"' + text_.lower().replace('"', '""') + '"'
        hits = select(literal_column("rowid")).select_from(table(SEARCH_TABLE)).where(
            literal_column(SEARCH_TABLE).op("MATCH")(phrase)
        )
        return literal_column("delegations.rowid").in_(hits)
    return D.search_text.like(like_pattern(text_), escape="\\")


def _filter_conditions(f: Filters, sqlite: bool = False) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.cat_uid:
        conds.append(D.category == f.cat_uid)
    if f.pro_uid:
        conds.append(D.definition_id == f.pro_uid)
    if f.search:
        conds.append(_search(f.search, sqlite))
    if f.app_status:
        conds.append(D.app_status == f.app_status)
    if f.usr_uid:
        conds.append(D.assignee == f.usr_uid)
    if f.date_from:
        conds.append(D.delegated_at >= _midnight(f.date_from))
    if f.date_to:  # inclusive: the whole of that day
        conds.append(D.delegated_at < _midnight(f.date_to + timedelta(days=1)))
    return conds


def _ordered(column: InstrumentedAttribute[Any], descending: bool) -> ColumnElement[Any]:
    # NULL sorts as the greatest value on both backends (PostgreSQL's own default), so a
    # list without due dates ends an ascending sort by due date the same way everywhere.
    ordered = column.desc() if descending else column.asc()
    if column.nullable:
        ordered = ordered.nulls_first() if descending else ordered.nulls_last()
    return ordered


def _order_by(f: Filters) -> list[ColumnElement[Any]]:
    descending = f.dir == "DESC"
    # Ties go by case number, then delegation index, in the same direction: pages are stable
    # and an index ending in case_number can be read in either direction.
    columns = [SORT_COLUMNS[f.sort]] + [c for c in (D.case_number, D.del_index) if c is not SORT_COLUMNS[f.sort]]
    return [_ordered(c, descending) for c in columns]


def _cases_where(principals: Sequence[str], *kinds: str) -> ColumnElement[bool]:
    """The delegation's case is one where a principal of the caller has one of these
    participations (any kind when none is named). A semi-join: a case the caller belongs to
    in several ways still gives each row once."""
    query = select(ParticipationRow.case_id).where(ParticipationRow.principal.in_(list(principals)))
    if kinds:
        query = query.where(ParticipationRow.kind.in_(kinds))
    return D.case_id.in_(query)


# Each kind: the conditions that make a delegation row one of its own.
Scope = Callable[[Caller], list[ColumnElement[bool]]]


def _inbox(status: str) -> Scope:
    def scope(caller: Caller) -> list[ColumnElement[bool]]:
        return [D.assignee == caller.user_id, D.open == true(), D.app_status == status]

    return scope


_inbox_todo = _inbox(TO_DO)
_inbox_draft = _inbox(DRAFT)


def _participated(caller: Caller) -> list[ColumnElement[bool]]:
    return [_cases_where(caller.principals, PARTICIPANT), D.current == true(), D.app_status != DELETED]


def _unassigned(caller: Caller) -> list[ColumnElement[bool]]:
    candidates = select(DelegationPrincipalRow.case_id, DelegationPrincipalRow.del_index).where(
        DelegationPrincipalRow.principal.in_(list(caller.principals)), DelegationPrincipalRow.kind == CANDIDATE
    )
    return [
        tuple_(D.case_id, D.del_index).in_(candidates), D.open == true(), D.assignee.is_(None),
        D.app_status.in_((TO_DO, DRAFT)),
    ]


def _paused(caller: Caller) -> list[ColumnElement[bool]]:
    # DESIGN.md section 6: a case's supervisors see it paused too, not only its assignee.
    mine = (D.assignee == caller.user_id) | _cases_where(caller.principals, SUPERVISOR)
    return [D.app_status == PAUSED, D.current == true(), mine]


def _advanced_search(caller: Caller) -> list[ColumnElement[bool]]:
    visible = true() if caller.all_cases else _cases_where(caller.principals)
    return [visible, D.current == true(), D.app_status != DELETED]


async def _check_known(db: Database, f: Filters) -> None:
    """ProcessMaker's 400s for a category or process that does not exist."""
    async with db.session() as session:
        if f.cat_uid and await session.scalar(
            select(literal(1)).where(DefinitionRow.category == f.cat_uid).limit(1)
        ) is None:
            raise BadFilter(f"The category with $cat_uid: '{f.cat_uid}' does not exist.")
        if f.pro_uid and await session.scalar(
            select(literal(1)).where(DefinitionRow.id == f.pro_uid).limit(1)
        ) is None:
            raise BadFilter(f"The process with $pro_uid: '{f.pro_uid}' does not exist.")


def list_select(scope: Scope, caller: Caller, f: Filters, *, sqlite: bool = False) -> tuple[Select[Any], Select[tuple[int]]]:
    """The page's select and its count, for one kind of list (exposed for EXPLAIN in tests)."""
    conds = scope(caller) + _filter_conditions(f, sqlite)
    rows = select(*LIST_COLUMNS).where(*conds).order_by(*_order_by(f)).offset(f.start - 1).limit(f.limit)
    count = select(func.count()).select_from(D).where(*conds)
    return rows, count


async def _page(db: Database, scope: Scope, caller: Caller, f: Filters, with_total: bool) -> Page:
    await _check_known(db, f)
    rows_q, count_q = list_select(scope, caller, f, sqlite=db.is_sqlite)
    async with db.session() as session:
        rows = list((await session.execute(rows_q)).all()) if f.limit > 0 else []
        total = await session.scalar(count_q) if with_total else None
    return Page(rows=rows, total=total, filters=f)


Lister = Callable[..., Awaitable[Page]]


def _lister(scope: Scope, name: str, doc: str) -> Lister:
    """The public query of one kind: `await todo(db, caller, filters, with_total=True)`."""

    async def run(db: Database, caller: Caller, f: Filters, *, with_total: bool = False) -> Page:
        return await _page(db, scope, caller, f, with_total)

    run.__name__ = run.__qualname__ = name
    run.__doc__ = doc
    return run


todo = _lister(_inbox_todo, "todo", "Open delegations assigned to the caller in cases whose status is TO_DO.")
draft = _lister(_inbox_draft, "draft", "Open delegations assigned to the caller in DRAFT cases (first task not yet routed).")
participated = _lister(_participated, "participated", "The current rows of cases the caller started or held a task of.")
unassigned = _lister(_unassigned, "unassigned", "Open, unheld delegations the caller may claim.")
paused = _lister(_paused, "paused", "The current rows of paused cases the caller holds or supervises.")
advanced_search = _lister(
    _advanced_search, "advanced_search", "The current rows of every case (PM_ALLCASES) or of every case the caller belongs to."
)

SCOPES: dict[str, Scope] = {
    "todo": _inbox_todo, "draft": _inbox_draft, "participated": _participated, "unassigned": _unassigned,
    "paused": _paused, "advanced-search": _advanced_search,
}
