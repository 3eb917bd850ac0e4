"""Every native endpoint over HTTP through the real app, with its error statuses."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import Gateway, user_id

pytestmark = pytest.mark.asyncio(loop_scope="session")
PROBLEM = "application/problem+json"


def task(case: dict, item: str) -> str:
    return f"{case['caseInstanceId']}.{item}"


def assert_problem(resp, status: int, *words: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status and body["title"]
    for word in words:
        assert word in body["detail"], body
    return body


async def start_with_team(gateway: Gateway, *members: str, **inputs: object) -> dict:
    """A review case started by author with `members` (usernames) on its case team."""
    body = {
        "definition": "review", "inputs": {"subject": "the plan", **inputs},
        "caseTeam": {"users": [{"userId": user_id(m)} for m in members]},
    }
    resp = await gateway.call("POST", "/cases", "author", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


# ------------------------------------------------------------------ authentication


async def test_requests_without_a_valid_token_get_401(gateway: Gateway) -> None:
    assert_problem(await gateway.call("GET", "/definitions"), 401)
    bogus = "eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl"
    resp = await gateway.call("GET", "/definitions", headers={"Authorization": f"Bearer {bogus}"})
    assert_problem(resp, 401)
    assert bogus not in resp.text
    assert resp.headers["www-authenticate"] == "Bearer"


async def test_token_endpoint_refuses_bad_passwords(gateway: Gateway) -> None:
    resp = await gateway.http.post("/oauth2/token", data={"grant_type": "password", "username": "rev1", "password": "wrong"})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert "wrong" not in resp.text


# ------------------------------------------------------------------ definitions

DEF = """
id: {id}
name: Tiny
roles: {{worker: {{groups: [reviewers]}}}}
plan:
  items:
    - {{id: only, type: humanTask, name: Only task, role: worker}}
"""


async def test_deploy_yaml_and_json_gets_next_versions(gateway: Gateway) -> None:
    def_id = f"tiny-{uuid.uuid4().hex[:6]}"
    r1 = await gateway.call("POST", "/definitions", "admin", content=DEF.format(id=def_id), headers={"Content-Type": "application/yaml"})
    assert r1.status_code == 201, r1.text
    assert r1.json() == {"id": def_id, "version": 1}
    changed = DEF.format(id=def_id).replace("Tiny", "Tiny two")
    r2 = await gateway.call("POST", "/definitions", "admin", content=changed, headers={"Content-Type": "application/yaml"})
    assert r2.json() == {"id": def_id, "version": 2}
    # the same document again is the same version, not a new one
    r3 = await gateway.call("POST", "/definitions", "admin", content=changed, headers={"Content-Type": "application/yaml"})
    assert r3.json() == {"id": def_id, "version": 2}
    as_json = {"id": def_id, "name": "Tiny three", "roles": {"worker": {}}, "plan": {"items": [{"id": "a", "type": "milestone", "name": "A"}]}}
    r4 = await gateway.call("POST", "/definitions", "admin", json=as_json)
    assert r4.json() == {"id": def_id, "version": 3}
    listed = (await gateway.call("GET", "/definitions", "rev1")).json()
    mine = [d for d in listed if d["id"] == def_id]
    assert mine == [{"id": def_id, "name": "Tiny three", "category": "", "description": "", "version": 3}]
    one = await gateway.call("GET", f"/definitions/{def_id}", "rev1")
    assert one.status_code == 200 and one.json()["name"] == "Tiny three" and one.json()["version"] == 3
    old = await gateway.call("GET", f"/definitions/{def_id}@1", "rev1")
    assert old.json()["name"] == "Tiny" and old.json()["version"] == 1


async def test_bad_definitions_are_refused_with_every_problem_named(gateway: Gateway) -> None:
    bad = """
id: broken
name: Broken
roles: {worker: {}}
plan:
  items:
    - {id: a, type: humanTask, name: A, role: nobody}
    - {id: b, type: milestone, name: B, entry: [{on: [aprove.complete]}]}
    - {id: c, type: milestone, name: C, entry: [{if: "x >"}]}
    - {id: a, type: milestone, name: Dup}
