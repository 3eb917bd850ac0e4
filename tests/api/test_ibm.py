"""The IBM Case Manager face (seed 002): the list of task instances of a case, over HTTP
through the real app and a real Temporal dev server, with its error envelope."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from api import ibm
from api.errors import ApiError, register_envelope, render
from tests.api.conftest import Gateway
from tests.support.http_service import HttpService, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

BASE = "/CaseManager/CASEREST/v1/case"
ROD = {"TargetObjectStore": "CASEWORK", "Grouping": "ROD"}
IBM_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
BRACED_GUID = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")
# the seed's ProcessInstanceId: 32 hex digits, upper case, no braces, no dashes
PROCESS_ID = re.compile(r"^[0-9A-F]{32}$")
FIELDS = {
    "RequiredState", "TaskState", "DisabledState", "LaunchMode", "DateCreated", "TaskId", "TaskName",
    "DateLastModified", "IsHidden", "IsContainer", "ProcessInstanceId", "LastRestartDate", "RestartCount", "RosterName",
}


async def task_list(gateway: Gateway, folder_id: str, username: str | None = "author", params: dict | None = None) -> httpx.Response:
    return await gateway.call("GET", f"{BASE}/{folder_id}/tasks", username, params=ROD if params is None else params)


def assert_ibm_error(resp: httpx.Response, status: int, *words: str) -> dict:
    """IBM's error envelope: the message {UniqueId, Text, Severity} under `userMessage` (where
    the seed sends a client for the error text) and the same under `UserMessage` (IBM's
    error-response page), and UnderlyingDetails."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"userMessage", "UserMessage", "UnderlyingDetails"}, body
    message = body["userMessage"]
    assert body["UserMessage"] == message
    assert message["UniqueId"] == f"CWKCR{status:04d}E" and message["Severity"] == "ERROR"
    assert message["Text"].startswith(message["UniqueId"] + " ")
    for word in words:
        assert word in message["Text"], message
    assert isinstance(body["UnderlyingDetails"]["Causes"], list)
    return body


async def act(gateway: Gateway, case_id: str, item: str, transition: str) -> None:
    resp = await gateway.call("POST", f"/cases/{case_id}/planitems/{item}/{transition}", "author")
    assert resp.status_code == 200, resp.text


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ibm_case(gateway: Gateway) -> str:
    """An ibm-tasks case with one task in each state the face distinguishes."""
    resp = await gateway.call("POST", "/cases", "author", json={"definition": "ibm-tasks", "inputs": {}})
    assert resp.status_code == 201, resp.text
    case_id = resp.json()["caseInstanceId"]
    await act(gateway, case_id, "skip", "disable")  # Enabled -> Disabled
    await act(gateway, case_id, "drop", "terminate")  # Enabled -> Terminated
    await act(gateway, case_id, "sync", "reactivate")  # Failed -> Active -> Failed again: one restart
    planned = await gateway.call("POST", f"/cases/{case_id}/discretionaryitems/plan", "author", json={"definitionId": "extra"})
    assert planned.status_code == 200, planned.text
    return case_id


def by_name(groups: dict) -> dict[str, dict]:
    return {t["TaskName"]: t for tasks in groups.values() for t in tasks}


def process_id(case_id: str, item_id: str) -> str:
    return uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "urn:casework:ibm:process"), f"{case_id}.{item_id}").hex.upper()


# The seed's example situations, and process tasks that fail in ways an IBM client is told
# about in FailureReason: a call the service answers 401 (with a token the definition sends),
# a call to an address the outbound allow-list refuses, a sub-case its inputs cannot start.
SEED_CHILD = """
id: ibm-seed-child
name: IBM seed sub-case
roles:
  worker: {groups: [reviewers]}
inputs: {amount: {type: number, required: true}}
plan:
  items:
    - {id: count, type: humanTask, name: Count, role: worker}
"""
SEED_TOKEN = "ledger-token-5f0c2a"
SEED_DEFINITION = f"""
id: ibm-seed
name: IBM seed situations
roles:
  worker: {{groups: [reviewers]}}
startedBy: [authors]
inputs: {{base: {{type: string, required: true}}}}
plan:
  autoComplete: false
  items:
    - {{id: first, type: humanTask, name: First step, role: worker}}
    # required, starts by itself, waits for First step: the seed's Required example
    - {{id: approve, type: humanTask, name: Approve claim, role: worker, required: true, entry: [{{on: [first.complete]}}]}}
    - id: post
      type: processTask
      name: Post to ledger
      http: {{method: POST, url: "{{base}}/ledger", headers: {{Authorization: "Bearer {SEED_TOKEN}"}}, json: {{case: "{{caseId}}"}}}}
    - id: meta
      type: processTask
      name: Read metadata
      http: {{method: GET, url: "http://169.254.169.254/latest/meta-data"}}
    - {{id: orphan, type: caseTask, name: Orphan sub-case, definition: ibm-seed-child}}
"""


