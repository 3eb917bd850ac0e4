"""ProcessMaker's case lists on the read model (store/pm_lists.py): every kind, every filter,
sorting and paging, the errors, who sees what, and that an index serves each query.

Rows are written directly (the `Seeder` below), not through the projection, so each test says
exactly what the read model holds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from store import pm_lists
from store.db import Database
from store.pm_lists import BadFilter, Caller, Filters, parse_filters
from store.tables import CaseRow, DefinitionRow, DelegationPrincipalRow, DelegationRow, ParticipationRow

T0 = datetime(2024, 3, 14, 15, 43, 55, tzinfo=UTC)

ALICE = Caller("u-alice", ["user:u-alice", "user:alice", "group:clerks"])
BOB = Caller("u-bob", ["user:u-bob", "user:bob"])
ROOT = Caller("u-root", ["user:u-root", "user:root"], all_cases=True)




class Seeder:
    """Writes cases the way the projection lays them out: a case row, its delegations (with
    the case's fields repeated), who may claim them, and who belongs to the case."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.defs: set[str] = set()

    async def definition(self, def_id: str, category: str, name: str | None = None) -> None:
        async with self.db.session() as s:
            s.add(DefinitionRow(id=def_id, version=1, name=name or def_id.title(), category=category, body={},
                                digest="0" * 64, deployed_at=T0, deployed_by="admin"))
            await s.commit()
        self.defs.add(def_id)

    async def case(
        self,
        number: int,
        *tasks: dict[str, Any],
        status: str = "TO_DO",
        definition: str = "claim",
        category: str = "insurance",
        title: str | None = None,
        created: datetime | None = None,
        updated: datetime | None = None,
        finished: datetime | None = None,
        members: list[tuple[str, str]] = (),  # type: ignore[assignment]
        candidates: list[tuple[int, str]] = (),  # type: ignore[assignment]
    ) -> str:
        if definition not in self.defs:
            await self.definition(definition, category)
        case_id = f"case-{number:04d}"
        title = title if title is not None else f"#{number}"
        created = created or T0 + timedelta(minutes=number)
        updated = updated or created + timedelta(seconds=30)
        state = {"COMPLETED": "Completed", "CANCELLED": "Terminated"}.get(status, "Active")
        case = CaseRow(
            case_id=case_id, case_number=number, version=1, title=title, definition_id=definition, definition_version=1,
            definition_name=definition.title(), category=category, state=state, app_status=status, created_on=created,
            created_by="u-admin", last_modified=updated, finished_at=finished, paused_until=None, parent_case_id=None,
        )
        rows = [self._delegation(case, i, t) for i, t in enumerate(tasks or ({},), start=1)]
        if not any(r.open for r in rows):
            rows[-1].current = True
        async with self.db.session() as s:
            s.add(case)
            await s.flush()
            s.add_all(rows)
            s.add_all(ParticipationRow(principal=p, kind=k, case_number=number, case_id=case_id) for p, k in members)
            s.add_all(DelegationPrincipalRow(principal=p, kind="candidate", case_number=number, case_id=case_id, del_index=i)
                      for i, p in candidates)
            await s.commit()
        return case_id

    @staticmethod
    def _delegation(case: CaseRow, index: int, t: dict[str, Any]) -> DelegationRow:
        is_open = t.get("open", True)
        task = t.get("task", "Review")
        delegated = t.get("delegated", case.created_on + timedelta(seconds=index))
        return DelegationRow(
            case_id=case.case_id, del_index=index, item_id=f"item{index}", task_def_id=t.get("task_def", task.lower()),
            task_name=task, role="clerk", assign_rule="SELF_SERVICE",
            task_state="Assigned" if t.get("assignee") else "Unassigned",
            assignee=t.get("assignee"), owner=t.get("assignee"), previous_user=t.get("previous"), delegated_at=delegated,
            init_at=t.get("init"), due=t.get("due"), finished_at=None if is_open else delegated + timedelta(hours=1),
            open=is_open, current=is_open, last_modified=delegated, input={}, output={}, case_number=case.case_number,
            case_title=case.title, app_status=case.app_status, case_state=case.state, definition_id=case.definition_id,
            definition_name=case.definition_name, category=case.category, case_created_on=case.created_on,
            case_created_by=case.created_by, case_updated_on=case.last_modified, case_finished_at=case.finished_at,
            search_text=f"{case.title} {task}".lower(),
        )


@pytest.fixture
async def seed(db: Database) -> Seeder:
    return Seeder(db)


def numbers(page: pm_lists.Page) -> list[int]:
    return [r.case_number for r in page.rows]


def keys(page: pm_lists.Page) -> list[tuple[int, int]]:
    return [(r.case_number, r.del_index) for r in page.rows]


F = Filters()


# ------------------------------------------------------------------ the kinds of list


async def test_todo_and_draft_are_the_callers_open_tasks_by_case_status(db: Database, seed: Seeder) -> None:
    await seed.case(1, {"assignee": "u-alice"})
    await seed.case(2, {"assignee": "u-alice"}, status="DRAFT")
    await seed.case(3, {"assignee": "u-bob"})
    await seed.case(4, {"assignee": "u-alice", "open": False}, {"assignee": "u-bob"})  # routed on to bob
    # parallel tasks: one row per open delegation
    await seed.case(5, {"assignee": "u-alice"}, {"assignee": "u-alice", "task": "Check"})
    await seed.case(6, {"assignee": "u-alice"}, status="PAUSED")
    await seed.case(7, {"assignee": "u-alice"}, status="DELETED")
    await seed.case(8, {"assignee": None}, candidates=[(1, "user:u-alice")])  # claimable, not assigned

    todo = await pm_lists.todo(db, ALICE, F, with_total=True)
    assert keys(todo) == [(5, 2), (5, 1), (1, 1)] and todo.total == 3
    assert keys(await pm_lists.draft(db, ALICE, F)) == [(2, 1)]
    assert keys(await pm_lists.todo(db, BOB, F)) == [(4, 2), (3, 1)]
    assert (await pm_lists.draft(db, BOB, F)).rows == []


async def test_participated_gives_the_current_row_of_each_case_the_caller_took_part_in(db: Database, seed: Seeder) -> None:
    # by user id and by username at once: still one row
    await seed.case(1, {"assignee": "u-alice", "open": False}, {"assignee": "u-bob"},
                    members=[("user:u-alice", "participant"), ("user:alice", "participant"), ("user:u-bob", "participant")])
    await seed.case(2, {"assignee": "u-alice", "open": False}, status="COMPLETED", finished=T0,
                    members=[("user:alice", "participant")])
    await seed.case(3, {"assignee": "u-bob"}, members=[("user:u-alice", "member"), ("group:clerks", "owner")])
    await seed.case(4, {"assignee": "u-alice"}, status="DELETED", members=[("user:u-alice", "participant")])
    # parallel open tasks are all current
    await seed.case(5, {"assignee": "u-bob"}, {"assignee": "u-bob", "task": "Check"}, members=[("user:u-alice", "participant")])

    page = await pm_lists.participated(db, ALICE, F, with_total=True)
    assert keys(page) == [(5, 2), (5, 1), (2, 1), (1, 2)] and page.total == 4
    assert keys(await pm_lists.participated(db, BOB, F)) == [(1, 2)]


async def test_unassigned_lists_claimable_tasks_of_the_callers_principals(db: Database, seed: Seeder) -> None:
    await seed.case(1, {}, candidates=[(1, "group:clerks")])
    await seed.case(2, {}, candidates=[(1, "user:alice")], status="DRAFT")
    await seed.case(3, {}, candidates=[(1, "user:u-bob")])
    await seed.case(4, {"assignee": "u-bob"}, candidates=[(1, "group:clerks")])  # claimed: candidates are stale
    await seed.case(5, {"open": False}, {}, candidates=[(1, "group:clerks"), (2, "user:u-alice")])
    await seed.case(6, {}, candidates=[(1, "group:clerks")], status="PAUSED")
    await seed.case(7, {}, candidates=[(1, "group:clerks")], status="DELETED")
    # the same task claimable by two of alice's principals: one row
    await seed.case(8, {}, candidates=[(1, "user:u-alice"), (1, "group:clerks")])

    page = await pm_lists.unassigned(db, ALICE, F, with_total=True)
    assert keys(page) == [(8, 1), (5, 2), (2, 1), (1, 1)] and page.total == 4
    assert keys(await pm_lists.unassigned(db, BOB, F)) == [(3, 1)]


async def test_paused_shows_cases_the_caller_holds_or_supervises(db: Database, seed: Seeder) -> None:
    await seed.case(1, {"assignee": "u-alice"}, status="PAUSED")
    await seed.case(2, {"assignee": "u-bob"}, status="PAUSED", members=[("group:clerks", "supervisor")])
    await seed.case(3, {"assignee": "u-bob"}, status="PAUSED", members=[("user:u-alice", "participant")])
    await seed.case(4, {"assignee": "u-alice"})
    await seed.case(5, {"assignee": "u-alice", "open": False}, {"assignee": "u-bob"}, status="PAUSED")

    assert numbers(await pm_lists.paused(db, ALICE, F)) == [2, 1]
    assert numbers(await pm_lists.paused(db, BOB, F)) == [5, 3, 2]


async def test_advanced_search_sees_every_case_with_pm_allcases_else_the_callers(db: Database, seed: Seeder) -> None:
    await seed.case(1, {"assignee": "u-alice"}, members=[("user:u-alice", "participant")])
    await seed.case(2, {"assignee": "u-bob"}, members=[("group:clerks", "member")])
    await seed.case(3, {"assignee": "u-bob"}, members=[("user:alice", "supervisor")], status="PAUSED")
    await seed.case(4, {"assignee": "u-bob"}, members=[("user:u-bob", "owner")])
    await seed.case(5, {"assignee": "u-bob", "open": False}, status="COMPLETED", finished=T0)
    await seed.case(6, {"assignee": "u-alice"}, status="DELETED", members=[("user:u-alice", "participant")])

    everything = await pm_lists.advanced_search(db, ROOT, F, with_total=True)
    assert numbers(everything) == [5, 4, 3, 2, 1] and everything.total == 5
    assert numbers(await pm_lists.advanced_search(db, ALICE, F)) == [3, 2, 1]
    assert numbers(await pm_lists.advanced_search(db, BOB, F)) == [4]
    nobody = Caller("u-new", [])
    assert (await pm_lists.advanced_search(db, nobody, F, with_total=True)).total == 0


async def test_advanced_search_filters_status_user_and_dates(db: Database, seed: Seeder) -> None:
    day = datetime(2024, 5, 10, tzinfo=UTC)
    await seed.case(1, {"assignee": "u-alice", "delegated": day - timedelta(seconds=1)})  # 9th, 23:59:59
    await seed.case(2, {"assignee": "u-bob", "delegated": day})  # 10th, 00:00:00
    await seed.case(3, {"assignee": "u-alice", "delegated": day + timedelta(hours=23, minutes=59)}, status="PAUSED")
    await seed.case(4, {"assignee": "u-bob", "delegated": day + timedelta(days=1)})  # 11th
    await seed.case(5, {"assignee": "u-bob", "open": False, "delegated": day}, status="CANCELLED", finished=day)

    async def search(**raw: str) -> list[int]:
        return numbers(await pm_lists.advanced_search(db, ROOT, parse_filters(**raw)))

    assert await search(app_status="PAUSED") == [3]
    assert await search(app_status="cancelled") == [5]
    assert await search(usr_uid="u-alice") == [3, 1]
    assert await search(date_from="2024-05-10") == [5, 4, 3, 2]
    assert await search(date_to="2024-05-10") == [5, 3, 2, 1]
    assert await search(date_from="2024-05-10", date_to="2024-05-10") == [5, 3, 2]
    assert await search(date_from="2024-05-11", date_to="2024-05-10") == []
    assert await search(date_from="2024-05-10", usr_uid="u-bob", app_status="TO_DO") == [4, 2]


# ------------------------------------------------------------------ filters of every list


async def test_category_and_process_filters_and_their_errors(db: Database, seed: Seeder) -> None:
    await seed.case(1, {"assignee": "u-alice"}, definition="claim", category="insurance")
    await seed.case(2, {"assignee": "u-alice"}, definition="loan", category="banking")
    await seed.case(3, {"assignee": "u-alice"}, definition="mortgage", category="banking")
    await seed.definition("idle", "archive")  # deployed, no cases

    async def todo(**raw: str) -> list[int]:
        return numbers(await pm_lists.todo(db, ALICE, parse_filters(**raw)))

    assert await todo(cat_uid="banking") == [3, 2]
    assert await todo(pro_uid="loan") == [2]
    assert await todo(pro_uid="loan", cat_uid="insurance") == []
    assert await todo(cat_uid="archive") == [] and await todo(pro_uid="idle") == []
    with pytest.raises(BadFilter) as err:
        await todo(cat_uid="93718116854ca5884585758048057153")
    assert str(err.value) == "The category with $cat_uid: '93718116854ca5884585758048057153' does not exist."
    with pytest.raises(BadFilter) as err:
        await pm_lists.unassigned(db, ALICE, parse_filters(pro_uid="nope"))
    assert str(err.value) == "The process with $pro_uid: 'nope' does not exist."


async def test_search_is_a_case_insensitive_substring_of_case_or_task_title(db: Database, seed: Seeder) -> None:
    await seed.case(1, {"assignee": "u-alice", "task": "Evaluate Costs"}, title="Claim of Ann")
    await seed.case(2, {"assignee": "u-alice", "task": "Pay"}, title="Claim 50% of ÉLAN")
    await seed.case(3, {"assignee": "u-alice", "task": "Pay"}, title="Claim 500 of Bo")
    await seed.case(4, {"assignee": "u-alice", "task": "file_a"}, title="Other")
    await seed.case(5, {"assignee": "u-alice", "task": "fileXa"}, title="Other")

    async def found(term: str) -> list[int]:
        return numbers(await pm_lists.todo(db, ALICE, parse_filters(search=term)))

    assert await found("evaluate costs") == [1]
    assert await found("CLAIM") == [3, 2, 1]
    assert await found("élan") == [2]
    assert await found("50%") == [2]  # % is a character here, not a wildcard
    assert await found("file_a") == [4]  # and so is _
    assert await found("x\\y") == []
    assert await found("") == [5, 4, 3, 2, 1]


async def test_search_follows_changed_and_deleted_rows(db: Database, seed: Seeder) -> None:
    """On SQLite the search reads a full-text index kept by triggers: it must see a title
    that changed and forget a row that went, like the LIKE it replaces."""
    await seed.case(1, {"assignee": "u-alice", "task": "Pay"}, title="Trip to Oslo")
    await seed.case(2, {"assignee": "u-alice", "task": "Pay"}, title="Trip to Rome")

    async def found(term: str) -> list[int]:
        return numbers(await pm_lists.todo(db, ALICE, parse_filters(search=term)))

    assert await found("oslo") == [1]
    async with db.session() as session:
        await session.execute(update(DelegationRow).where(DelegationRow.case_number == 1).values(search_text="trip to bergen pay"))
        await session.execute(delete(DelegationRow).where(DelegationRow.case_number == 2))
        await session.commit()
    assert await found("oslo") == []
    assert await found("bergen") == [1]
    assert await found("rome") == []
    assert await found("trip") == [1]


# ------------------------------------------------------------------ sorting and paging


async def test_every_sort_column_works_in_both_directions(db: Database, seed: Seeder) -> None:
    await seed.case(1, {"assignee": "u-alice", "due": T0, "previous": "u-bob", "init": T0}, title="b")
    await seed.case(2, {"assignee": "u-alice"}, title="a", status="COMPLETED", finished=T0)
    await seed.case(3, {"assignee": "u-bob"}, title="c")
    for column in pm_lists.SORT_COLUMNS:
        for direction in ("ASC", "DESC"):
            f = parse_filters(sort=f"APP_CACHE_VIEW.{column}", dir=direction)
            page = await pm_lists.advanced_search(db, ROOT, f, with_total=True)
            assert sorted(numbers(page)) == [1, 2, 3] and page.total == 3, column


async def test_sort_direction_nulls_and_stable_ties(db: Database, seed: Seeder) -> None:
    await seed.case(1, {"assignee": "u-alice", "due": T0 + timedelta(days=2)}, title="beta")
    await seed.case(2, {"assignee": "u-alice"}, title="Alpha")  # no due date
    await seed.case(3, {"assignee": "u-alice", "due": T0 + timedelta(days=1)}, {"assignee": "u-alice", "due": T0}, title="beta")

    async def order(**raw: str) -> list[tuple[int, int]]:
        return keys(await pm_lists.todo(db, ALICE, parse_filters(**raw)))

    assert await order() == [(3, 2), (3, 1), (2, 1), (1, 1)]
    assert await order(dir="asc") == [(1, 1), (2, 1), (3, 1), (3, 2)]
    # a missing due date sorts last going up and first going down, on every backend
    assert await order(sort="app_cache_view.del_task_due_date", dir="ASC") == [(3, 2), (3, 1), (1, 1), (2, 1)]
    assert await order(sort="DEL_TASK_DUE_DATE") == [(2, 1), (1, 1), (3, 1), (3, 2)]
    # equal titles: by case number, then delegation index, in the same direction
    assert await order(sort="APP_TITLE", dir="ASC") == [(2, 1), (1, 1), (3, 1), (3, 2)]
    assert await order(sort="APP_TITLE", dir="DESC") == [(3, 2), (3, 1), (1, 1), (2, 1)]
    assert await order(sort="DEL_INDEX", dir="DESC") == [(3, 2), (3, 1), (2, 1), (1, 1)]


async def test_start_and_limit_page_through_a_list(db: Database, seed: Seeder) -> None:
    for n in range(1, 8):
        await seed.case(n, {"assignee": "u-alice"})

    async def page(**raw: str) -> pm_lists.Page:
        return await pm_lists.todo(db, ALICE, parse_filters(**raw), with_total=True)

    assert numbers(await page(start="0", limit="3")) == [7, 6, 5]
    assert numbers(await page(start="1", limit="3")) == [7, 6, 5]
    assert numbers(await page(start="2", limit="3")) == [6, 5, 4]
    assert numbers(await page(start="7", limit="3")) == [1]
    assert numbers(await page(start="8")) == []
    assert numbers(await page(start="4", limit="3", dir="ASC")) == [4, 5, 6]
    everything = await page()
    assert numbers(everything) == [7, 6, 5, 4, 3, 2, 1] and everything.filters.limit == 25
    only_total = await page(limit="0")
    assert only_total.rows == [] and only_total.total == 7
    # without with_total nothing is counted
    assert (await pm_lists.todo(db, ALICE, parse_filters())).total is None


# ------------------------------------------------------------------ parsing the filters


def test_parse_filters_defaults_and_normal_forms() -> None:
    f = parse_filters()
    assert (f.start, f.limit, f.sort, f.dir, f.sort_name) == (1, 25, "APP_NUMBER", "DESC", "app_cache_view.app_number")
    f = parse_filters(start="0", limit="1000", sort="app_cache_view.app_update_date", dir="asc", search=" x ")
    assert (f.start, f.limit, f.sort, f.dir, f.search) == (1, 1000, "APP_UPDATE_DATE", "ASC", " x ")
    assert parse_filters(sort="del_delegate_date").sort == "DEL_DELEGATE_DATE"
    assert parse_filters(start="", limit="", sort="", dir="").limit == 25
    f = parse_filters(app_status="to_do", date_from="2024-01-31", date_to="2024-02-29")
    assert (f.app_status, f.date_from, f.date_to) == ("TO_DO", date(2024, 1, 31), date(2024, 2, 29))


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"sort": "APP_CACHE_VIEW.NOPE"},
         ["APP_CACHE_VIEW.APP_NUMBER", "APP_CACHE_VIEW.DEL_TASK_DUE_DATE", "APP_CACHE_VIEW.APP_UID"]),
        ({"sort": "OTHER_TABLE.APP_NUMBER"}, ["must be one of"]),
        ({"dir": "UP"}, ["ASC or DESC"]),
        ({"limit": "100001"}, ["at most 100000"]),
        ({"limit": "-1"}, ["limit"]),
        ({"limit": "ten"}, ["limit"]),
        ({"start": "-2"}, ["start"]),
        ({"start": "1.5"}, ["start"]),
        ({"app_status": "UNASSIGNED"}, ["TO_DO, DRAFT, PAUSED, CANCELLED, COMPLETED"]),
        ({"app_status": "DELETED"}, ["TO_DO, DRAFT, PAUSED, CANCELLED, COMPLETED"]),
        ({"date_from": "2024-13-01"}, ["date_from", "YYYY-MM-DD"]),
        ({"date_to": "31/01/2024"}, ["date_to", "YYYY-MM-DD"]),
        ({"date_to": "2024-01-31 10:00:00"}, ["date_to"]),
    ],
)
def test_parse_filters_refuses_what_it_cannot_honour(raw: dict[str, str], words: list[str]) -> None:
    with pytest.raises(BadFilter) as err:
        parse_filters(**raw)
    for word in words:
        assert word in str(err.value)


