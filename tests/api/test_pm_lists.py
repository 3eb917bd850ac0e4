"""ProcessMaker's case lists over HTTP through the real app: real cases, driven through the
gateway and projected by the worker, listed by each kind of list with its filters and errors.

The gateway is shared with other test modules, so every list here is narrowed to this
module's own definition (`pro_uid`), deployed once with a unique id."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from store import pm_lists
from tests.api.conftest import Gateway, user_id

pytestmark = pytest.mark.asyncio(loop_scope="session")
PM = "/api/1.0/workflow"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
CASE_FIELDS = [
    "app_uid", "del_index", "del_last_index", "app_number", "app_status", "usr_uid", "previous_usr_uid", "tas_uid",
    "pro_uid", "del_delegate_date", "del_init_date", "del_task_due_date", "del_finish_date", "del_thread_status",
    "app_thread_status", "app_title", "app_pro_title", "app_tas_title", "app_current_user", "app_del_previous_user",
    "del_priority", "del_duration", "del_queue_duration", "del_delay_duration", "del_started", "del_finished",
    "del_delayed", "app_create_date", "app_finish_date", "app_update_date", "app_overdue_percentage", "usr_firstname",
    "usr_lastname", "usr_username", "appcvcr_app_tas_title", "usrcr_usr_uid", "usrcr_usr_firstname",
    "usrcr_usr_lastname", "usrcr_usr_username", "app_status_label",
]
PAGE_FIELDS = ["total", "start", "limit", "sort", "dir", "cat_uid", "pro_uid", "search", "data"]
SEARCH_PAGE_FIELDS = PAGE_FIELDS[:-1] + ["app_status", "usr_uid", "date_from", "date_to", "data"]

DEFINITION = """
id: {id}
name: Claims {id}
category: {category}
title: "Claim of {{subject}}"
roles:
  author: {{}}
  clerk: {{groups: [reviewers]}}
startedBy: [authors]
starterRole: author
supervisors: [lead]
inputs:
  subject: {{type: string, required: true}}
plan:
  autoComplete: true
  items:
    - id: check
      type: humanTask
      name: Check claim
      role: clerk
      due: P2D
      output: {{verdict: {{type: string, required: true}}}}
    - id: settle
      type: humanTask
      name: Settle claim
      role: author
      assignment: {{rule: EVALUATE, variable: SYS_STARTER}}
      entry:
        - {{on: [check.complete]}}
"""


@dataclass
class World:
    definition: str
    category: str
    # cases by letter: their id and number
    cases: dict[str, dict[str, Any]]

    def uid(self, letter: str) -> str:
        return self.cases[letter]["caseInstanceId"]

    def letters(self, rows: list[dict[str, Any]]) -> list[str]:
        by_uid = {c["caseInstanceId"]: k for k, c in self.cases.items()}
        return [by_uid[r["app_uid"]] for r in rows]


async def ok(gateway: Gateway, method: str, path: str, username: str, **kw: Any) -> Any:
    resp = await gateway.call(method, path, username, **kw)
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else None


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(gateway: Gateway) -> World:
    """Five cases of a fresh definition, each left in another state:
    A unassigned (DRAFT), B claimed by rev1 (DRAFT), C checked by rev1 and now the author's
    settle task (TO_DO), D author2's, claimed by rev2 and paused (PAUSED), E deleted."""
    def_id = f"pmlists-{uuid.uuid4().hex[:8]}"
    category = f"cat-{def_id}"
    await ok(gateway, "POST", "/definitions", "admin", content=DEFINITION.format(id=def_id, category=category),
             headers={"Content-Type": "application/yaml"})
    cases: dict[str, dict[str, Any]] = {}
    for letter, starter, subject in (("A", "author", "Alpha"), ("B", "author", "Bravo"), ("C", "author", "Charlie"),
                                     ("D", "author2", "Delta"), ("E", "author", "Echo")):
        body = {"definition": def_id, "inputs": {"subject": subject}}
        cases[letter] = await ok(gateway, "POST", "/cases", starter, json=body)

    def check(letter: str) -> str:
        return f"/tasks/{cases[letter]['caseInstanceId']}.check"

    await ok(gateway, "PUT", check("B") + "/claim", "rev1")
    await ok(gateway, "PUT", check("C") + "/claim", "rev1")
    await ok(gateway, "POST", check("C") + "/complete", "rev1", json={"verdict": "ok"})
    await ok(gateway, "PUT", check("D") + "/claim", "rev2")
    await ok(gateway, "PUT", f"{PM}/cases/{cases['D']['caseInstanceId']}/pause", "rev2")
    await ok(gateway, "PUT", check("E") + "/claim", "rev1")
    await ok(gateway, "DELETE", f"{PM}/cases/{cases['E']['caseInstanceId']}", "rev1")
    return World(def_id, category, cases)