@pytest.fixture(scope="module")
def ledger() -> Iterator[HttpService]:
    service, server = serve()
    service.answer("/ledger", (401, {"error": "bad token"}))
    yield service
    server.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed_case(gateway: Gateway, ledger: HttpService) -> str:
    """An ibm-seed case once its three process and case tasks have failed."""
    for text in (SEED_CHILD, SEED_DEFINITION):
        deployed = await gateway.call("POST", "/definitions", "admin", content=text, headers={"Content-Type": "application/yaml"})
        assert deployed.status_code == 201, deployed.text
    resp = await gateway.call("POST", "/cases", "author", json={"definition": "ibm-seed", "inputs": {"base": ledger.url}})
    assert resp.status_code == 201, resp.text
    case_id = resp.json()["caseInstanceId"]
    for _ in range(150):
        tasks = by_name((await task_list(gateway, case_id)).json())
        if all(tasks[n]["TaskState"] == 6 for n in ("Post to ledger", "Read metadata", "Orphan sub-case")):
            break
        await asyncio.sleep(0.1)
    return case_id


# ------------------------------------------------------------------ grouping and order


async def test_tasks_are_grouped_required_optional_disabled_and_ordered_by_state_then_name(gateway: Gateway, ibm_case: str) -> None:
    resp = await task_list(gateway, ibm_case)
    assert resp.status_code == 200, resp.text
    groups = resp.json()
    names = {group: [t["TaskName"] for t in tasks] for group, tasks in groups.items()}
    assert names == {
        # working (4) before complete (5)
        "Required": ["Check papers", "Record the mark"],
        # waiting (0), ready (3, names without regard to case), working (4), failed (6);
        # milestones, timers and user events are not tasks
        "Optional": [
            "Follow up", "beta review", "Gamma review",
            "Extra check", "Inner task", "Phase two", "Sub-case", "Sync ledger",
        ],
        # disabled by a user (ready, 3) before stopped (failed, 6), though D < S
        "Disabled": ["Skippable", "Droppable"],
    }
    for group, tasks in groups.items():
        states = [t["TaskState"] for t in tasks]
        assert states == sorted(states), group


async def test_each_cmmn_state_has_its_ibm_codes(gateway: Gateway, ibm_case: str) -> None:
    tasks = by_name((await task_list(gateway, ibm_case)).json())

    def codes(name: str) -> tuple[int, int, int, int]:
        t = tasks[name]
        return t["RequiredState"], t["TaskState"], t["DisabledState"], t["LaunchMode"]

    # (RequiredState, TaskState, DisabledState, LaunchMode)
    assert codes("Check papers") == (ibm.REQUIRED_BY_USER, ibm.WORKING, ibm.ENABLED, ibm.SYSTEM_AUTOMATIC)
    assert codes("Record the mark") == (ibm.REQUIRED_BY_USER, ibm.COMPLETE, ibm.ENABLED, ibm.SYSTEM_AUTOMATIC)
    assert codes("Follow up") == (ibm.OPTIONAL, ibm.WAITING_PRECONDITION, ibm.ENABLED, ibm.SYSTEM_AUTOMATIC)
    assert codes("beta review") == (ibm.OPTIONAL, ibm.READY, ibm.ENABLED, ibm.SYSTEM_MANUAL)
    assert codes("Phase two") == (ibm.OPTIONAL, ibm.WORKING, ibm.ENABLED, ibm.SYSTEM_AUTOMATIC)
    assert codes("Inner task") == (ibm.OPTIONAL, ibm.WORKING, ibm.ENABLED, ibm.SYSTEM_AUTOMATIC)
    assert codes("Sub-case") == (ibm.OPTIONAL, ibm.WORKING, ibm.ENABLED, ibm.SYSTEM_AUTOMATIC)
    assert codes("Extra check") == (ibm.OPTIONAL, ibm.WORKING, ibm.ENABLED, ibm.USER_AUTOMATIC)
    assert codes("Sync ledger") == (ibm.OPTIONAL, ibm.FAILED, ibm.ENABLED, ibm.SYSTEM_AUTOMATIC)
    assert codes("Skippable") == (ibm.REQUIRED_BY_USER, ibm.READY, ibm.DISABLED_BY_USER, ibm.SYSTEM_MANUAL)
    assert codes("Droppable") == (ibm.OPTIONAL, ibm.FAILED, ibm.DISABLED_ABORTED, ibm.SYSTEM_MANUAL)
    # the seed's own example codes: an enabled optional task that waits for a user is
    # RequiredState 0, TaskState 3, DisabledState 0, LaunchMode 0
    assert codes("beta review") == (0, 3, 0, 0)
    # the numbers an IBM client reads (TaskState 1 waiting, 3 ready, 4 working, 5 complete,
    # 6 failed): the constants above must not drift from them
    assert {name: codes(name)[1] for name in tasks} == {
        "Follow up": 1,
        "beta review": 3, "Gamma review": 3, "Skippable": 3,
        "Check papers": 4, "Phase two": 4, "Inner task": 4, "Sub-case": 4, "Extra check": 4,
        "Record the mark": 5,
        "Sync ledger": 6, "Droppable": 6,
    }
    assert {"Gate", "Pause", "Halt"}.isdisjoint(tasks)


