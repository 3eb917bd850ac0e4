"""The native lists (`GET /cases`, `GET /tasks`, `GET /tasks/user/count`) from the read model,
through the real app: who sees what, filters, sorting and paging, and that a list shows an
action as soon as the action has answered.

The gateway fixture is shared by the session, so every test deploys a definition of its own
and filters by it (or counts differences) instead of assuming an empty read model."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import Gateway, user_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEF = """
id: {id}
name: Lists {id}
title: "{{subject}}"
roles:
  worker: {{groups: [reviewers]}}
  approver: {{users: [lead]}}
inputs: {{subject: {{type: string, required: true}}}}
plan:
  items:
    - {{id: work, type: humanTask, name: Do the work, role: worker, due: PT1H}}
    - id: approve
      type: humanTask
      name: Approve it
      role: approver
      entry: [{{on: [work.complete]}}]
"""


async def deploy(gw: Gateway) -> str:
    def_id = f"lists-{uuid.uuid4().hex[:8]}"
    resp = await gw.call("POST", "/definitions", "admin", content=DEF.format(id=def_id), headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 201, resp.text
    return def_id


async def start(gw: Gateway, def_id: str, subject: str, username: str = "author", team: tuple[str, ...] = ()) -> dict:
    body = {"definition": def_id, "inputs": {"subject": subject}, "caseTeam": {"users": [{"userId": user_id(u)} for u in team]}}
    resp = await gw.call("POST", "/cases", username, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def cases_of(gw: Gateway, username: str, def_id: str, **params: object) -> list[dict]:
    resp = await gw.call("GET", "/cases", username, params={"definition": def_id, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def tasks_of(gw: Gateway, username: str, **params: object) -> list[dict]:
    resp = await gw.call("GET", "/tasks", username, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def put(gw: Gateway, path: str, username: str, **kw: object) -> dict:
    resp = await gw.call("PUT" if "complete" not in path else "POST", path, username, **kw)
    assert resp.status_code == 200, resp.text
    return resp.json()


# ------------------------------------------------------------------ GET /cases


async def test_a_new_case_is_listed_as_soon_as_its_start_answers(gateway: Gateway) -> None:
    def_id = await deploy(gateway)
    case = await start(gateway, def_id, "fresh")
    listed = await cases_of(gateway, "author", def_id)
    assert [c["id"] for c in listed] == [case["caseInstanceId"]]
    row = listed[0]
    assert row["caseNumber"] == case["caseNumber"] and row["name"] == "fresh"
    assert row["definition"] == def_id and row["state"] == "Active" and row["createdBy"] == user_id("author")


async def test_cases_are_listed_only_for_those_who_belong_to_them(gateway: Gateway) -> None:
    def_id = await deploy(gateway)
    case = await start(gateway, def_id, "private", team=("lead",))
    cid = case["caseInstanceId"]
    ids = lambda rows: [c["id"] for c in rows]  # noqa: E731
    assert ids(await cases_of(gateway, "author", def_id)) == [cid]  # the starter, an owner
    assert ids(await cases_of(gateway, "lead", def_id)) == [cid]  # on the case team
    assert ids(await cases_of(gateway, "admin", def_id)) == [cid]  # PM_ALLCASES
    # holding a role of the definition (here through the group reviewers) is not belonging
    # to the case: its task is offered to them, the case is not listed
    assert await cases_of(gateway, "rev1", def_id) == []
    assert await cases_of(gateway, "rev2", def_id) == []
    assert await cases_of(gateway, "outsider", def_id) == []
    # once rev1 holds its task, the case is hers too
    await put(gateway, f"/tasks/{cid}.work/claim", "rev1")
    assert ids(await cases_of(gateway, "rev1", def_id)) == [cid]
    assert await cases_of(gateway, "rev2", def_id) == []


async def test_cases_filter_by_state_and_sort_and_page(gateway: Gateway) -> None:
    def_id = await deploy(gateway)
    started = [await start(gateway, def_id, f"case {i}") for i in range(5)]
    numbers = [c["caseNumber"] for c in started]
    newest_first = await cases_of(gateway, "author", def_id)
    assert [c["caseNumber"] for c in newest_first] == sorted(numbers, reverse=True)
    pages = [
        await cases_of(gateway, "author", def_id, sortBy="caseNumber", sortOrder="asc", offset=o, numberOfResults=2)
        for o in (0, 2, 4)
    ]
    assert [c["caseNumber"] for p in pages for c in p] == sorted(numbers)
    by_name = await cases_of(gateway, "author", def_id, sortBy="name", sortOrder="ASC")
    assert [c["name"] for c in by_name] == [f"case {i}" for i in range(5)]
    assert await cases_of(gateway, "author", def_id, state="Completed") == []
    assert len(await cases_of(gateway, "author", def_id, state="Active")) == 5


async def test_cases_refuse_an_unknown_sort_naming_the_allowed_ones(gateway: Gateway) -> None:
    resp = await gateway.call("GET", "/cases", "author", params={"sortBy": "password"})
    assert resp.status_code == 400
    detail = resp.json()["detail"]
    for allowed in ("caseNumber", "name", "createdOn", "lastModified", "state", "definition"):
        assert allowed in detail
    for bad in ({"sortOrder": "sideways"}, {"numberOfResults": 0}, {"offset": -1}, {"state": "Sleeping"}):
        assert (await gateway.call("GET", "/cases", "author", params=bad)).status_code == 422, bad


# ------------------------------------------------------------------ GET /tasks


async def test_tasks_are_listed_for_role_holders_and_owners_only(gateway: Gateway) -> None:
    def_id = await deploy(gateway)
    case = await start(gateway, def_id, f"visible {def_id}")
    mine = lambda rows: [t for t in rows if t["caseInstanceId"] == case["caseInstanceId"]]  # noqa: E731
    for who in ("rev1", "rev2", "author"):  # the pool (group reviewers) and the owner
        seen = mine(await tasks_of(gateway, who, caseName=f"visible {def_id}"))
        assert [t["taskName"] for t in seen] == ["Do the work"], who
    # lead holds a role of the case, but not this task's role
    assert mine(await tasks_of(gateway, "lead", caseName=f"visible {def_id}")) == []
    assert mine(await tasks_of(gateway, "outsider", caseName=f"visible {def_id}")) == []
    task = mine(await tasks_of(gateway, "rev1", caseName=f"visible {def_id}"))[0]
    assert task["id"] == f"{case['caseInstanceId']}.work" and task["taskState"] == "Unassigned"
    assert task["role"] == "worker" and task["assignee"] is None and task["delIndex"] == 1
    assert task["dueDate"] is not None and task["overdue"] is False


async def test_an_action_shows_in_the_lists_as_soon_as_it_answers(gateway: Gateway) -> None:
    def_id = await deploy(gateway)
    case = await start(gateway, def_id, f"act {def_id}")
    tid = f"{case['caseInstanceId']}.work"
    await put(gateway, f"/tasks/{tid}/claim", "rev2")
    held = await tasks_of(gateway, "rev2", assignee=user_id("rev2"), taskState="Assigned", caseName=f"act {def_id}")
    assert [t["id"] for t in held] == [tid]
    await put(gateway, f"/tasks/{tid}/complete", "rev2", json={})
    done = await tasks_of(gateway, "author", caseName=f"act {def_id}", sortBy="createdOn", sortOrder="asc")
    assert [(t["taskName"], t["taskState"]) for t in done] == [("Do the work", "Completed"), ("Approve it", "Unassigned")]
    # the next task belongs to lead's role: lead sees it now, rev2 still sees only the one they did
    assert [t["taskName"] for t in await tasks_of(gateway, "lead", caseName=f"act {def_id}")] == ["Approve it"]
    assert [t["taskName"] for t in await tasks_of(gateway, "rev2", caseName=f"act {def_id}")] == ["Do the work"]


async def test_tasks_filter_by_due_date_and_name_and_sort(gateway: Gateway) -> None:
    def_id = await deploy(gateway)
    subjects = [f"due {def_id} {i}" for i in range(3)]
    for s in subjects:
        await start(gateway, def_id, s)
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for s in subjects:
        assert len(await tasks_of(gateway, "rev1", caseName=s, dueBefore=soon)) == 1
        assert await tasks_of(gateway, "rev1", caseName=s, dueBefore=past) == []
        assert len(await tasks_of(gateway, "rev1", caseName=s, dueAfter=past, taskName="Do the work")) == 1
        assert await tasks_of(gateway, "rev1", caseName=s, taskName="Approve it") == []
    resp = await gateway.call("GET", "/tasks", "rev1", params={"dueBefore": "2026-01-01T00:00:00"})
    assert resp.status_code == 400 and "time zone" in resp.json()["detail"]
    resp = await gateway.call("GET", "/tasks", "rev1", params={"sortBy": "secret"})
    assert resp.status_code == 400
    for allowed in ("createdOn", "dueDate", "taskName", "caseName", "taskState"):
        assert allowed in resp.json()["detail"]


async def test_user_task_counts_follow_claims(gateway: Gateway) -> None:
    async def counts(who: str) -> dict:
        resp = await gateway.call("GET", "/tasks/user/count", who)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def_id = await deploy(gateway)
    before_rev1, before_rev2 = await counts("rev1"), await counts("rev2")
    case = await start(gateway, def_id, "count me")
    after_start = await counts("rev1")
    assert after_start == {"claimed": before_rev1["claimed"], "unclaimed": before_rev1["unclaimed"] + 1}
    await put(gateway, f"/tasks/{case['caseInstanceId']}.work/claim", "rev1")
    assert await counts("rev1") == {"claimed": before_rev1["claimed"] + 1, "unclaimed": before_rev1["unclaimed"]}
    # rev2 could have claimed it; now no longer
    assert await counts("rev2") == before_rev2
    assert (await gateway.call("GET", "/tasks/user/count")).status_code == 401


async def test_lists_match_the_cases_after_concurrent_actions(gateway: Gateway) -> None:
    """Many users act at once on many cases; afterwards every list row equals what the case
    itself says (its workflow query is the truth)."""
    def_id = await deploy(gateway)
    # both reviewers are on every case's team, so the one who loses a claim is told it is held
    cases = [await start(gateway, def_id, f"race {def_id} {i}", team=("rev1", "rev2")) for i in range(8)]

    async def work(i: int, case: dict) -> None:
        tid = f"{case['caseInstanceId']}.work"
        who = ("rev1", "rev2")[i % 2]
        # both reviewers race for every task: exactly one claim wins
        results = await asyncio.gather(*(gateway.call("PUT", f"/tasks/{tid}/claim", u) for u in ("rev1", "rev2")))
        assert sorted(r.status_code for r in results) == [200, 409]
        winner = "rev1" if results[0].status_code == 200 else "rev2"
        if i % 3:
            resp = await gateway.call("POST", f"/tasks/{tid}/complete", winner, json={})
            assert resp.status_code == 200, resp.text
        elif who == winner:
            assert (await gateway.call("PUT", f"/tasks/{tid}/revoke", winner)).status_code == 200

    await asyncio.gather(*(work(i, c) for i, c in enumerate(cases)))
    listed = {t["id"]: t for t in await tasks_of(gateway, "author", numberOfResults=1000) if t["caseInstanceId"] in {c["caseInstanceId"] for c in cases}}
    truth: dict[str, dict] = {}
    for c in cases:
        resp = await gateway.call("GET", f"/tasks/case/{c['caseInstanceId']}", "author")
        truth.update({t["id"]: t for t in resp.json()})
    assert set(listed) == set(truth)
    for tid, t in truth.items():
        for key in ("taskState", "assignee", "owner", "taskName", "caseName", "delIndex"):
            assert listed[tid][key] == t[key], (tid, key)
