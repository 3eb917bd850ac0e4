"""The ProcessMaker face's case endpoints over HTTP, through the real app and a real Temporal
dev server: every endpoint, its happy path and its refusals, in the seed's shapes."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from tests.api.conftest import Gateway, user_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

WS = "/api/1.0/workflow"
# The seed's words for a case that does not exist (or that the caller may not see), by endpoint.
ROW = "The Application row '{}' doesn't exist!"
APPLICATION = "The application with $app_uid: '{}' does not exist."
UNAVAILABLE = "Incorrect or unavailable information about this case: {}"
DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
DEF_ID = f"pm-parallel-{uuid.uuid4().hex[:6]}"
# A starting task, a parallel split into two self-service checks that join (SEC-JOIN) into a
# decision with a SELECT route; a trigger; a supervisor (pmsuper).
DEFINITION = f"""
id: {DEF_ID}
name: Client onboarding
title: "Onboarding of {{client}}"
roles:
  clerk: {{groups: [authors]}}
  checker: {{groups: [reviewers]}}
startedBy: [authors]
starterRole: clerk
supervisors: [pmsuper]
inputs:
  client: {{type: string}}
  amount: {{type: number}}
triggers:
  flag: {{set: {{flagged: "true"}}}}
plan:
  items:
    - id: register
      type: humanTask
      name: Register client
      role: clerk
      output: {{approved: {{type: boolean}}}}
      route: {{type: PARALLEL, to: [{{task: finance}}, {{task: legal}}]}}
    - id: finance
      type: humanTask
      name: Check finances
      role: checker
      route: {{type: SEQUENTIAL, to: [{{task: decide, join: all}}]}}
    - id: legal
      type: humanTask
      name: Check legal
      role: checker
      due: P2D
      route: {{type: SEQUENTIAL, to: [{{task: decide, join: all}}]}}
    - id: decide
      type: humanTask
      name: Decide
      role: clerk
      route: {{type: SELECT, to: [{{task: archive}}, {{task: notify}}]}}
    - id: archive
      type: humanTask
      name: Archive
      role: clerk
    - id: notify
      type: humanTask
      name: Notify
      role: clerk
      assignment: {{rule: MANUAL}}
"""


def pm_error(resp: Any, status: int, message: str | None = None, *, prefix: bool = True) -> str:
    """The seed's error object: `{"error": {"code", "message"}}` with the status title first."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == status
    text = body["error"]["message"]
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    if prefix:
        assert text.startswith(titles[status] + ": "), text
    if message is not None:
        assert text == f"{titles[status]}: {message}", text
    return text


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pm(gateway: Gateway) -> Gateway:
    resp = await gateway.call("POST", "/definitions", "admin", content=DEFINITION, headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 201, resp.text
    return gateway


async def new_case(gw: Gateway, username: str = "author", **variables: Any) -> str:
    body = {"pro_uid": DEF_ID, "tas_uid": "register", "variables": [{"client": "Acme", **variables}]}
    resp = await gw.call("POST", f"{WS}/cases", username, json=body)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert set(answer) == {"app_uid", "app_number"} and isinstance(answer["app_number"], int)
    return answer["app_uid"]


async def info(gw: Gateway, app_uid: str, username: str = "author") -> dict[str, Any]:
    resp = await gw.call("GET", f"{WS}/cases/{app_uid}", username)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def put(gw: Gateway, app_uid: str, action: str, username: str = "author", **body: Any) -> Any:
    return await gw.call("PUT", f"{WS}/cases/{app_uid}/{action}", username, json=body or None)


async def ok(resp: Awaitable[Any]) -> None:
    r = await resp
    assert r.status_code == 200, r.text
    assert r.content == b""


async def routed(resp: Awaitable[Any]) -> list[dict[str, Any]]:
    """route-case answers 200 and, beyond the seed's empty answer, the tasks it made
    available to the caller."""
    r = await resp
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"next_tasks"}, r.text
    return r.json()["next_tasks"]


async def join(gw: Gateway, app_uid: str, username: str) -> None:
    """The starter (an owner) puts `username` on the case team (the native endpoint: the
    ProcessMaker face has none), so that they see the case."""
    member = {"userId": user_id(username), "isOwner": False, "caseRoles": []}
    resp = await gw.call("POST", f"/cases/{app_uid}/caseteam/users", "author", json=member)
    assert resp.status_code == 200, resp.text


async def current(gw: Gateway, app_uid: str, username: str = "author") -> dict[str, int]:
    """Open task -> del_index."""
    return {t["tas_uid"]: t["del_index"] for t in (await info(gw, app_uid, username))["current_task"]}


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


async def past_split(gw: Gateway) -> str:
    """A case routed from its first task: finance and legal open and unassigned."""
    app_uid = await new_case(gw)
    await routed(put(gw, app_uid, "route-case"))
    return app_uid


# ------------------------------------------------------------------ authentication, workspace, envelope


async def test_no_token_is_401_in_the_processmaker_envelope(pm: Gateway) -> None:
    pm_error(await pm.call("GET", f"{WS}/cases/abc"), 401)
    bogus = "eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl"
    resp = await pm.call("GET", f"{WS}/case/start-cases", headers={"Authorization": f"Bearer {bogus}"})
    pm_error(resp, 401)
    assert bogus not in resp.text