def test_like_pattern_escapes_wildcards() -> None:
    assert pm_lists.like_pattern("A_b%c\\") == "%a\\_b\\%c\\\\%"


# ------------------------------------------------------------------ every query is served by an index

TABLES = ("delegations", "participations", "delegation_principals")


@pytest.mark.parametrize("kind", list(pm_lists.SCOPES))
@pytest.mark.parametrize("caller", [ALICE, ROOT], ids=["user", "allcases"])
async def test_each_list_reads_through_an_index(db: Database, kind: str, caller: Caller) -> None:
    variants = [Filters(), Filters(pro_uid="claim"), Filters(search="x", cat_uid="insurance"), Filters(search="oslo")]
    if kind == "advanced-search":
        variants += [Filters(app_status="TO_DO"), Filters(usr_uid="u-bob"), Filters(date_from=date(2024, 1, 1))]
    for f in variants:
        rows, count = pm_lists.list_select(pm_lists.SCOPES[kind], caller, f, sqlite=db.is_sqlite)
        for stmt in (rows, count):
            plan = await explain(db, stmt)
            assert not full_scans(db, plan), (kind, f, plan)


async def explain(db: Database, stmt: Any) -> str:
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            return "\n".join(r[3] for r in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        # empty tables: make the planner show what it would do with many rows
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(r[0] for r in await conn.exec_driver_sql("EXPLAIN " + sql))


def full_scans(db: Database, plan: str) -> list[str]:
    if db.is_sqlite:
        return [line for line in plan.splitlines() if re.fullmatch(rf"SCAN ({'|'.join(TABLES)})", line.strip())]
    return [line for line in plan.splitlines() if re.search(rf"Seq Scan on ({'|'.join(TABLES)})\b", line)]