async def listed(gateway: Gateway, world: World, path: str, username: str, **params: Any) -> list[dict[str, Any]]:
    resp = await gateway.call("GET", f"{PM}/cases{path}", username, params={"pro_uid": world.definition, **params})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert isinstance(body, list)
    return body


async def paged(gateway: Gateway, world: World, path: str, username: str, **params: Any) -> dict[str, Any]:
    resp = await gateway.call("GET", f"{PM}/cases{path}/paged", username, params={"pro_uid": world.definition, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


def pm_error(resp: Any, status: int, message: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json() == {"error": {"code": status, "message": message}}


# ------------------------------------------------------------------ each list, from real cases


async def test_each_list_shows_what_the_seed_says(gateway: Gateway, world: World) -> None:
    async def letters(path: str, username: str, **params: Any) -> list[str]:
        return world.letters(await listed(gateway, world, path, username, **params))

    assert await letters("/unassigned", "rev1") == ["A"]
    assert await letters("/unassigned", "rev2") == ["A"]
    assert await letters("/unassigned", "author") == []
    assert await letters("/draft", "rev1") == ["B"]
    assert await letters("", "rev1") == []
    assert await letters("", "author") == ["C"]
    assert await letters("/participated", "rev1") == ["C", "B"]
    assert await letters("/participated", "author") == ["C", "B", "A"]
    assert await letters("/participated", "author2") == ["D"]
    assert await letters("/paused", "rev2") == ["D"]
    assert await letters("/paused", "lead") == ["D"]  # the definition's supervisor
    assert await letters("/paused", "rev1") == []
    # E was deleted: in no list, not even for PM_ALLCASES
    assert await letters("/advanced-search", "admin") == ["D", "C", "B", "A"]
    # rev1 is a clerk of every case, but that shows her only the cases whose tasks she holds
    # or held (A's task is offered to her: it is in her unassigned list, the case is not hers)
    assert await letters("/advanced-search", "rev1") == ["C", "B"]
    assert await letters("/advanced-search", "author") == ["C", "B", "A"]
    assert await letters("/advanced-search", "outsider") == []


async def test_a_case_object_has_every_field_of_the_seed_in_order(gateway: Gateway, world: World) -> None:
    [row] = await listed(gateway, world, "/draft", "rev1")
    assert list(row) == CASE_FIELDS
    rev1 = user_id("rev1")
    expected = {
        "app_uid": world.uid("B"), "del_index": "1", "del_last_index": "1", "app_number": str(world.cases["B"]["caseNumber"]),
        "app_status": "DRAFT", "usr_uid": rev1, "previous_usr_uid": "", "tas_uid": "check",
        "pro_uid": world.definition,
        "del_finish_date": None, "del_thread_status": "OPEN", "app_thread_status": "OPEN", "app_title": "Claim of Bravo",
        "app_pro_title": f"Claims {world.definition}", "app_tas_title": "Check claim", "app_current_user": "Test Rev1",
        # the engine counts the starter as the previous user of the first task someone else claimed
        "app_del_previous_user": "", "del_priority": "NORMAL", "del_duration": "0", "del_queue_duration": "0",
        "del_delay_duration": "0", "del_started": "0", "del_finished": "0", "del_delayed": "0", "app_finish_date": None,
        "app_overdue_percentage": "0", "usr_firstname": "Rev1", "usr_lastname": "Test", "usr_username": "rev1",
        "appcvcr_app_tas_title": "Check claim", "usrcr_usr_uid": rev1, "usrcr_usr_firstname": "Rev1",
        "usrcr_usr_lastname": "Test", "usrcr_usr_username": "rev1", "app_status_label": "Draft",
    }
    assert {k: row[k] for k in expected} == expected
    for name in ("del_delegate_date", "del_init_date", "del_task_due_date", "app_create_date", "app_update_date"):
        assert DATE.match(row[name]), (name, row[name])
    assert row["del_task_due_date"] > row["del_delegate_date"]

    # C moved on: the author's settle task, after rev1's check
    [settle] = await listed(gateway, world, "", "author")
    assert (settle["del_index"], settle["app_status"], settle["app_tas_title"]) == ("2", "TO_DO", "Settle claim")
    assert (settle["previous_usr_uid"], settle["app_del_previous_user"]) == (rev1, "Test Rev1")
    assert (settle["usr_username"], settle["app_status_label"]) == ("author", "To do")


async def test_unassigned_rows_name_nobody(gateway: Gateway, world: World) -> None:
    [row] = await listed(gateway, world, "/unassigned", "rev2")
    assert list(row) == CASE_FIELDS
    assert (row["app_uid"], row["app_status"], row["app_status_label"]) == (world.uid("A"), "UNASSIGNED", "Unassigned")
    assert row["del_init_date"] is None
    for name in ("usr_uid", "usr_firstname", "usr_lastname", "usr_username", "app_current_user", "usrcr_usr_uid",
                 "usrcr_usr_firstname", "usrcr_usr_lastname", "usrcr_usr_username"):
        assert row[name] == "", name


async def test_paused_rows_keep_their_holder(gateway: Gateway, world: World) -> None:
    [row] = await listed(gateway, world, "/paused", "lead")
    assert (row["app_status"], row["app_status_label"], row["usr_username"]) == ("PAUSED", "Paused", "rev2")
    assert row["del_thread_status"] == "OPEN" and row["app_thread_status"] == "OPEN"


# ------------------------------------------------------------------ pages and filters


async def test_pages_echo_their_filters_and_count_everything(gateway: Gateway, world: World) -> None:
    page = await paged(gateway, world, "/participated", "author", limit="1")
    assert list(page) == PAGE_FIELDS
    assert {k: v for k, v in page.items() if k != "data"} == {
        "total": 3, "start": 1, "limit": 1, "sort": "app_cache_view.app_number", "dir": "desc", "cat_uid": "",
        "pro_uid": world.definition, "search": "",
    }
    assert world.letters(page["data"]) == ["C"]
    second = await paged(gateway, world, "/participated", "author", start="2", limit="2",
                         sort="APP_CACHE_VIEW.APP_NUMBER", dir="asc")
    assert world.letters(second["data"]) == ["B", "C"] and second["start"] == 2 and second["dir"] == "asc"
    # limit=0: only the total (the seed's way of asking how many before fetching them all)
    counted = await paged(gateway, world, "/participated", "author", limit="0")
    assert counted["total"] == 3 and counted["data"] == []
    assert await listed(gateway, world, "/participated", "author", limit="0") == []


@pytest.mark.parametrize("chunk", [1, 2])
async def test_the_seeds_fetch_everything_advice_reads_in_chunks(
    gateway: Gateway, world: World, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """limit=0 for the total, then limit=<total>: a limit past one query's rows is read and
    written out chunk by chunk (the chunk made small here, so three rows need two or three
    queries), and the answer is the same array and page as one query would give."""
    whole = await paged(gateway, world, "/participated", "author", sort="APP_CACHE_VIEW.APP_NUMBER", dir="asc")
    monkeypatch.setattr(pm_lists, "CHUNK", chunk)
    total = (await paged(gateway, world, "/participated", "author", limit="0"))["total"]
    page = await paged(gateway, world, "/participated", "author", limit=str(total), sort="APP_CACHE_VIEW.APP_NUMBER", dir="asc")
    assert list(page) == PAGE_FIELDS and page["total"] == total == 3 and page["limit"] == 3
    assert page["data"] == whole["data"] and world.letters(page["data"]) == ["A", "B", "C"]
    array = await listed(gateway, world, "/participated", "author", limit="1000", sort="APP_CACHE_VIEW.APP_NUMBER", dir="asc")
    assert array == whole["data"]
    # from the second row on, and a limit past what is there
    rest = await paged(gateway, world, "/participated", "author", start="2", limit="50", sort="APP_CACHE_VIEW.APP_NUMBER", dir="asc")
    assert world.letters(rest["data"]) == ["B", "C"] and rest["total"] == 3
    searched = await gateway.call("GET", f"/api/1.0/workflow/cases/advanced-search/paged?limit=10&pro_uid={world.definition}", "admin")
    assert searched.status_code == 200 and searched.json()["total"] == len(searched.json()["data"])


async def test_advanced_search_page_and_its_filters(gateway: Gateway, world: World) -> None:
    page = await paged(gateway, world, "/advanced-search", "admin", app_status="draft", date_from="2000-01-01")
    assert list(page) == SEARCH_PAGE_FIELDS
    echoed = (page["total"], page["app_status"], page["usr_uid"], page["date_from"], page["date_to"])
    assert echoed == (2, "DRAFT", "", "2000-01-01", "")
    assert world.letters(page["data"]) == ["B", "A"]

    async def letters(**params: Any) -> list[str]:
        return world.letters(await listed(gateway, world, "/advanced-search", "admin", **params))

    assert await letters(usr_uid=user_id("rev1")) == ["B"]
    assert await letters(usr_uid="rev2") == ["D"]  # a username stands for its user
    assert await letters(app_status="PAUSED") == ["D"]
    assert await letters(app_status="TO_DO", usr_uid=user_id("author")) == ["C"]
    assert await letters(date_to="2000-01-01") == []
    assert await letters(cat_uid=world.category) == ["D", "C", "B", "A"]
    assert await letters(search="CLAIM OF b") == ["B"]
    assert await letters(search="settle") == ["C"]  # the task's title
    assert await letters(search="%") == []
    assert await letters(sort="app_cache_view.app_title", dir="ASC") == ["A", "B", "C", "D"]
    assert await letters(sort="DEL_INDEX", dir="DESC") == ["C", "D", "B", "A"]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cat_uid": "93718116854ca5884585758048057153"},
         "Bad Request: The category with $cat_uid: '93718116854ca5884585758048057153' does not exist."),
        ({"pro_uid": "28468941754ca473f9db401077958260"},
         "Bad Request: The process with $pro_uid: '28468941754ca473f9db401077958260' does not exist."),
        ({"dir": "sideways"}, "Bad Request: The parameter dir must be ASC or DESC."),
        ({"limit": "100001"}, "Bad Request: The parameter limit must be at most 100000; page through longer lists with start."),
        ({"start": "-1"}, "Bad Request: The parameter start must be a whole number of 0 or more."),
    ],
)
@pytest.mark.parametrize(
    "path", ["", "/paged", "/draft", "/participated/paged", "/unassigned", "/paused/paged", "/advanced-search"]
)
async def test_bad_filters_are_400_in_processmakers_envelope(
    gateway: Gateway, path: str, params: dict[str, str], message: str
) -> None:
    pm_error(await gateway.call("GET", f"{PM}/cases{path}", "rev1", params=params), 400, message)


async def test_unknown_sort_column_names_the_allowed_ones(gateway: Gateway) -> None:
    resp = await gateway.call("GET", f"{PM}/cases/paged", "rev1", params={"sort": "APP_CACHE_VIEW.APP_NOPE"})
    assert resp.status_code == 400
    message = resp.json()["error"]["message"]
    assert message.startswith("Bad Request: The sort column is not valid; it must be one of: APP_CACHE_VIEW.APP_NUMBER, ")
    assert "APP_CACHE_VIEW.DEL_TASK_DUE_DATE" in message and "APP_NOPE" not in message


async def test_advanced_search_refuses_bad_status_and_dates(gateway: Gateway) -> None:
    pm_error(await gateway.call("GET", f"{PM}/cases/advanced-search/paged", "admin", params={"app_status": "UNASSIGNED"}),
             400, "Bad Request: The parameter app_status must be one of: TO_DO, DRAFT, PAUSED, CANCELLED, COMPLETED.")
    pm_error(await gateway.call("GET", f"{PM}/cases/advanced-search", "admin", params={"date_from": "31/01/2015"}),
             400, "Bad Request: The parameter date_from must be a date in 'YYYY-MM-DD' format.")
    pm_error(await gateway.call("GET", f"{PM}/cases/advanced-search", "admin", params={"date_to": "2015-02-30"}),
             400, "Bad Request: The parameter date_to must be a date in 'YYYY-MM-DD' format.")


async def test_other_workspaces_are_404_and_tokens_are_required(gateway: Gateway) -> None:
    resp = await gateway.call("GET", "/api/1.0/elsewhere/cases/draft", "rev1")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == 404
    resp = await gateway.call("GET", f"{PM}/cases/participated")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == 401