async def test_another_workspace_does_not_exist(pm: Gateway) -> None:
    pm_error(await pm.call("GET", "/api/1.0/elsewhere/case/start-cases", "author"), 404)
    pm_error(await pm.call("GET", f"{WS}/no/such/path", "author"), 404)


async def test_mutations_need_pm_cases(pm: Gateway) -> None:
    resp = await pm.call("POST", f"{WS}/cases", "viewer", json={"pro_uid": DEF_ID, "tas_uid": "register"})
    assert "PM_CASES" in pm_error(resp, 403)
    app_uid = await new_case(pm)
    pm_error(await put(pm, app_uid, "route-case", "viewer"), 403)
    pm_error(await pm.call("DELETE", f"{WS}/cases/{app_uid}", "viewer"), 403)


# ------------------------------------------------------------------ starting cases


async def test_start_cases_lists_what_the_caller_may_start(pm: Gateway) -> None:
    resp = await pm.call("GET", f"{WS}/case/start-cases", "author")
    assert resp.status_code == 200
    mine = [s for s in resp.json() if s["pro_uid"] == DEF_ID]
    assert mine == [{"tas_uid": "register", "pro_title": "Client onboarding (Register client)", "pro_uid": DEF_ID}]
    # startedBy [authors]: a reviewer may not start it
    others = (await pm.call("GET", f"{WS}/case/start-cases", "rev1")).json()
    assert all(s["pro_uid"] != DEF_ID for s in others)


async def test_new_case_is_a_draft_assigned_to_its_starter(pm: Gateway) -> None:
    app_uid = await new_case(pm, amount=12.5)
    case = await info(pm, app_uid)
    assert case["app_uid"] == app_uid and case["app_status"] == "DRAFT"
    assert case["app_name"] == "Onboarding of Acme" and case["app_number"].isdigit()
    assert case["pro_uid"] == DEF_ID and case["pro_name"] == "Client onboarding"
    assert case["app_init_usr_uid"] == user_id("author") and case["app_init_usr_username"] == "Author Test"
    assert DATE.match(case["app_create_date"]) and DATE.match(case["app_update_date"])
    assert case["current_task"] == [{
        "usr_uid": user_id("author"), "usr_name": "Author Test", "tas_uid": "register", "tas_title": "Register client",
        "del_index": 1, "del_thread": 1, "del_thread_status": "OPEN",
    }]
    variables = (await pm.call("GET", f"{WS}/cases/{app_uid}/variables", "author")).json()
    assert variables == {"client": "Acme", "amount": "12.5"}  # the seed: numbers become strings


async def test_new_case_refusals(pm: Gateway) -> None:
    url = f"{WS}/cases"
    pm_error(await pm.call("POST", url, "author", json={"tas_uid": "register"}), 400, "`pro_uid` is required but missing.")
    pm_error(await pm.call("POST", url, "author", json={"pro_uid": DEF_ID}), 400, "`tas_uid` is required but missing.")
    pm_error(await pm.call("POST", url, "author"), 400, "`pro_uid` is required but missing.")
    unknown = await pm.call("POST", url, "author", json={"pro_uid": "no-such-process", "tas_uid": "register"})
    assert "does not exist" in pm_error(unknown, 400)
    not_start = await pm.call("POST", url, "author", json={"pro_uid": DEF_ID, "tas_uid": "decide"})
    assert "not a starting task" in pm_error(not_start, 400)
    # startedBy: authors only
    pm_error(await pm.call("POST", url, "rev1", json={"pro_uid": DEF_ID, "tas_uid": "register"}), 403)
    # the starting task of `review` is for reviewers: an author is not in its pool
    not_pool = await pm.call("POST", url, "author", json={"pro_uid": "review", "tas_uid": "review", "variables": [{"subject": "s"}]})
    assert "pool" in pm_error(not_pool, 400)
    # variables: the definition's inputs, with their types; the shape is checked too
    bad_type = await pm.call("POST", url, "author", json={"pro_uid": DEF_ID, "tas_uid": "register", "variables": [{"amount": "many"}]})
    assert "amount" in pm_error(bad_type, 400)
    bad_shape = await pm.call("POST", url, "author", json={"pro_uid": DEF_ID, "tas_uid": "register", "variables": "abc"})
    assert "variables" in pm_error(bad_shape, 400)
    bad_name = await pm.call("POST", url, "author", json={"pro_uid": DEF_ID, "tas_uid": "register", "variables": [{"1x": 1}]})
    assert "variable name" in pm_error(bad_name, 400)


async def test_variables_the_process_does_not_declare_are_kept(pm: Gateway) -> None:
    """As ProcessMaker: a DynaForm's fields, a grid, a checkbox group; declared ones are still
    checked by type. Read back through this face, numbers and booleans are strings, as the
    seed says; the native face keeps JSON's types."""
    variables = [{"client": "Acme", "amount": 23456.99, "color": "red", "urgent": True, "rooms": 3,
                  "boxes": ["a", "b"], "grid": {"1": {"qty": 2, "ok": False}}}]
    resp = await pm.call("POST", f"{WS}/cases", "author", json={"pro_uid": DEF_ID, "tas_uid": "register", "variables": variables})
    assert resp.status_code == 200, resp.text
    app_uid = resp.json()["app_uid"]
    shown = (await pm.call("GET", f"{WS}/cases/{app_uid}/variables", "author")).json()
    assert shown == {"client": "Acme", "amount": "23456.99", "color": "red", "urgent": "1", "rooms": "3",
                     "boxes": ["a", "b"], "grid": {"1": {"qty": "2", "ok": "0"}}}
    native = (await pm.call("GET", f"/cases/{app_uid}/casefile", "author")).json()
    assert native == variables[0]
    # a declared variable of the wrong type is still refused, with what was sent left alone
    bad = await pm.call("POST", f"{WS}/cases", "author", json={"pro_uid": DEF_ID, "tas_uid": "register", "variables": [{"amount": "many", "color": "red"}]})
    assert "amount" in pm_error(bad, 400)
    # the native face refuses what the definition does not declare
    native_start = await pm.call("POST", "/cases", "author", json={"definition": DEF_ID, "inputs": {"client": "Acme", "color": "red"}})
    assert native_start.status_code == 422 and "color" in native_start.text