async def test_every_field_and_its_format(gateway: Gateway, ibm_case: str) -> None:
    groups = (await task_list(gateway, ibm_case)).json()
    tasks = by_name(groups)
    history = (await gateway.call("GET", f"/cases/{ibm_case}/history", "author")).json()
    items = {p["name"]: p for p in (await gateway.call("GET", f"/cases/{ibm_case}/planitems", "author")).json()}
    for name, t in tasks.items():
        failed = t["TaskState"] == ibm.FAILED
        assert set(t) == FIELDS | ({"FailureReason"} if failed else set()), name
        assert IBM_TIME.match(t["DateCreated"]) and IBM_TIME.match(t["DateLastModified"]), t
        assert t["DateCreated"] <= t["DateLastModified"]
        assert BRACED_GUID.match(t["TaskId"]), t
        item_id = items[name]["id"]
        assert t["TaskId"] == "{" + str(uuid.uuid5(ibm.TASK_ID_NAMESPACE, f"{ibm_case}.{item_id}")).upper() + "}"
        assert t["IsHidden"] is False
        assert t["IsContainer"] is (name == "Phase two")
        assert t["RosterName"] == "ibm-tasks"
        assert isinstance(t["RestartCount"], str)
        # DateCreated is when the plan item was created (its `create` in the audit trail)
        created = next(h["at"] for h in history if h["planItemId"] == item_id and h["action"] == "create")
        assert t["DateCreated"] == datetime.fromisoformat(created).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        last = datetime.fromisoformat(items[name]["lastModified"]).astimezone(UTC)
        assert t["DateLastModified"] == last.strftime("%Y-%m-%dT%H:%M:%SZ")
        # each task its own ProcessInstanceId in the seed's form (32 upper-case hex digits),
        # never the case's id, and not its TaskId's digits
        assert PROCESS_ID.match(t["ProcessInstanceId"]), t
        assert t["ProcessInstanceId"] == process_id(ibm_case, item_id)
        assert t["ProcessInstanceId"] != t["TaskId"].strip("{}").replace("-", "")
    assert len({t["TaskId"] for t in tasks.values()}) == len(tasks)
    assert len({t["ProcessInstanceId"] for t in tasks.values()}) == len(tasks)
    # the same plan item keeps its TaskId and ProcessInstanceId from one call to the next
    again = by_name((await task_list(gateway, ibm_case)).json())
    assert {n: t["TaskId"] for n, t in again.items()} == {n: t["TaskId"] for n, t in tasks.items()}
    assert {n: t["ProcessInstanceId"] for n, t in again.items()} == {n: t["ProcessInstanceId"] for n, t in tasks.items()}
    # restarts: the failed process task was reactivated once (and failed again)
    sync = tasks["Sync ledger"]
    assert sync["RestartCount"] == "1" and IBM_TIME.match(sync["LastRestartDate"])
    assert sync["LastRestartDate"] >= sync["DateCreated"]
    # the engine recorded its own error text; the IBM client gets a sentence instead
    assert items["Sync ledger"]["error"].startswith("trigger could not be evaluated")
    assert sync["FailureReason"] == "The task's trigger could not be evaluated, so the case data was not changed."
    assert tasks["Check papers"]["RestartCount"] == "0" and tasks["Check papers"]["LastRestartDate"] is None
    assert tasks["Droppable"]["FailureReason"] == "The task was terminated by a user."


