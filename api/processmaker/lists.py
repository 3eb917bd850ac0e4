"""ProcessMaker's case lists (seed, "Filters for listing cases" to "Get Page of Advanced Search
Cases"): to do, draft, participated, unassigned, paused and advanced search, each as an array
of case objects and as a page (`.../paged`).

The rows come from the read model (store/pm_lists.py); this module parses the query string,
says who is asking, and writes each delegation row as the seed's case object. Filters are
stricter than ProcessMaker's: an unknown sort column, a bad `dir` or a `limit` above
`CASEWORK_PM_MAX_LIMIT` (100,000) is a 400 naming what is allowed, never a silent fallback or
a cut-short page. A page echoes `start` 1-based (0 and 1 both mean the first row, and echo as
1). The seed advises asking for a list's whole total at once: a `limit` above
`pm_lists.CHUNK` (1,000) is read and written out in chunks of that size, so a long list
costs the gateway the memory of one chunk, not of the list.

Include this router before the case actions' router: `/cases/draft` must not be taken for
the case `draft`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.consistency import read_model_fresh
from api.deps import CurrentActor, Service, Users
from api.processmaker.common import Workspace, bad_request, display_name, pm_date, user_fields
from store import pm_lists
from store.db import Database
from store.directory import Directory
from store.pm_lists import BadFilter, Caller, Filters, Lister, Page
from workflows.public import STATUS_LABELS, Actor, principals_of, sees_all

# Every list waits (bounded) for the caller's own recent actions to reach the read model.
router = APIRouter(tags=["processmaker: case lists"], dependencies=[Depends(read_model_fresh)])
BASE = "/api/1.0/{workspace}/cases"
CLOSED_STATUSES = frozenset({pm_lists.COMPLETED, pm_lists.CANCELLED, pm_lists.DELETED})


# ------------------------------------------------------------------ answers


class CaseItem(BaseModel):
    """The seed's case object, field for field and in its order. Numbers are strings as in
    the seed; dates are `YYYY-MM-DD HH:MM:SS` UTC or null."""

    app_uid: str
    del_index: str
    del_last_index: str = Field(
        description="'1' when this delegation is the last of its thread (ProcessMaker's "
        "APP_CACHE_VIEW.DEL_LAST_INDEX flag), else '0'. Every row these lists return is one."
    )
    app_number: str
    app_status: str
    usr_uid: str
    previous_usr_uid: str
    tas_uid: str
    pro_uid: str
    del_delegate_date: str | None
    del_init_date: str | None
    del_task_due_date: str | None
    del_finish_date: str | None
    del_thread_status: str
    app_thread_status: str
    app_title: str
    app_pro_title: str
    app_tas_title: str
    app_current_user: str
    app_del_previous_user: str
    del_priority: str = "NORMAL"
    del_duration: str = "0"
    del_queue_duration: str = "0"
    del_delay_duration: str = "0"
    del_started: str = "0"
    del_finished: str = "0"
    del_delayed: str = "0"
    app_create_date: str | None
    app_finish_date: str | None
    app_update_date: str | None
    app_overdue_percentage: str = "0"
    usr_firstname: str
    usr_lastname: str
    usr_username: str
    appcvcr_app_tas_title: str
    usrcr_usr_uid: str
    usrcr_usr_firstname: str
    usrcr_usr_lastname: str
    usrcr_usr_username: str
    app_status_label: str


class _PageHead(BaseModel):
    total: int
    start: int
    limit: int
    sort: str
    dir: str
    cat_uid: str
    pro_uid: str
    search: str


class CasePage(_PageHead):
    data: list[CaseItem]


class SearchPage(_PageHead):
    app_status: str
    usr_uid: str
    date_from: str
    date_to: str
    data: list[CaseItem]


def case_item(row: Any, users: Directory, *, unassigned: bool = False) -> CaseItem:
    """`row`: a list row of store.pm_lists (the delegation's columns, by name)."""
    # The unassigned list shows a claimable task: status UNASSIGNED and nobody's name on it.
    holder = None if unassigned else row.assignee
    status = pm_lists.UNASSIGNED if unassigned else row.app_status
    current = user_fields(users, holder)
    creator = user_fields(users, holder, prefix="usrcr_usr_")  # USRCR: the current delegation's user
    return CaseItem(
        app_uid=row.case_id, del_index=str(row.del_index), del_last_index="1" if row.current else "0",
        app_number=str(row.case_number), app_status=status, usr_uid=current["usr_uid"],
        previous_usr_uid=row.previous_user or "", tas_uid=row.task_def_id, pro_uid=row.definition_id,
        del_delegate_date=pm_date(row.delegated_at), del_init_date=pm_date(row.init_at),
        del_task_due_date=pm_date(row.due), del_finish_date=pm_date(row.finished_at),
        del_thread_status="OPEN" if row.open else "CLOSED",
        app_thread_status="CLOSED" if row.app_status in CLOSED_STATUSES else "OPEN",
        app_title=row.case_title, app_pro_title=row.definition_name, app_tas_title=row.task_name,
        app_current_user=display_name(users, holder), app_del_previous_user=display_name(users, row.previous_user),
        app_create_date=pm_date(row.case_created_on), app_finish_date=pm_date(row.case_finished_at),
        app_update_date=pm_date(row.case_updated_on),
        usr_firstname=current["usr_firstname"], usr_lastname=current["usr_lastname"],
        usr_username=current["usr_username"], appcvcr_app_tas_title=row.task_name, **creator,
        app_status_label=STATUS_LABELS.get(status, status.replace("_", " ").capitalize()),
    )


# ------------------------------------------------------------------ the query string

async def list_filters(
    request: Request,
    start: Annotated[str | None, Query(description="0 or 1: the first row; 2: the second; ...")] = None,
    limit: Annotated[
        str | None,
        Query(description="rows per answer, 0 to CASEWORK_PM_MAX_LIMIT (100,000); default 25 (0: only the total)"),
    ] = None,
    sort: Annotated[str | None, Query(description="APP_CACHE_VIEW.<COLUMN>; default APP_CACHE_VIEW.APP_NUMBER")] = None,
    dir: Annotated[str | None, Query(description="ASC or DESC (default)")] = None,
    cat_uid: Annotated[str | None, Query(description="only cases of definitions in this category")] = None,
    pro_uid: Annotated[str | None, Query(description="only cases of this definition (its id)")] = None,
    search: Annotated[str | None, Query(description="case-insensitive text in the case or task title")] = None,
) -> Filters:
    return _parsed(
        start=start, limit=limit, sort=sort, dir=dir, cat_uid=cat_uid, pro_uid=pro_uid, search=search,
        max_limit=request.app.state.settings.pm_max_limit,
    )


async def search_filters(
    base: Annotated[Filters, Depends(list_filters)],
    app_status: Annotated[str | None, Query(description=", ".join(pm_lists.SEARCHABLE_STATUSES))] = None,
    usr_uid: Annotated[str | None, Query(description="only cases whose current task this user holds")] = None,
    date_from: Annotated[str | None, Query(description="routed to their current task on or after, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, Query(description="routed to their current task on or before, YYYY-MM-DD")] = None,
) -> Filters:
    extra = _parsed(app_status=app_status, usr_uid=usr_uid, date_from=date_from, date_to=date_to)
    return replace(base, app_status=extra.app_status, usr_uid=extra.usr_uid, date_from=extra.date_from, date_to=extra.date_to)


def _parsed(**raw: Any) -> Filters:
    try:
        return pm_lists.parse_filters(**raw)
    except BadFilter as exc:
        raise bad_request(str(exc)) from None


ListFilters = Annotated[Filters, Depends(list_filters)]
SearchFilters = Annotated[Filters, Depends(search_filters)]


# ------------------------------------------------------------------ answering


def _caller(actor: Actor) -> Caller:
    return Caller(actor.user_id, principals_of(actor), all_cases=sees_all(actor))


async def _run(db: Database, actor: Actor, query: Lister, f: Filters, with_total: bool) -> Page:
    try:
        return await query(db, _caller(actor), f, with_total=with_total)
    except BadFilter as exc:
        raise bad_request(str(exc)) from None


def _head(page: Page) -> dict[str, Any]:
    f = page.filters
    return {
        "total": page.total or 0, "start": f.start, "limit": f.limit, "sort": f.sort_name, "dir": f.dir.lower(),
        "cat_uid": f.cat_uid, "pro_uid": f.pro_uid, "search": f.search,
    }


def _items(page: Page, users: Directory, unassigned: bool) -> list[CaseItem]:
    return [case_item(row, users, unassigned=unassigned) for row in page.rows]


def _long(f: Filters) -> bool:
    return f.limit > pm_lists.CHUNK


async def _chunks(db: Database, actor: Actor, query: Lister, f: Filters) -> AsyncIterator[Page]:
    """The rows `f` asks for, one query of at most `pm_lists.CHUNK` rows at a time."""
    done = 0
    while done < f.limit:
        size = min(pm_lists.CHUNK, f.limit - done)
        page = await _run(db, actor, query, replace(f, start=f.start + done, limit=size), False)
        yield page
        if len(page.rows) < size:
            return
        done += size


def _streamed(head: str, db: Database, actor: Actor, query: Lister, f: Filters, users: Directory, unassigned: bool,
              tail: str) -> StreamingResponse:
    """`head`, the items as a JSON array's elements, then `tail`, written chunk by chunk."""

    async def body() -> AsyncIterator[str]:
        yield head
        first = True
        async for page in _chunks(db, actor, query, f):
            for item in _items(page, users, unassigned):
                yield ("" if first else ",") + item.model_dump_json()
                first = False
        yield tail

    return StreamingResponse(body(), media_type="application/json")


async def _array(svc: Service, actor: Actor, query: Lister, f: Filters, users: Directory, unassigned: bool) -> Any:
    if _long(f):
        return _streamed("[", svc.db, actor, query, f, users, unassigned, "]")
    return _items(await _run(svc.db, actor, query, f, False), users, unassigned)


async def _paged(svc: Service, actor: Actor, query: Lister, f: Filters, users: Directory, unassigned: bool,
                 page_of: Any) -> Any:
    """A page (`page_of(page, items)` builds its model); a long one is written out in chunks
    after its head, whose total is counted first."""
    if not _long(f):
        page = await _run(svc.db, actor, query, f, True)
        return page_of(page, _items(page, users, unassigned))
    counted = await _run(svc.db, actor, query, replace(f, limit=0), True)
    head = page_of(replace(counted, filters=f), []).model_dump_json()
    empty = '"data":[]}'
    assert head.endswith(empty), "data is the page's last field"
    return _streamed(head[: -len(empty)] + '"data":[', svc.db, actor, query, f, users, unassigned, "]}")


def _case_page(page: Page, items: list[CaseItem]) -> CasePage:
    return CasePage(**_head(page), data=items)


def _add_list(path: str, query: Lister, what: str, *, unassigned: bool = False) -> None:
    """GET <path> (an array) and GET <path>/paged (a page) for one kind of list."""

    async def as_array(svc: Service, _: Workspace, actor: CurrentActor, users: Users, f: ListFilters) -> list[CaseItem]:
        return await _array(svc, actor, query, f, users, unassigned)

    async def as_page(svc: Service, _: Workspace, actor: CurrentActor, users: Users, f: ListFilters) -> CasePage:
        return await _paged(svc, actor, query, f, users, unassigned, _case_page)

    name = query.__name__
    router.add_api_route(BASE + path, as_array, methods=["GET"], response_model=list[CaseItem],
                         name=f"pm_list_{name}", summary=f"List {what}")
    router.add_api_route(BASE + path + "/paged", as_page, methods=["GET"], response_model=CasePage,
                         name=f"pm_page_{name}", summary=f"Page of {what}")


_add_list("", pm_lists.todo, "To Do cases: open tasks assigned to the caller")
_add_list("/draft", pm_lists.draft, "Draft cases: open tasks of the caller in cases not yet routed")
_add_list("/participated", pm_lists.participated, "cases the caller started or worked on")
_add_list("/unassigned", pm_lists.unassigned, "unassigned cases: self-service tasks the caller may claim", unassigned=True)
_add_list("/paused", pm_lists.paused, "paused cases the caller holds or supervises")


def _resolve_user(users: Directory, f: Filters) -> Filters:
    # usr_uid is a user id; a username is accepted too and stands for its user's id.
    found = users.find(f.usr_uid) if f.usr_uid else None
    return replace(f, usr_uid=found.id) if found else f


@router.get(BASE + "/advanced-search", response_model=list[CaseItem], name="pm_list_advanced_search",
            summary="List cases by advanced search (every case with PM_ALLCASES, else the caller's)")
async def advanced_search(svc: Service, _: Workspace, actor: CurrentActor, users: Users, f: SearchFilters) -> list[CaseItem]:
    return await _array(svc, actor, pm_lists.advanced_search, _resolve_user(users, f), users, False)


@router.get(BASE + "/advanced-search/paged", response_model=SearchPage, name="pm_page_advanced_search",
            summary="Page of cases by advanced search (every case with PM_ALLCASES, else the caller's)")
async def advanced_search_paged(svc: Service, _: Workspace, actor: CurrentActor, users: Users, f: SearchFilters) -> SearchPage:
    return await _paged(svc, actor, pm_lists.advanced_search, _resolve_user(users, f), users, False, _search_page)


def _search_page(page: Page, items: list[CaseItem]) -> SearchPage:
    f = page.filters
    return SearchPage(
        **_head(page), app_status=f.app_status, usr_uid=f.usr_uid,
        date_from=f.date_from.isoformat() if f.date_from else "", date_to=f.date_to.isoformat() if f.date_to else "",
        data=items,
    )