async def test_a_definition_with_strict_inputs_refuses_undeclared_variables(pm: Gateway) -> None:
    strict_id = f"{DEF_ID}-strict"
    strict = DEFINITION.replace(f"id: {DEF_ID}\n", f"id: {strict_id}\nstrictInputs: true\n", 1)
    resp = await pm.call("POST", "/definitions", "admin", content=strict, headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 201, resp.text
    url = f"{WS}/cases"
    refused = await pm.call("POST", url, "author", json={"pro_uid": strict_id, "tas_uid": "register", "variables": [{"color": "red"}]})
    assert "color" in pm_error(refused, 400)
    fine = await pm.call("POST", url, "author", json={"pro_uid": strict_id, "tas_uid": "register", "variables": [{"client": "Acme"}]})
    assert fine.status_code == 200, fine.text


async def test_a_php_client_may_send_form_bodies(pm: Gateway) -> None:
    """`http_build_query` instead of `json_encode`: a new case with nested variables, then a
    variable set and the case routed, all form-encoded. Declared numbers arrive as strings
    and are read as numbers; a malformed form is ProcessMaker's 400."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # what PHP's http_build_query(['pro_uid' => ..., 'variables' => [['client' => 'Form & Co', ...]]]) gives
    body = (f"pro_uid={DEF_ID}&tas_uid=register&variables%5B0%5D%5Bclient%5D=Form+%26+Co"
            "&variables%5B0%5D%5Bamount%5D=23456.99&variables%5B0%5D%5Bboxes%5D%5B0%5D=a&variables%5B0%5D%5Bboxes%5D%5B1%5D=b"
            "&variables%5B0%5D%5Bgrid%5D%5B1%5D%5Bqty%5D=2")
    resp = await pm.call("POST", f"{WS}/cases", "author", content=body, headers=form)
    assert resp.status_code == 200, resp.text
    app_uid = resp.json()["app_uid"]
    native = (await pm.call("GET", f"/cases/{app_uid}/casefile", "author")).json()
    assert native == {"client": "Form & Co", "amount": 23456.99, "boxes": ["a", "b"], "grid": {"1": {"qty": "2"}}}
    await ok(pm.call("PUT", f"{WS}/cases/{app_uid}/variable", "author", content="note=from+a+form", headers=form))
    shown = (await pm.call("GET", f"{WS}/cases/{app_uid}/variables", "author")).json()
    assert shown["note"] == "from a form" and shown["amount"] == "23456.99"
    await routed(pm.call("PUT", f"{WS}/cases/{app_uid}/route-case", "author", content="del_index=1", headers=form))
    assert (await info(pm, app_uid))["app_status"] == "TO_DO"
    # a declared number that is no number is still refused; so is a form PHP could not have built
    bad = await pm.call("POST", f"{WS}/cases", "author", content=f"pro_uid={DEF_ID}&tas_uid=register&variables%5B0%5D%5Bamount%5D=1%2C000", headers=form)
    assert "amount" in pm_error(bad, 400)
    broken = await pm.call("POST", f"{WS}/cases", "author", content="pro_uid=x&pro_uid%5Ba%5D=y", headers=form)
    assert "form" in pm_error(broken, 400)


async def test_new_case_honours_idempotency_key(pm: Gateway) -> None:
    body = {"pro_uid": DEF_ID, "tas_uid": "register", "variables": [{"client": "Once"}]}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await pm.call("POST", f"{WS}/cases", "author", json=body, headers=key)
    second = await pm.call("POST", f"{WS}/cases", "author", json=body, headers=key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()


async def test_impersonate_assigns_the_named_user(pm: Gateway) -> None:
    url = f"{WS}/cases/impersonate"
    resp = await pm.call("POST", url, "author", json={"pro_uid": DEF_ID, "tas_uid": "register", "usr_uid": user_id("author2"), "variables": [{"client": "Imp"}]})
    assert resp.status_code == 200, resp.text
    app_uid = resp.json()["app_uid"]
    case = await info(pm, app_uid, "author2")
    assert case["current_task"][0]["usr_uid"] == user_id("author2") and case["app_status"] == "DRAFT"
    pm_error(await pm.call("POST", url, "author", json={"pro_uid": DEF_ID, "tas_uid": "register"}), 400, "`usr_uid` is required but missing.")
    unknown = await pm.call("POST", url, "author", json={"pro_uid": DEF_ID, "tas_uid": "register", "usr_uid": "nobody"})
    assert "does not exist" in pm_error(unknown, 400)
    outside = await pm.call("POST", url, "author", json={"pro_uid": DEF_ID, "tas_uid": "register", "usr_uid": user_id("rev1")})
    assert "pool" in pm_error(outside, 400)
    # the seed asks the caller only for PM_CASES: an administrator outside `startedBy` starts
    # a case for a user of the starting task's pool, and stays its creator
    by_admin = await pm.call("POST", url, "admin", json={"pro_uid": DEF_ID, "tas_uid": "register", "usr_uid": user_id("author2")})
    assert by_admin.status_code == 200, by_admin.text
    case = await info(pm, by_admin.json()["app_uid"], "author2")
    assert case["current_task"][0]["usr_uid"] == user_id("author2")
    # ... but not without PM_CASES
    assert pm_error(await pm.call("POST", url, "viewer", json={"pro_uid": DEF_ID, "tas_uid": "register", "usr_uid": user_id("author2")}), 403)


# ------------------------------------------------------------------ reading a case


async def test_unknown_and_invisible_cases_do_not_exist(pm: Gateway) -> None:
    app_uid = await new_case(pm)
    missing = "0" * 32
    # each endpoint in the words the seed gives it (the case information's where it gives none)
    row, application, unavailable = ROW, APPLICATION, UNAVAILABLE
    for path, words in (("", row), ("/current-task", unavailable), ("/tasks", unavailable), ("/variables", row)):
        pm_error(await pm.call("GET", f"{WS}/cases/{missing}{path}", "author"), 400, words.format(missing))
        # outsider: not in the team, no role, not a supervisor: the same answer, not a 403
        pm_error(await pm.call("GET", f"{WS}/cases/{app_uid}{path}", "outsider"), 400, words.format(app_uid))
    for action, words in (("route-case", row), ("claim", row), ("pause", application), ("unpause", application),
                          ("variable", row), ("execute-trigger/flag", application)):
        for case in (missing, app_uid):
            resp = await put(pm, case, action, "outsider", note="x")
            pm_error(resp, 400, words.format(case))
    for case in (missing, app_uid):
        pm_error(await pm.call("DELETE", f"{WS}/cases/{case}", "outsider"), 400, application.format(case))


async def test_current_task_and_tasks_after_a_parallel_split(pm: Gateway) -> None:
    app_uid = await past_split(pm)
    case = await info(pm, app_uid)
    assert case["app_status"] == "TO_DO"
    assert {t["tas_uid"]: (t["del_index"], t["usr_uid"]) for t in case["current_task"]} == {"finance": (2, ""), "legal": (3, "")}
    resp = await pm.call("GET", f"{WS}/cases/{app_uid}/current-task", "author")
    assert resp.json() == [
        {"tas_uid": "finance", "tas_title": "Check finances", "del_index": "2"},
        {"tas_uid": "legal", "tas_title": "Check legal", "del_index": "3"},
    ]
    tasks = {t["tas_uid"]: t for t in (await pm.call("GET", f"{WS}/cases/{app_uid}/tasks", "author")).json()}
    assert list(tasks) == ["register", "finance", "legal", "decide", "archive", "notify"]
    register = tasks["register"]
    assert register["status"] == "TASK_COMPLETED" and register["tas_start"] == 1 and register["tas_type"] == "NORMAL"
    assert register["tas_derivation"] == "NORMAL" and register["tas_assign_type"] == "SELF_SERVICE"
    assert register["usr_username"] == "author" and register["usr_firstname"] == "Author" and register["usr_lastname"] == "Test"
    assert register["route"] == {"type": "PARALLEL", "to": [
        {"rou_number": 1, "rou_condition": "", "tas_uid": "finance"}, {"rou_number": 2, "rou_condition": "", "tas_uid": "legal"},
    ]}
    [d] = register["delegations"]
    assert d["del_index"] == 1 and DATE.match(d["del_init_date"]) and DATE.match(d["del_finish_date"])
    assert re.match(r"^\d+ Hours \d+ Minutes \d+ Seconds$", d["del_duration"]) and d["usr_uid"] == user_id("author")
    for name in ("finance", "legal"):
        t = tasks[name]
        assert t["status"] == "TASK_PARALLEL" and t["tas_start"] == 0 and t["usr_uid"] == ""
        assert t["route"] == {"type": "SEC-JOIN", "to": [{"rou_number": 1, "rou_condition": "", "tas_uid": "decide"}]}
        [d] = t["delegations"]
        assert d["del_init_date"] == "Case not started yet" and d["del_finish_date"] == "Not finished" and d["del_duration"] == "Not finished"
    assert DATE.match(tasks["legal"]["delegations"][0]["del_task_due_date"])
    assert tasks["decide"]["status"] == "TASK_PENDING_NOT_EXECUTED" and tasks["decide"]["delegations"] == []
    assert tasks["decide"]["route"]["type"] == "SELECT" and [r["tas_uid"] for r in tasks["decide"]["route"]["to"]] == ["archive", "notify"]
    assert tasks["archive"]["route"] == {"type": "SEQUENTIAL", "to": [{"rou_number": 1, "rou_condition": "", "tas_uid": -1}]}
    assert tasks["notify"]["tas_assign_type"] == "MANUAL"


# ------------------------------------------------------------------ routing, SEC-JOIN, SELECT, claim


async def test_sec_join_waits_for_both_branches_then_select_routes(pm: Gateway) -> None:
    app_uid = await past_split(pm)
    await ok(put(pm, app_uid, "claim", "rev1", del_index=2))
    await ok(put(pm, app_uid, "claim", "rev2"))  # the other unassigned one: legal, 3
    assert (await current(pm, app_uid)) == {"finance": 2, "legal": 3}
    # route-case without del_index routes the caller's own delegation
    assert await routed(put(pm, app_uid, "route-case", "rev1")) == []  # nothing new for rev1
    assert (await current(pm, app_uid)) == {"legal": 3}  # the join waits for legal
    tasks = {t["tas_uid"]: t for t in (await pm.call("GET", f"{WS}/cases/{app_uid}/tasks", "author")).json()}
    assert tasks["finance"]["status"] == "TASK_COMPLETED" and tasks["legal"]["status"] == "TASK_IN_PROGRESS"
    assert tasks["legal"]["tas_start"] == 1 and DATE.match(tasks["legal"]["delegations"][0]["del_init_date"])
    pm_error(await put(pm, app_uid, "route-case", "rev2", del_index=2), 400, "This case delegation is already closed or does not exist")
    # decide is the clerks': not in rev2's answer
    assert await routed(put(pm, app_uid, "route-case", "rev2", del_index=3)) == []
    assert (await current(pm, app_uid)) == {"decide": 4}
    await ok(put(pm, app_uid, "claim", "author"))
    # SELECT: the next task must be named (extension field next_tas_uid)
    assert "next" in pm_error(await put(pm, app_uid, "route-case", "author"), 400)
    # archive is in the author's pool: the answer names it, to open at once
    assert await routed(put(pm, app_uid, "route-case", "author", next_tas_uid="archive")) == [
        {"app_uid": app_uid, "tas_uid": "archive", "tas_title": "Archive", "del_index": 5, "usr_uid": ""}
    ]
    assert (await current(pm, app_uid)) == {"archive": 5}
    await ok(put(pm, app_uid, "claim", "author"))
    await routed(put(pm, app_uid, "route-case", "author"))
    case = await info(pm, app_uid)
    assert case["app_status"] == "COMPLETED" and case["current_task"] == []
    pm_error(await pm.call("GET", f"{WS}/cases/{app_uid}/current-task", "author"), 400, f"Incorrect or unavailable information about this case: {app_uid}")
    statuses = {t["tas_uid"]: t["status"] for t in (await pm.call("GET", f"{WS}/cases/{app_uid}/tasks", "author")).json()}
    assert statuses == {
        "register": "TASK_COMPLETED", "finance": "TASK_COMPLETED", "legal": "TASK_COMPLETED", "decide": "TASK_COMPLETED",
        "archive": "TASK_COMPLETED", "notify": "TASK_PENDING_NOT_EXECUTED",
    }
    pm_error(await put(pm, app_uid, "route-case", "author"), 400, "This case delegation is already closed or does not exist")
    pm_error(await put(pm, app_uid, "cancel", "pmadmin"), 400)


async def test_route_case_refusals(pm: Gateway) -> None:
    app_uid = await past_split(pm)
    # rev2, a checker on the case team, sees the case; rev1 is only in the checkers' pool
    await join(pm, app_uid, "rev2")
    # finance is unassigned: nobody may route it before claiming it
    pm_error(await put(pm, app_uid, "route-case", "rev2", del_index=2), 400, "Task 'finance' is not assigned to anyone; claim it or have it assigned first")
    await ok(put(pm, app_uid, "claim", "rev1", del_index=2))
    # only its holder routes it
    pm_error(await put(pm, app_uid, "route-case", "rev2", del_index=2), 403)
    pm_error(await put(pm, app_uid, "route-case", "rev1", del_index=99), 400, "This case delegation is already closed or does not exist")
    bad = await pm.call("PUT", f"{WS}/cases/{app_uid}/route-case", "rev1", json={"del_index": "two"})
    assert "del_index" in pm_error(bad, 400)


async def test_claim_race_has_exactly_one_winner(pm: Gateway) -> None:
    app_uid = await past_split(pm)
    results = await asyncio.gather(
        put(pm, app_uid, "claim", "rev1", del_index=2), put(pm, app_uid, "claim", "rev2", del_index=2)
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 400], [r.text for r in results]
    winner = "rev1" if results[0].status_code == 200 else "rev2"
    case = await info(pm, app_uid)
    assert next(t for t in case["current_task"] if t["tas_uid"] == "finance")["usr_uid"] == user_id(winner)
    # nothing left to claim for the loser... but legal is: claim without del_index takes it
    await ok(put(pm, app_uid, "claim", "rev1" if winner == "rev2" else "rev2"))
    pm_error(await put(pm, app_uid, "claim", "rev1"), 400, "This case delegation is already closed or does not exist")
    # an author is not a checker
    other = await past_split(pm)
    pm_error(await put(pm, other, "claim", "author", del_index=2), 403)


# ------------------------------------------------------------------ reassign


async def test_reassign_case(pm: Gateway) -> None:
    app_uid = await past_split(pm)
    await ok(put(pm, app_uid, "claim", "rev1", del_index=2))
    body = {"usr_uid_source": user_id("rev1"), "usr_uid_target": user_id("rev2")}
    # the permission first: an author has PM_CASES only
    pm_error(await put(pm, app_uid, "reassign-case", "author", **body), 403)
    pm_error(await put(pm, app_uid, "reassign-case", "pmadmin", usr_uid_target=user_id("rev2")), 400, "`usr_uid_source` is required but missing.")
    pm_error(await put(pm, app_uid, "reassign-case", "pmadmin", usr_uid_source=user_id("rev1")), 400, "`usr_uid_target` is required but missing.")
    # pmadmin is in no case team: PM_REASSIGNCASE reaches every case
    await ok(put(pm, app_uid, "reassign-case", "pmadmin", **body))
    assert next(t for t in (await info(pm, app_uid))["current_task"] if t["del_index"] == 2)["usr_uid"] == user_id("rev2")
    # the target must be in the task's pool; the source must hold it; not to the same user
    outsider = {"usr_uid_source": user_id("rev2"), "usr_uid_target": user_id("outsider")}
    assert "pool" in pm_error(await put(pm, app_uid, "reassign-case", "pmadmin", **outsider), 400)
    pm_error(await put(pm, app_uid, "reassign-case", "pmadmin", **body), 400)  # rev1 no longer holds it
    same = {"usr_uid_source": user_id("rev2"), "usr_uid_target": user_id("rev2")}
    pm_error(await put(pm, app_uid, "reassign-case", "pmadmin", **same), 400)
    nobody = {"usr_uid_source": user_id("rev2"), "usr_uid_target": "nobody"}
    assert "does not exist" in pm_error(await put(pm, app_uid, "reassign-case", "pmadmin", **nobody), 400)
    pm_error(await put(pm, app_uid, "reassign-case", "pmadmin", del_index=1, **same), 400, "This case delegation is already closed or does not exist")
    # PM_REASSIGNCASE_SUPERVISOR works for the process's supervisor, with an explicit del_index
    back = {"usr_uid_source": user_id("rev2"), "usr_uid_target": user_id("rev1"), "del_index": 2}
    await ok(put(pm, app_uid, "reassign-case", "pmsuper", **back))
    pm_error(await put(pm, "0" * 32, "reassign-case", "pmadmin", **body), 400, f"The Application row '{'0' * 32}' doesn't exist!")


async def test_batch_reassign_reports_each_case(pm: Gateway) -> None:
    a, b, paused = await past_split(pm), await past_split(pm), await past_split(pm)
    for case in (a, b, paused):
        await ok(put(pm, case, "claim", "rev1", del_index=2))
    await ok(put(pm, paused, "pause", "rev1", unpaused_date=""))
    body = {
        "cases": [
            {"APP_UID": a, "DEL_INDEX": 2},
            {"APP_UID": b, "DEL_INDEX": 1},  # routed already
            {"APP_UID": "0" * 32, "DEL_INDEX": 2},
            {"APP_UID": paused, "DEL_INDEX": 2},
            {"APP_UID": b, "DEL_INDEX": 3},  # unassigned: legal is nobody's yet
        ],
        "usr_uid_target": user_id("rev2"),
    }
    resp = await pm.call("POST", f"{WS}/cases/reassign", "pmadmin", json=body)
    assert resp.status_code == 200, resp.text
    assert [(c["app_uid"], c["del_index"], c["result"], c["status"]) for c in resp.json()["cases"]] == [
        (a, 2, 1, "SUCCESS"),
        (b, 1, 0, "DELEGATION_NOT_EXISTS"),
        ("0" * 32, 2, 0, "DELEGATION_NOT_EXISTS"),
        (paused, 2, 0, "CASE_PAUSED"),
        (b, 3, 0, "DELEGATION_NOT_ASSIGNED"),
    ]
    # the same batch again with the same key: the same answers, SUCCESS included
    key = {"Idempotency-Key": uuid.uuid4().hex}
    one = {"cases": [{"APP_UID": b, "DEL_INDEX": 2}], "usr_uid_target": user_id("rev2")}
    first = await pm.call("POST", f"{WS}/cases/reassign", "pmadmin", json=one, headers=key)
    retried = await pm.call("POST", f"{WS}/cases/reassign", "pmadmin", json=one, headers=key)
    assert first.json() == retried.json() == {"cases": [{"app_uid": b, "del_index": 2, "result": 1, "status": "SUCCESS"}]}
    await ok(put(pm, b, "reassign-case", "pmadmin", usr_uid_source=user_id("rev2"), usr_uid_target=user_id("rev1"), del_index=2))
    again = await pm.call("POST", f"{WS}/cases/reassign", "pmadmin", json={"cases": [{"APP_UID": a, "DEL_INDEX": 2}, {"APP_UID": b, "DEL_INDEX": 2}], "usr_uid_target": user_id("rev2")})
    assert [c["status"] for c in again.json()["cases"]] == ["REASSIGNMENT_TO_THE_SAME_USER", "SUCCESS"]
    outside = await pm.call("POST", f"{WS}/cases/reassign", "pmadmin", json={"cases": [{"APP_UID": a, "DEL_INDEX": 2}], "usr_uid_target": user_id("outsider")})
    assert outside.json()["cases"][0]["status"] == "USER_NOT_ASSIGNED_TO_TASK"
    # pmsuper supervises the process; lead (no reassign permission) is refused as a whole
    sup = await pm.call("POST", f"{WS}/cases/reassign", "pmsuper", json={"cases": [{"APP_UID": a, "DEL_INDEX": 2}], "usr_uid_target": user_id("rev1")})
    assert sup.json()["cases"][0]["status"] == "SUCCESS"
    # a case of a process pmsuper does not supervise (and cannot see) says nothing of itself
    unseen = (await pm.start("author"))["caseInstanceId"]
    probe = await pm.call("POST", f"{WS}/cases/reassign", "pmsuper", json={"cases": [{"APP_UID": unseen, "DEL_INDEX": 1}], "usr_uid_target": user_id("rev1")})
    assert probe.json()["cases"] == [{"app_uid": unseen, "del_index": 1, "result": 0, "status": "DELEGATION_NOT_EXISTS"}]
    pm_error(await pm.call("POST", f"{WS}/cases/reassign", "lead", json=body), 403)
    pm_error(await pm.call("POST", f"{WS}/cases/reassign", "pmadmin", json={"usr_uid_target": user_id("rev1")}), 400, "`cases` is required but missing.")
    assert "APP_UID" in pm_error(await pm.call("POST", f"{WS}/cases/reassign", "pmadmin", json={"cases": [{"DEL_INDEX": 1}], "usr_uid_target": "x"}), 400)


# ------------------------------------------------------------------ pause, unpause, cancel, delete, trigger, variables


async def test_pause_until_a_date_unpauses_by_itself(pm: Gateway) -> None:
    app_uid = await new_case(pm)
    pm_error(await put(pm, app_uid, "pause", unpaused_date="2001-01-01"), 400)
    pm_error(await put(pm, app_uid, "pause", unpaused_date="31/12/2099"), 400)
    # nobody holds a task of it but the author; rev1 is not a supervisor
    other = await past_split(pm)
    # a checker outside the team (its tasks are only offered to her): the case does not exist for her
    pm_error(await put(pm, other, "pause", "rev1", unpaused_date=""), 400, APPLICATION.format(other))
    # on the team she sees it, but still may not pause it
    await join(pm, other, "rev1")
    pm_error(await put(pm, other, "pause", "rev1", unpaused_date=""), 403)
    at = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%d %H:%M:%S")
    await ok(put(pm, app_uid, "pause", unpaused_date=at))
    assert (await info(pm, app_uid))["app_status"] == "PAUSED"
    pm_error(await pm.call("GET", f"{WS}/cases/{app_uid}/current-task", "author"), 400, f"Incorrect or unavailable information about this case: {app_uid}")
    pm_error(await put(pm, app_uid, "route-case"), 400)  # a paused case does not move
    pm_error(await put(pm, app_uid, "pause", unpaused_date=""), 400)  # already paused

    async def unpaused() -> bool:
        return (await info(pm, app_uid))["app_status"] == "DRAFT"

    await eventually(unpaused)
    await routed(put(pm, app_uid, "route-case"))


async def test_unpause_now_or_at_a_date(pm: Gateway) -> None:
    app_uid = await new_case(pm)
    pm_error(await put(pm, app_uid, "unpause"), 400)  # not paused
    await ok(put(pm, app_uid, "pause", unpaused_date=""))
    await ok(put(pm, app_uid, "unpause"))
    assert (await info(pm, app_uid))["app_status"] == "DRAFT"
    await ok(put(pm, app_uid, "pause", unpaused_date="2099-12-31"))  # a date: that day at 00:00 UTC
    at = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S")
    await ok(put(pm, app_uid, "unpause", unpaused_date=at))
    assert (await info(pm, app_uid))["app_status"] == "PAUSED"

    async def unpaused() -> bool:
        return (await info(pm, app_uid))["app_status"] == "DRAFT"

    await eventually(unpaused)


async def test_cancel_twice_and_who_may_cancel(pm: Gateway) -> None:
    app_uid = await new_case(pm)
    # author2 holds the clerk role outside the team: the case does not exist for him
    pm_error(await put(pm, app_uid, "cancel", "author2"), 400, f"The Application row '{app_uid}' doesn't exist!")
    # on the team he sees the case, but holds no task of it and lacks PM_CANCELCASE
    await join(pm, app_uid, "author2")
    pm_error(await put(pm, app_uid, "cancel", "author2"), 403)
    await ok(put(pm, app_uid, "cancel"))
    assert (await info(pm, app_uid))["app_status"] == "CANCELLED"
    pm_error(await put(pm, app_uid, "cancel"), 400, f"The case '{app_uid}' is already canceled")
    pm_error(await pm.call("GET", f"{WS}/cases/{app_uid}/current-task", "author"), 400, f"Incorrect or unavailable information about this case: {app_uid}")
    # PM_CANCELCASE reaches cases its holder cannot see
    other = await new_case(pm)
    await ok(put(pm, other, "cancel", "pmadmin"))
    pm_error(await put(pm, other, "cancel", "pmadmin"), 400, f"The case '{other}' is already canceled")
    # outsider neither sees it nor holds the permission: it does not exist for them
    pm_error(await put(pm, other, "cancel", "outsider"), 400, f"The Application row '{other}' doesn't exist!")


async def test_delete_rules(pm: Gateway) -> None:
    app_uid = await new_case(pm)
    # a clerk outside the team: the case does not exist for him
    pm_error(await pm.call("DELETE", f"{WS}/cases/{app_uid}", "author2"), 400, APPLICATION.format(app_uid))
    # a clerk on the team who does not hold its first task may not delete it
    await join(pm, app_uid, "author2")
    pm_error(await pm.call("DELETE", f"{WS}/cases/{app_uid}", "author2"), 403)
    await ok(pm.call("DELETE", f"{WS}/cases/{app_uid}", "author"))
    for path, words in (("", ROW), ("/current-task", UNAVAILABLE), ("/tasks", UNAVAILABLE), ("/variables", ROW)):
        pm_error(await pm.call("GET", f"{WS}/cases/{app_uid}{path}", "author"), 400, words.format(app_uid))
    pm_error(await pm.call("DELETE", f"{WS}/cases/{app_uid}", "author"), 400, APPLICATION.format(app_uid))
    pm_error(await put(pm, app_uid, "cancel"), 400, ROW.format(app_uid))
    # PM_DELETECASE deletes another user's draft
    other = await new_case(pm)
    await ok(pm.call("DELETE", f"{WS}/cases/{other}", "pmadmin"))
    # past its first task it is no longer a draft: cancel it instead
    routed = await past_split(pm)
    assert "cancel" in pm_error(await pm.call("DELETE", f"{WS}/cases/{routed}", "author"), 400)


async def test_execute_trigger(pm: Gateway) -> None:
    app_uid = await new_case(pm)
    pm_error(await put(pm, app_uid, "execute-trigger/nope"), 400)
    await ok(put(pm, app_uid, "execute-trigger/flag"))
    assert (await pm.call("GET", f"{WS}/cases/{app_uid}/variables", "author")).json()["flagged"] == "1"  # a boolean, as ProcessMaker shows one
    # a clerk outside the team: the case does not exist for him
    pm_error(await put(pm, app_uid, "execute-trigger/flag", "author2"), 400, APPLICATION.format(app_uid))
    # a clerk on the team, holding no task of it, and not its owner
    await join(pm, app_uid, "author2")
    pm_error(await put(pm, app_uid, "execute-trigger/flag", "author2"), 403)
    # the seed: "only the user assigned to the case" runs a trigger, not its supervisor
    pm_error(await put(pm, app_uid, "execute-trigger/flag", "pmsuper"), 403)
    # once its first task is routed, its starter holds nothing: no longer theirs to run
    await routed(put(pm, app_uid, "route-case"))
    pm_error(await put(pm, app_uid, "execute-trigger/flag"), 403)


async def test_variables_round_trip(pm: Gateway) -> None:
    app_uid = await new_case(pm)
    await ok(pm.call("PUT", f"{WS}/cases/{app_uid}/variable", "author", json=[{"note": "first", "count": 2}]))
    await ok(pm.call("PUT", f"{WS}/cases/{app_uid}/variable", "author", json={"note": "second", "grid": {"1": {"name": "Jane"}}}))
    variables = (await pm.call("GET", f"{WS}/cases/{app_uid}/variables", "author")).json()
    assert variables == {"client": "Acme", "note": "second", "count": "2", "grid": {"1": {"name": "Jane"}}}
    pm_error(await pm.call("PUT", f"{WS}/cases/{app_uid}/variable", "author", json={}), 400)
    pm_error(await pm.call("PUT", f"{WS}/cases/{app_uid}/variable", "author", json={"bad name": 1}), 400)
    pm_error(await pm.call("PUT", f"{WS}/cases/{app_uid}/variable", "author", json="text"), 400)


# ------------------------------------------------------------------ a seed-shaped client


async def test_a_client_flow_as_the_seed_examples_write_it(pm: Gateway) -> None:
    """The JavaScript/PHP examples: a token from a JSON body, the starting tasks, a new case,
    the draft list, its variables, routing, and the tasks of the case."""
    token = await pm.http.post("/workflow/oauth2/token", json={
        "grant_type": "password", "scope": "*", "client_id": "x-pm-local-client", "client_secret": "casework-demo-secret",
        "username": "author", "password": "author-pw",
    })
    assert token.status_code == 200, token.text
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    starts = (await pm.http.get(f"{WS}/case/start-cases", headers=auth)).json()
    start = next(s for s in starts if s["pro_uid"] == DEF_ID)
    created = await pm.http.post(f"{WS}/cases", headers=auth, json={"pro_uid": start["pro_uid"], "tas_uid": start["tas_uid"], "variables": [{"client": "Flow Inc."}]})
    assert created.status_code == 200, created.text
    app_uid = created.json()["app_uid"]
    drafts = await pm.http.get(f"{WS}/cases/draft", headers=auth)
    if drafts.status_code == 200:  # the lists' router (another module) answers this
        assert app_uid in [c["app_uid"] for c in drafts.json()]
    assert (await pm.http.put(f"{WS}/cases/{app_uid}/variable", headers=auth, json=[{"amount": 23456.99}])).status_code == 200
    assert (await pm.http.put(f"{WS}/cases/{app_uid}/route-case", headers=auth)).status_code == 200
    case = (await pm.http.get(f"{WS}/cases/{app_uid}", headers=auth)).json()
    assert case["app_status"] == "TO_DO" and [t["tas_title"] for t in case["current_task"]] == ["Check finances", "Check legal"]
    assert (await pm.http.get(f"{WS}/cases/{app_uid}/variables", headers=auth)).json()["amount"] == "23456.99"


async def test_no_error_echoes_a_token(pm: Gateway) -> None:
    for body in pm.error_bodies:
        for token in pm.tokens.values():
            assert token not in body