async def test_a_sub_case_has_its_own_task_list_and_empty_groups_are_left_out(gateway: Gateway, ibm_case: str) -> None:
    sub = by_name((await task_list(gateway, ibm_case)).json())["Sub-case"]
    # the case task's ProcessInstanceId is its own, like any task's, not the sub-case's id
    assert sub["ProcessInstanceId"] == process_id(ibm_case, "sub")
    child_id = f"{ibm_case}-sub"  # the engine's name for the sub-case
    for _ in range(100):  # the sub-case starts when the parent's worker runs its effect
        child = await gateway.call("GET", f"/cases/{child_id}", "author")
        if child.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert child.status_code == 200 and child.json()["parentCase"] == ibm_case
    # the sub-case has one optional task and nothing required or disabled
    resp = await task_list(gateway, child_id, "author")
    assert resp.status_code == 200, resp.text
    assert list(resp.json()) == ["Optional"]
    (work,) = resp.json()["Optional"]
    assert work["TaskName"] == "Sub work" and work["RosterName"] == "ibm-child"
    assert work["ProcessInstanceId"] == process_id(child_id, "work") and PROCESS_ID.match(work["ProcessInstanceId"])
    # rev1 may claim Sub work, but the task list shows the whole case, which is not hers
    assert_ibm_error(await task_list(gateway, child_id, "rev1"), 404)


# ------------------------------------------------------------------ the seed's examples and failures


async def test_a_required_task_waiting_to_start_answers_as_the_seeds_required_example(gateway: Gateway, seed_case: str) -> None:
    groups = (await task_list(gateway, seed_case)).json()
    (approve,) = [t for t in groups["Required"] if t["TaskName"] == "Approve claim"]
    # the seed's Required task: required by its designer, waiting, launched by the system
    assert {k: approve[k] for k in ("RequiredState", "TaskState", "DisabledState", "LaunchMode")} == {
        "RequiredState": 1, "TaskState": 1, "DisabledState": 0, "LaunchMode": 4,
    }
    assert approve["IsHidden"] is False and approve["IsContainer"] is False
    assert approve["LastRestartDate"] is None and approve["RestartCount"] == "0"
    assert approve["RosterName"] == "ibm-seed" and "FailureReason" not in approve
    assert BRACED_GUID.match(approve["TaskId"]) and PROCESS_ID.match(approve["ProcessInstanceId"])
    # waiting (1) is ordered before working (4) and failed (6) in its group
    assert [t["TaskState"] for t in groups["Optional"]] == sorted(t["TaskState"] for t in groups["Optional"])


async def test_a_failed_task_tells_in_a_sentence_what_failed_and_why(gateway: Gateway, seed_case: str) -> None:
    resp = await task_list(gateway, seed_case)
    tasks = by_name(resp.json())
    assert {n: tasks[n]["FailureReason"] for n in ("Post to ledger", "Read metadata", "Orphan sub-case")} == {
        "Post to ledger": "The call to the external service failed: the service did not accept the request's credentials (it answered 401 Unauthorized).",
        "Read metadata": "The call to the external service was not made: this server is not allowed to call that address.",
        "Orphan sub-case": "The sub-case could not be started: the inputs given to it are not valid.",
    }
    # what the engine recorded (and the native face shows) names exception types and the
    # refused address; none of it, nor the token the call sent, reaches the IBM answer
    errors = {p["name"]: p["error"] for p in (await gateway.call("GET", f"/cases/{seed_case}/planitems", "author")).json()}
    assert errors["Post to ledger"].startswith("HttpClientError:") and "CASEWORK_HTTP_ALLOW" in errors["Read metadata"]
    assert "inputs.amount" in errors["Orphan sub-case"]
    for word in (SEED_TOKEN, "Bearer", "HttpClientError", "HttpRefused", "NoDefinition", "169.254", "CASEWORK_HTTP_ALLOW", "inputs.amount"):
        assert word not in resp.text, word
    for name in ("Post to ledger", "Read metadata", "Orphan sub-case"):
        assert tasks[name]["TaskState"] == 6 and tasks[name]["DisabledState"] == 0


