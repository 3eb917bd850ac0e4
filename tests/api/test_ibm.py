"""The IBM Case Manager face (seed 002): the list of task instances of a case, over HTTP
through the real app and a real Temporal dev server, with its error envelope."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from api import ibm
from api.errors import ApiError, register_envelope, render
from tests.api.conftest import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="session")

BASE = "/CaseManager/CASEREST/v1/case"
ROD = {"TargetObjectStore": "CASEWORK", "Grouping": "ROD"}
IBM_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
BRACED_GUID = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")
FIELDS = {
    "RequiredState", "TaskState", "DisabledState", "LaunchMode", "DateCreated", "TaskId", "TaskName",
    "DateLastModified", "IsHidden", "IsContainer", "ProcessInstanceId", "LastRestartDate", "RestartCount", "RosterName",
}


async def task_list(gateway: Gateway, folder_id: str, username: str | None = "author", params: dict | None = None) -> httpx.Response:
    return await gateway.call("GET", f"{BASE}/{folder_id}/tasks", username, params=ROD if params is None else params)


def assert_ibm_error(resp: httpx.Response, status: int, *words: str) -> dict:
    """IBM's error envelope: UserMessage {UniqueId, Text, Severity} and UnderlyingDetails."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"UserMessage", "UnderlyingDetails"}, body
    message = body["UserMessage"]
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
        if name != "Sub-case":
            assert t["ProcessInstanceId"] == ibm_case  # tasks run in the case's own workflow
    assert len({t["TaskId"] for t in tasks.values()}) == len(tasks)
    # the same plan item keeps its TaskId from one call to the next
    again = by_name((await task_list(gateway, ibm_case)).json())
    assert {n: t["TaskId"] for n, t in again.items()} == {n: t["TaskId"] for n, t in tasks.items()}
    # restarts: the failed process task was reactivated once (and failed again)
    sync = tasks["Sync ledger"]
    assert sync["RestartCount"] == "1" and IBM_TIME.match(sync["LastRestartDate"])
    assert sync["LastRestartDate"] >= sync["DateCreated"]
    assert sync["FailureReason"].startswith("trigger could not be evaluated")
    assert tasks["Check papers"]["RestartCount"] == "0" and tasks["Check papers"]["LastRestartDate"] is None
    assert tasks["Droppable"]["FailureReason"] == "The task was terminated by a user."


async def test_a_case_task_names_its_sub_case_and_empty_groups_are_left_out(gateway: Gateway, ibm_case: str) -> None:
    sub = by_name((await task_list(gateway, ibm_case)).json())["Sub-case"]
    child_id = sub["ProcessInstanceId"]
    assert child_id == f"{ibm_case}-sub"
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
    assert work["TaskName"] == "Sub work" and work["RosterName"] == "ibm-child" and work["ProcessInstanceId"] == child_id
    # rev1 may claim Sub work, but the task list shows the whole case, which is not hers
    assert_ibm_error(await task_list(gateway, child_id, "rev1"), 404)


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
        assert resp.json()["Optional"][0]["ProcessInstanceId"] == chosen


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


# ------------------------------------------------------------------ the pieces, without a server


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