"""
    resp = await gateway.call("POST", "/definitions", "admin", content=bad, headers={"Content-Type": "application/yaml"})
    body = assert_problem(resp, 422)
    found = {(e["path"], e["message"].split(":")[0]) for e in body["errors"]}
    assert ("plan.items[0].role", "unknown role 'nobody'") in found
    assert ("plan.items[1].entry[0].on[0]", "no item 'aprove'") in found
    assert ("plan.items[2].entry[0].if", "bad CEL") in found
    assert ("plan.items[3].id", "duplicate item id 'a'") in found
    shape = await gateway.call("POST", "/definitions", "admin", json={"id": "x", "name": "X", "plan": {"items": [{"id": "a", "type": "robot", "name": "A"}]}})
    assert assert_problem(shape, 422)["errors"][0]["path"].startswith("plan.items[0]")
    garbage = await gateway.call("POST", "/definitions", "admin", content="id: [unclosed", headers={"Content-Type": "application/yaml"})
    assert_problem(garbage, 400, "line")


async def test_deploy_needs_permission_and_unknown_definitions_are_404(gateway: Gateway) -> None:
    resp = await gateway.call("POST", "/definitions", "rev1", content=DEF.format(id="nope"), headers={"Content-Type": "application/yaml"})
    assert_problem(resp, 403, "PM_FACTORY")
    assert_problem(await gateway.call("GET", "/definitions/no-such-thing", "rev1"), 404)


# ------------------------------------------------------------------ starting and reading cases


async def test_start_case_and_read_it(gateway: Gateway) -> None:
    started = await gateway.start(pages=3)
    assert started["name"] == "Review of the plan" and started["caseNumber"] >= 1
    resp = await gateway.call("GET", f"/cases/{started['caseInstanceId']}", "author")
    assert resp.status_code == 200
    case = resp.json()
    assert case["state"] == "Active" and case["definition"] == "review" and case["createdBy"] == user_id("author")
    assert case["file"] == {"subject": "the plan", "pages": 3}
    assert case["team"]["users"] == [{"userId": user_id("author"), "isOwner": True, "caseRoles": ["author"]}]
    items = {p["id"]: p for p in (await gateway.call("GET", f"/cases/{started['caseInstanceId']}/planitems", "author")).json()}
    assert items["review"]["currentState"] == "Active" and items["review"]["taskState"] == "Unassigned"
    assert items["review"]["dueDate"] is not None
    assert items["publish"]["currentState"] == "Available"


async def test_start_case_failures(gateway: Gateway) -> None:
    missing = await gateway.call("POST", "/cases", "author", json={"definition": "review", "inputs": {}})
    assert any(e["field"] == "inputs.subject" for e in assert_problem(missing, 422)["errors"])
    wrong_type = await gateway.call("POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": "s", "pages": "many"}})
    assert any(e["field"] == "inputs.pages" for e in assert_problem(wrong_type, 422)["errors"])
    assert_problem(await gateway.call("POST", "/cases", "author", json={"definition": "nope", "inputs": {}}), 422, "unknown definition")
    assert_problem(await gateway.call("POST", "/cases", "rev1", json={"definition": "review", "inputs": {"subject": "s"}}), 403)
    bad_team = {"definition": "review", "inputs": {"subject": "s"}, "caseTeam": {"users": [{"userId": "ghost", "caseRoles": []}]}}
    assert_problem(await gateway.call("POST", "/cases", "author", json=bad_team), 422, "ghost")
    bad_role = {"definition": "review", "inputs": {"subject": "s"}, "caseTeam": {"users": [{"userId": user_id("rev1"), "caseRoles": ["boss"]}]}}
    assert_problem(await gateway.call("POST", "/cases", "author", json=bad_role), 422)
    assert_problem(await gateway.call("POST", "/cases", "author", json={"inputs": {}}), 422)


async def test_case_ids_and_idempotent_starts(gateway: Gateway) -> None:
    case_id = f"case-{uuid.uuid4().hex[:8]}"
    body = {"definition": "review", "inputs": {"subject": "s"}, "caseInstanceId": case_id}
    first = await gateway.call("POST", "/cases", "author", json=body)
    assert first.status_code == 201 and first.json()["caseInstanceId"] == case_id
    assert_problem(await gateway.call("POST", "/cases", "author", json=body), 409)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"definition": "review", "inputs": {"subject": "s"}}
    a = await gateway.call("POST", "/cases", "author", json=body, headers=key)
    b = await gateway.call("POST", "/cases", "author", json=body, headers=key)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()


async def test_cases_are_invisible_to_outsiders(gateway: Gateway) -> None:
    case = await gateway.start()
    cid = case["caseInstanceId"]
    for path in ("", "/planitems", "/caseteam", "/casefile", "/history", "/discretionaryitems"):
        assert_problem(await gateway.call("GET", f"/cases/{cid}{path}", "outsider"), 404)
    assert_problem(await gateway.call("PUT", f"/tasks/{task(case, 'review')}/claim", "outsider"), 404)
    assert_problem(await gateway.call("GET", f"/cases/{uuid.uuid4().hex}", "author"), 404)
    assert_problem(await gateway.call("GET", "/tasks/no-dot-here", "author"), 404)
    # PM_ALLCASES sees every case
    assert (await gateway.call("GET", f"/cases/{cid}", "admin")).status_code == 200


# ------------------------------------------------------------------ the human-task workflow


async def test_claim_delegate_revoke_complete(gateway: Gateway) -> None:
    # rev2 is on the case team; rev1 is only in the reviewers' pool
    case = await start_with_team(gateway, "rev2")
    t = task(case, "review")
    claimed = await gateway.call("PUT", f"/tasks/{t}/claim", "rev1")
    assert claimed.status_code == 200
    assert claimed.json()["taskState"] == "Assigned" and claimed.json()["assignee"] == user_id("rev1")
    held = assert_problem(await gateway.call("PUT", f"/tasks/{t}/claim", "rev2"), 409, "held by someone else")
    assert held["reason"] == "held_by_other"  # a code a client may branch on
    assert_problem(await gateway.call("PUT", f"/tasks/{t}/claim", "author"), 403, "role")
    delegated = await gateway.call("PUT", f"/tasks/{t}/delegate", "rev1", json={"assignee": "rev2"})
    assert delegated.json()["taskState"] == "Delegated"
    assert delegated.json()["assignee"] == user_id("rev2") and delegated.json()["owner"] == user_id("rev1")
    assert_problem(await gateway.call("POST", f"/tasks/{t}/complete", "rev1", json={"verdict": "accept"}), 403, "only the user who holds task 'review' may complete it")
    back = await gateway.call("PUT", f"/tasks/{t}/revoke", "rev2")
    assert back.json()["taskState"] == "Assigned" and back.json()["assignee"] == user_id("rev1")
    pooled = await gateway.call("PUT", f"/tasks/{t}/revoke", "rev1")
    assert pooled.json()["taskState"] == "Unassigned" and pooled.json()["assignee"] is None
    # having given the task back, rev1 neither holds it nor is on the team: the case does
    # not exist for her (the task is only offered to her again)
    assert_problem(await gateway.call("PUT", f"/tasks/{t}/revoke", "rev1"), 404)
    assert assert_problem(await gateway.call("PUT", f"/tasks/{t}/revoke", "rev2"), 409)["reason"] == "not_held"
    await gateway.call("PUT", f"/tasks/{t}/claim", "rev2")
    missing = await gateway.call("POST", f"/tasks/{t}/complete", "rev2", json={"score": 3})
    assert any(e["field"] == "output.verdict" for e in assert_problem(missing, 422)["errors"])
    done = await gateway.call("POST", f"/tasks/{t}/complete", "rev2", json={"verdict": "accept", "score": 4})
    assert done.status_code == 200 and done.json()["taskState"] == "Completed"
    again = assert_problem(await gateway.call("POST", f"/tasks/{t}/complete", "rev2", json={"verdict": "accept"}), 409, "completed")
    assert again["reason"] == "task_not_active"
    # the route: publish goes to the starter by EVALUATE SYS_STARTER
    publish = (await gateway.call("GET", f"/tasks/{task(case, 'publish')}", "author")).json()
    assert publish["taskState"] == "Assigned" and publish["assignee"] == user_id("author")
    await gateway.call("POST", f"/tasks/{task(case, 'publish')}/complete", "author", json={})
    final = (await gateway.call("GET", f"/cases/{case['caseInstanceId']}", "author")).json()
    assert final["state"] == "Completed" and final["file"]["verdict"] == "accept"
    # a closed case refuses actions with 409, and stays readable; its engine still says why
    # (its workflow has ended: the gateway asks its `refusal` query)
    closed = assert_problem(await gateway.call("PUT", f"/cases/{case['caseInstanceId']}/casefile", "author", json={"x": 1}), 409, "completed")
    assert closed["reason"] == "case_closed"
    # and to a caller who may not see it, it does not exist
    assert_problem(await gateway.call("PUT", f"/cases/{case['caseInstanceId']}/casefile", "outsider", json={"x": 1}), 404)


async def test_assign_by_owner_or_planner_only(gateway: Gateway) -> None:
    # lead (the planning role) and rev1 are on the case team
    case = await start_with_team(gateway, "lead", "rev1")
    t = task(case, "review")
    assert_problem(await gateway.call("PUT", f"/tasks/{t}/assign", "rev1", json={"assignee": "rev2"}), 403)
    # a holder of the reviewer role outside the team: the case does not exist for him
    assert_problem(await gateway.call("PUT", f"/tasks/{t}/assign", "rev2", json={"assignee": "rev1"}), 404)
    by_lead = await gateway.call("PUT", f"/tasks/{t}/assign", "lead", json={"assignee": "rev2"})
    assert by_lead.json()["assignee"] == user_id("rev2")
    by_owner = await gateway.call("PUT", f"/tasks/{t}/assign", "author", json={"assignee": "rev1"})
    assert by_owner.json()["assignee"] == user_id("rev1")
    assert_problem(await gateway.call("PUT", f"/tasks/{t}/assign", "author", json={"assignee": "ghost"}), 422, "ghost")
    assert_problem(await gateway.call("PUT", f"/tasks/{t}/assign", "author", json={}), 422)


async def test_save_and_validate(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    t = task(case, "review")
    assert_problem(await gateway.call("PUT", f"/tasks/{t}", "rev1", json={"score": 2}), 409)  # not claimed yet
    await gateway.call("PUT", f"/tasks/{t}/claim", "rev1")
    saved = await gateway.call("PUT", f"/tasks/{t}", "rev1", json={"score": 2})
    assert saved.status_code == 200 and saved.json()["output"] == {"score": 2} and saved.json()["taskState"] == "Assigned"
    assert_problem(await gateway.call("PUT", f"/tasks/{t}", "rev1", json={"score": "two"}), 422)
    check = await gateway.call("POST", f"/tasks/{t}/validate", "rev1", json={})
    assert check.json()["valid"] is False and check.json()["errors"][0]["field"] == "output.verdict"
    ok = await gateway.call("POST", f"/tasks/{t}/validate", "rev1", json={"verdict": "reject"})
    assert ok.json() == {"valid": True, "errors": []}
    # validating did not complete, and the draft survived
    still = (await gateway.call("GET", f"/tasks/{t}", "rev1")).json()
    assert still["taskState"] == "Assigned" and still["output"] == {"score": 2}


async def test_same_idempotency_key_has_one_effect_and_one_answer(gateway: Gateway) -> None:
    case = await gateway.start()
    t = task(case, "review")
    await gateway.call("PUT", f"/tasks/{t}/claim", "rev1")
    key = {"Idempotency-Key": f"complete-{uuid.uuid4().hex}"}
    a = await gateway.call("POST", f"/tasks/{t}/complete", "rev1", json={"verdict": "reject"}, headers=key)
    b = await gateway.call("POST", f"/tasks/{t}/complete", "rev1", json={"verdict": "reject"}, headers=key)
    assert a.status_code == b.status_code == 200 and a.json() == b.json()
    history = (await gateway.call("GET", f"/cases/{case['caseInstanceId']}/history", "author")).json()
    assert sum(1 for h in history if h["action"] == "complete" and h["planItemId"] == "review") == 1


# ------------------------------------------------------------------ plan items, planning, team, file


async def test_plan_item_transitions(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    assert_problem(await gateway.call("POST", f"/cases/{cid}/planitems/withdraw/occur", "rev1"), 403)
    assert_problem(await gateway.call("POST", f"/cases/{cid}/planitems/withdraw/explode", "author"), 400)
    assert_problem(await gateway.call("POST", f"/cases/{cid}/planitems/withdraw/start", "author"), 409)
    assert_problem(await gateway.call("POST", f"/cases/{cid}/planitems/nothing/occur", "author"), 404)
    suspended = await gateway.call("POST", f"/cases/{cid}/planitems/review/suspend", "author")
    assert suspended.json()["currentState"] == "Suspended" and suspended.json()["taskState"] == "Suspended"
    assert_problem(await gateway.call("PUT", f"/tasks/{task(case, 'review')}/claim", "rev1"), 409, "suspended")
    resumed = await gateway.call("POST", f"/cases/{cid}/planitems/review/resume", "author")
    assert resumed.json()["currentState"] == "Active" and resumed.json()["taskState"] == "Unassigned"
    occurred = await gateway.call("POST", f"/cases/{cid}/planitems/withdraw/occur", "author")
    assert occurred.status_code == 200 and occurred.json()["currentState"] == "Completed"
    ended = await gateway.call("POST", f"/cases/{cid}/planitems/casePlan/terminate", "author")
    assert ended.json()["currentState"] == "Terminated"
    assert (await gateway.call("GET", f"/cases/{cid}", "author")).json()["state"] == "Terminated"


async def test_discretionary_planning(gateway: Gateway) -> None:
    # lead (the planning role) and rev1 are on the case team
    case = await start_with_team(gateway, "lead", "rev1")
    cid = case["caseInstanceId"]
    listed = (await gateway.call("GET", f"/cases/{cid}/discretionaryitems", "lead")).json()
    assert listed["caseInstanceId"] == cid and listed["name"] == "Review of the plan"
    assert listed["discretionaryItems"] == [
        {"name": "Second look", "definitionId": "second-look", "type": "humanTask", "parentName": "Review document", "parentType": "humanTask", "parentId": "review"}
    ]
    assert (await gateway.call("GET", f"/cases/{cid}/discretionaryitems", "rev1")).json()["discretionaryItems"] == []
    body = {"name": "Second look", "definitionId": "second-look", "parentId": "review"}
    assert_problem(await gateway.call("POST", f"/cases/{cid}/discretionaryitems/plan", "rev1", json=body), 403)
    planned = await gateway.call("POST", f"/cases/{cid}/discretionaryitems/plan", "lead", json=body)
    assert planned.status_code == 200
    item_id = planned.json()["planItemId"]
    items = {p["id"]: p for p in (await gateway.call("GET", f"/cases/{cid}/planitems", "lead")).json()}
    assert items[item_id]["currentState"] == "Active" and items[item_id]["isDiscretionary"]
    again = await gateway.call("POST", f"/cases/{cid}/discretionaryitems/plan", "lead", json=body)
    assert again.json()["planItemId"] != item_id
    assert_problem(await gateway.call("POST", f"/cases/{cid}/discretionaryitems/plan", "lead", json={"definitionId": "nope"}), 404)


async def test_case_team(gateway: Gateway) -> None:
    case = await gateway.start()
    cid = case["caseInstanceId"]
    member = {"userId": user_id("author2"), "isOwner": False, "caseRoles": ["author"]}
    # a holder of the reviewer role outside the team: the case does not exist for her
    assert_problem(await gateway.call("POST", f"/cases/{cid}/caseteam/users", "rev1", json=member), 404)
    added = await gateway.call("POST", f"/cases/{cid}/caseteam/users", "author", json=member)
    assert member in added.json()["users"]
    # a member who is not an owner may not change the team
    other = {"userId": user_id("rev1"), "isOwner": False, "caseRoles": []}
    assert_problem(await gateway.call("POST", f"/cases/{cid}/caseteam/users", "author2", json=other), 403)
    assert_problem(await gateway.call("POST", f"/cases/{cid}/caseteam/users", "author", json={**member, "caseRoles": ["boss"]}), 422)
    assert_problem(await gateway.call("POST", f"/cases/{cid}/caseteam/users", "author", json={**member, "userId": "ghost"}), 422)
    assert_problem(await gateway.call("DELETE", f"/cases/{cid}/caseteam/users/{user_id('author')}", "author"), 409, "owner")
    removed = await gateway.call("DELETE", f"/cases/{cid}/caseteam/users/{user_id('author2')}", "author")
    assert member not in removed.json()["users"]
    assert_problem(await gateway.call("DELETE", f"/cases/{cid}/caseteam/users/{user_id('author2')}", "author"), 404)
    team = (await gateway.call("GET", f"/cases/{cid}/caseteam", "author")).json()
    assert [u["userId"] for u in team["users"]] == [user_id("author")]


async def test_case_file_and_history(gateway: Gateway) -> None:
    case = await start_with_team(gateway, "rev1")
    cid = case["caseInstanceId"]
    merged = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"notes": "n", "pages": 9})
    assert merged.json() == {"subject": "the plan", "notes": "n", "pages": 9}
    assert (await gateway.call("GET", f"/cases/{cid}/casefile", "rev1")).json() == merged.json()
    assert_problem(await gateway.call("PUT", f"/cases/{cid}/casefile", "author", content="[1,2]", headers={"Content-Type": "application/json"}), 422)
    history = (await gateway.call("GET", f"/cases/{cid}/history", "author")).json()
    actions = [h["action"] for h in history]
    assert actions[:2] == ["create", "start"] and "casefile" in actions
    assert all({"at", "user", "action", "planItemId", "detail"} <= set(h) for h in history)


async def test_tasks_of_a_case(gateway: Gateway) -> None:
    case = await gateway.start()
    tasks = (await gateway.call("GET", f"/tasks/case/{case['caseInstanceId']}", "rev1")).json()
    assert [t["taskName"] for t in tasks] == ["Review document"]
    assert tasks[0]["id"] == task(case, "review") and tasks[0]["input"] == {"subject": "the plan"}
    assert tasks[0]["role"] == "reviewer" and tasks[0]["caseName"] == "Review of the plan"


async def test_openapi_is_typed(gateway: Gateway) -> None:
    spec = (await gateway.http.get("/openapi.json")).json()
    for path in ("/cases", "/cases/{caseId}", "/tasks/{taskId}/claim", "/cases/{caseId}/discretionaryitems/plan", "/oauth2/token"):
        assert path in spec["paths"]
    assert {"CaseView", "TaskView", "PlanItemView", "StartCaseBody"} <= set(spec["components"]["schemas"])
    assert (await gateway.http.get("/docs")).status_code == 200


async def test_no_error_body_echoes_a_token(gateway: Gateway) -> None:
    """Runs last in this module: every error response the tests above provoked."""
    assert gateway.error_bodies, "the tests above provoked errors"
    for body in gateway.error_bodies:
        for token in gateway.tokens.values():
            assert token not in body
            assert token.split(".")[2] not in body
        assert "Bearer" not in body