# ------------------------------------------------------------------ the case folder id


async def test_a_case_folder_id_may_be_a_guid_in_any_form_or_the_case_id(gateway: Gateway, ibm_case: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", ibm_case)  # a generated case id
    expected = (await task_list(gateway, ibm_case)).json()
    guid = str(uuid.UUID(ibm_case))
    for form in (guid.upper(), guid, "{" + guid.upper() + "}", "%7B" + guid + "%7D", ibm_case.upper()):
        resp = await task_list(gateway, form)
        assert resp.status_code == 200, (form, resp.text)
        assert resp.json() == expected, form


async def test_a_chosen_case_id_is_taken_as_it_is_even_when_it_looks_like_a_guid(gateway: Gateway) -> None:
    for chosen in (f"ibm-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()).upper()):
        body = {"definition": "ibm-child", "inputs": {}, "caseInstanceId": chosen}
        started = await gateway.call("POST", "/cases", "admin", json=body)
        assert started.status_code == 201, started.text
        resp = await task_list(gateway, chosen, "admin")
        assert resp.status_code == 200, resp.text
        assert [t["TaskName"] for t in resp.json()["Optional"]] == ["Sub work"]
        assert resp.json()["Optional"][0]["ProcessInstanceId"] == process_id(chosen, "work")


async def test_unknown_and_invisible_cases_are_404(gateway: Gateway, ibm_case: str) -> None:
    text = "The case folder that was specified in the request URI was not found."
    assert_ibm_error(await task_list(gateway, str(uuid.uuid4()).upper()), 404, text)
    assert_ibm_error(await task_list(gateway, "no-such-case"), 404, text)
    assert_ibm_error(await task_list(gateway, "not a case id!"), 404, text)
    # a user who may not see the case learns nothing more than of a case that does not exist
    outsider = assert_ibm_error(await task_list(gateway, ibm_case, "outsider"), 404, text)
    missing = assert_ibm_error(await task_list(gateway, uuid.uuid4().hex, "outsider"), 404)
    assert outsider == missing
    # PM_ALLCASES sees every case
    assert (await task_list(gateway, ibm_case, "admin")).status_code == 200


# ------------------------------------------------------------------ parameters and errors


async def test_target_object_store_and_grouping_are_required_and_checked(gateway: Gateway, ibm_case: str) -> None:
    cases = [
        ({"Grouping": "ROD"}, "TargetObjectStore parameter was not specified"),
        ({"TargetObjectStore": "", "Grouping": "ROD"}, "TargetObjectStore parameter was not specified"),
        ({"TargetObjectStore": "OtherStore", "Grouping": "ROD"}, "does not name an object store"),
        ({"TargetObjectStore": "CASEWORK"}, "Grouping parameter was not specified"),
        ({"TargetObjectStore": "CASEWORK", "Grouping": "RO"}, "must be ROD"),
        ({"TargetObjectStore": "CASEWORK", "Grouping": "rod"}, "must be ROD"),
        ({}, "TargetObjectStore"),
    ]
    for params, words in cases:
        assert_ibm_error(await task_list(gateway, ibm_case, params=params), 400, words)
    # the parameters are checked before the case is looked for
    assert_ibm_error(await task_list(gateway, "no-such-case", params={"Grouping": "ROD"}), 400)
    # the store's symbolic name is matched without regard to case
    resp = await task_list(gateway, ibm_case, params={"TargetObjectStore": "casework", "Grouping": "ROD"})
    assert resp.status_code == 200
    # an over-long parameter is a 400 in IBM's envelope too, not FastAPI's 422
    body = assert_ibm_error(await task_list(gateway, ibm_case, params={**ROD, "Grouping": "R" * 50}), 400)
    assert any("Grouping" in c for c in body["UnderlyingDetails"]["Causes"])


async def test_without_a_valid_token_it_is_401_in_ibm_envelope(gateway: Gateway, ibm_case: str) -> None:
    resp = await task_list(gateway, ibm_case, None)
    assert_ibm_error(resp, 401, "bearer token")
    assert resp.headers["www-authenticate"] == "Bearer"
    bogus = "eyJhbGciOiJFZERTQSJ9.e30.c2VjcmV0LXNpZ25hdHVyZQ"
    resp = await gateway.call("GET", f"{BASE}/{ibm_case}/tasks", params=ROD, headers={"Authorization": f"Bearer {bogus}"})
    assert_ibm_error(resp, 401)
    assert bogus not in resp.text and "c2VjcmV0" not in resp.text
    # (straight through the client: its fixed text names the 'Bearer' scheme, which the
    # session-wide check of error bodies in test_native does not expect)
    resp = await gateway.http.get(f"{BASE}/{ibm_case}/tasks", params=ROD, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_ibm_error(resp, 401, "Authorization header")
    assert "dXNlcjpwYXNz" not in resp.text


async def test_other_errors_under_case_manager_use_the_ibm_envelope(gateway: Gateway, ibm_case: str) -> None:
    assert_ibm_error(await gateway.call("GET", "/CaseManager/CASEREST/v1/nothing-here", "author"), 404)
    resp = await gateway.call("POST", f"{BASE}/{ibm_case}/tasks", "author", params=ROD)
    assert_ibm_error(resp, 405)
    assert "GET" in resp.headers["allow"]
    # the native face keeps problem details
    native = await gateway.call("GET", f"/cases/{uuid.uuid4().hex}", "author")
    assert native.status_code == 404 and native.headers["content-type"].startswith("application/problem+json")


async def test_no_error_echoes_a_token_or_header(gateway: Gateway) -> None:
    # every error body this session (this module's and the others') is checked
    assert gateway.error_bodies
    for body in gateway.error_bodies:
        for token in gateway.tokens.values():
            assert token not in body


async def test_error_bodies_and_task_lists_follow_the_openapi_document(gateway: Gateway, ibm_case: str, seed_case: str) -> None:
    """What is sent is what the OpenAPI document (the one schemathesis checks against) says."""
    doc = (await gateway.http.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]

    def check(schema: dict, value: object, where: str) -> None:
        if "$ref" in schema:
            return check(schemas[schema["$ref"].rsplit("/", 1)[1]], value, where)
        if "anyOf" in schema:
            fits = []
            for option in schema["anyOf"]:
                try:
                    check(option, value, where)
                    fits.append(option)
                except AssertionError:
                    pass
            assert fits, (where, value)
            return None
        kind = schema.get("type")
        if kind == "object":
            assert isinstance(value, dict), where
            assert set(schema.get("required", [])) <= set(value), (where, value)
            assert set(value) <= set(schema.get("properties", {})), (where, value)
            for key, item in value.items():
                check(schema["properties"][key], item, f"{where}.{key}")
        elif kind == "array":
            assert isinstance(value, list), where
            for i, item in enumerate(value):
                check(schema["items"], item, f"{where}[{i}]")
        elif kind is not None:
            types = {"string": str, "integer": int, "boolean": bool, "null": type(None)}
            assert isinstance(value, types[kind]) and not (kind == "integer" and isinstance(value, bool)), (where, value)
        return None

    operation = doc["paths"]["/CaseManager/CASEREST/v1/case/{caseFolderId}/tasks"]["get"]["responses"]
    for status, params in (("404", ROD), ("400", {"Grouping": "ROD"})):
        resp = await task_list(gateway, uuid.uuid4().hex, params=params)
        assert str(resp.status_code) == status
        check(operation[status]["content"]["application/json"]["schema"], resp.json(), status)
        assert "userMessage" in schemas["IbmError"]["required"]
    # ProcessInstanceId is always a string now: the document says so, and every task has one
    assert schemas["IbmTask"]["properties"]["ProcessInstanceId"].get("type") == "string"
    for case_id in (ibm_case, seed_case):
        resp = await task_list(gateway, case_id)
        check(operation["200"]["content"]["application/json"]["schema"], resp.json(), case_id)


# ------------------------------------------------------------------ the pieces, without a server


async def test_task_state_of_every_cmmn_state() -> None:
    from workflows.engine.state import ItemState

    expected = {
        "Available": 1,  # waiting for its entry criteria: the seed's waiting Required task
        "Enabled": 3,  # waiting for a user to start it: the seed's ready Optional task
        "Disabled": 3,
        "Active": 4,
        "Suspended": 4,
        "Completed": 5,
        "Failed": 6,
        "Terminated": 6,
    }
    assert set(expected) == {s.value for s in ItemState}  # no CMMN state is left unmapped
    for state, code in expected.items():
        item = ibm.PlanItemView(
            id="x", name="X", definitionId="x", type="humanTask", stageId=None, currentState=state,
            isRequired=True, lastModified=datetime(2010, 7, 16, 21, 50, 36, tzinfo=UTC),
        )
        assert ibm.task_state(item) == code, state


# What the engine records for each kind of failure (activities/http_calls.py and Temporal's
# rendering of an activity failure, the sub-case and budget texts of the engine), and the
# sentence an IBM client reads for it.
FAILURES = {
    "ConnectError: All connection attempts failed":
        "The call to the external service failed: the service could not be reached.",
    "ConnectError: cannot resolve the host: gaierror":
        "The call to the external service failed: the service's host name could not be found.",
    "ReadTimeout: ":
        "The call to the external service failed: the service did not answer in time.",
    "ConnectTimeout: timed out":
        "The call to the external service failed: the service did not answer in time.",
    "activity StartToClose timeout":
        "The call to the external service failed: the service did not answer in time.",
    "RemoteProtocolError: Server disconnected without sending a response.":
        "The call to the external service failed: the connection to the service broke before it answered.",
    "HttpClientError: POST answered 400":
        "The call to the external service failed: the service rejected the request (it answered 400 Bad Request).",
    "HttpClientError: POST answered 401":
        "The call to the external service failed: the service did not accept the request's credentials (it answered 401 Unauthorized).",
    "HttpClientError: PUT answered 403":
        "The call to the external service failed: the service does not allow this request (it answered 403 Forbidden).",
    "HttpClientError: GET answered 404":
        "The call to the external service failed: the service has nothing at the address that was called (it answered 404 Not Found).",
    "HttpClientError: POST answered 429":
        "The call to the external service failed: the service is receiving too many requests (it answered 429 Too Many Requests).",
    "RuntimeError: POST answered 503":
        "The call to the external service failed: the service answered with a server error, also on every retry (it answered 503 Service Unavailable).",
    "RuntimeError: POST answered 500":
        "The call to the external service failed: the service answered with a server error, also on every retry (it answered 500 Internal Server Error).",
    "HttpBadResponse: the response is not JSON":
        "The call to the external service failed: the service's answer is not JSON, so the task's output could not be read from it.",
    "HttpRefused: outbound call refused: host 'ledger.internal' is not allowed (CASEWORK_HTTP_ALLOW)":
        "The call to the external service was not made: this server is not allowed to call that address.",
    "outbound call refused: address 10.1.2.3 is not allowed (CASEWORK_HTTP_ALLOW)":
        "The call to the external service was not made: this server is not allowed to call that address.",
    "HttpBadUrl: bad URL: InvalidURL":
        "The call to the external service was not made: its URL is not valid.",
    "its output is too large: the case would hold 40123 bytes, over its budget of 20000":
        "The call to the external service succeeded, but its answer is too large to be kept in the case.",
    "sub-case ended Completed, but its output is too large: the case would hold 40123 bytes":
        "The sub-case completed, but its result is too large to be kept in this case.",
    "sub-case ended Terminated":
        "The sub-case was stopped before it completed.",
    "sub-case ended Failed":
        "The sub-case ended without completing.",
    "sub-case ended not started: NoDefinition: no deployed definition 'claims'":
        "The sub-case could not be started: its case definition is not deployed.",
    "sub-case ended not started: inputs.amount: is required":
        "The sub-case could not be started: the inputs given to it are not valid.",
    "sub-case ended not started: ChildWorkflowError: something else":
        "The sub-case could not be started.",
    "trigger could not be evaluated: marked: undeclared reference to 'no_such_variable'":
        "The task's trigger could not be evaluated, so the case data was not changed.",
    # anything else, and nothing at all
    "internal error: KeyError": "The task failed because of an unexpected error.",
    "ZeroDivisionError: division by zero": "The task failed because of an unexpected error.",
    "": "The task failed because of an unexpected error.",
}


async def test_every_kind_of_failure_has_a_readable_failure_reason() -> None:
    def failed(error: str | None) -> ibm.PlanItemView:
        return ibm.PlanItemView(
            id="post", name="Post to ledger", definitionId="post", type="processTask", stageId=None,
            currentState="Failed", isRequired=False, lastModified=datetime(2010, 7, 16, tzinfo=UTC), error=error,
        )

    for error, sentence in FAILURES.items():
        reason = ibm.failure_reason(failed(error), [])
        assert reason == sentence, error
        # a sentence: a capital letter first, a full stop last, no exception class, no address,
        # no header and no text of the recorded error beyond what the sentence itself says
        assert reason[0].isupper() and reason.endswith("."), reason
        assert not re.search(r"[A-Za-z]+(Error|Exception|Timeout|Refused|Url|Response)\b|Http[A-Z]", reason), reason
        for piece in ("CASEWORK_HTTP_ALLOW", "10.1.2.3", "ledger.internal", "gaierror", "InvalidURL", "inputs.amount", "claims", "40123"):
            assert piece not in reason, (error, piece)
    assert ibm.failure_reason(failed(None), []) == "The task failed because of an unexpected error."
    # a header that found its way into a recorded error is never repeated
    leaked = ibm.failure_reason(failed("HttpClientError: POST answered 401 (Authorization: Bearer abc.def.ghi)"), [])
    assert "Bearer" not in leaked and "abc.def" not in leaked and "401 Unauthorized" in leaked


async def test_process_instance_ids_are_each_tasks_own_in_ibms_form() -> None:
    first = ibm.ibm_process_id("9e45a9970e42406eaac4ee55d8bcf2ed", "check")
    assert PROCESS_ID.match(first) and first == ibm.ibm_process_id("9e45a9970e42406eaac4ee55d8bcf2ed", "check")
    assert first == process_id("9e45a9970e42406eaac4ee55d8bcf2ed", "check")
    others = {ibm.ibm_process_id("9e45a9970e42406eaac4ee55d8bcf2ed", "record"), ibm.ibm_process_id("claim-42", "check")}
    assert first not in others and len(others) == 2
    assert first != ibm.ibm_task_id("9e45a9970e42406eaac4ee55d8bcf2ed", "check").strip("{}").replace("-", "")




async def test_case_folder_ids_normalise_to_case_ids() -> None:
    hexid = "9e45a9970e42406eaac4ee55d8bcf2ed"
    dashed = "9E45A997-0E42-406E-AAC4-EE55D8BCF2ED"
    for form in (dashed, "{" + dashed + "}", dashed.lower(), "{" + hexid + "}"):
        assert ibm.case_id_candidates(form)[0] == hexid
    assert ibm.case_id_candidates(hexid) == [hexid]
    # a GUID-looking chosen id is tried as it is after its normalised form
    assert ibm.case_id_candidates(dashed) == [hexid, dashed]
    assert ibm.case_id_candidates("claim-42") == ["claim-42"]
    assert ibm.case_id_candidates("{claim-42}") == [] and ibm.case_id_candidates("a/b") == []


async def test_ibm_times_are_utc_whole_seconds() -> None:
    from datetime import timedelta, timezone

    assert ibm.ibm_time(datetime(2010, 7, 16, 21, 50, 36, 987000, tzinfo=UTC)) == "2010-07-16T21:50:36Z"
    assert ibm.ibm_time(datetime(2010, 7, 16, 23, 50, 36, tzinfo=timezone(timedelta(hours=2)))) == "2010-07-16T21:50:36Z"


async def test_envelopes_go_by_the_longest_path_prefix() -> None:
    err = ApiError(404, "Not Found", "gone")
    assert render("/cases/x", err) is None
    assert render("/CaseManager/CASEREST/v1/x", err) is not None
    special = render("/CaseManager/CASEREST/v1/x", ApiError(422, "Unprocessable Content", "bad"))
    assert special is not None and special.status_code == 400

    def other(exc: ApiError):  # a deeper prefix wins over /CaseManager/
        return ibm.render_error(ApiError(418, "Teapot", exc.detail))

    register_envelope("/CaseManager/Other/", other)
    register_envelope("/CaseManager/Other/", other)  # twice is once
    try:
        assert render("/CaseManager/Other/x", err).status_code == 418
        assert render("/CaseManager/CASEREST/x", err).status_code == 404
    finally:
        from api.errors import ENVELOPES

        ENVELOPES.remove(("/CaseManager/Other/", other))
        assert ("/CaseManager/Other/", other) not in ENVELOPES
