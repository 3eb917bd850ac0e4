"""The access model as a table (README "Who may do what"), through the real gateway: every
endpoint of the three faces that names a case or a task, and every list, against every kind
of caller, and every endpoint against bad credentials.

A caller who may not see a case must get exactly the answer a case that does not exist gets
(status and body, the id aside), every list must leave the case out, and a refused action
must leave the case as it was.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.api.conftest import USERS, Gateway, user_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

PM = "/api/1.0/workflow"
IBM_QUERY = "TargetObjectStore=CASEWORK&Grouping=ROD"
SECRET = "s3cret-budget-7731"  # in the case file only: no answer to a caller who may not see the case holds it

DEFINITION = """
id: access-matrix
name: Access matrix
title: "Matter {subject}"
roles:
  owner: {}
  reviewer: {groups: [reviewers]}
  lead: {users: [lead]}
startedBy: [authors]
starterRole: owner
supervisors: [pmsuper]
inputs:
  subject: {type: string, required: true}
  secret: {type: string}
triggers:
  stamp: {set: {stamped: "true"}}
plan:
  autoComplete: false
  items:
    - id: review
      type: humanTask
      name: Review
      role: reviewer
      plannableBy: [lead]
      input: {subject: "subject"}
      output: {verdict: {type: string}}
    - id: extra
      type: humanTask
      name: Extra
      role: reviewer
      discretionary: true
    - id: withdraw
      type: userEvent
      name: Withdraw
"""

# The kinds of caller (README), as the test directory's users, for a case `author` starts
# with `author2` in its team. rev1 and rev2 hold the reviewer role through their group.
OUTSIDER, POOL, TEAM, HOLDER, DELEGATE, OWNER, SUPERVISOR, ALLCASES = (
    "outsider", "rev2", "author2", "rev1", "rev2", "author", "pmsuper", "admin",
)
SEERS = [TEAM, OWNER, SUPERVISOR, ALLCASES]


@dataclass
class Case:
    id: str
    token: str  # Casework-Consistency of its latest change

    @property
    def task(self) -> str:
        return f"{self.id}.review"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def deployed(gateway: Gateway) -> Gateway:
    resp = await gateway.call("POST", "/definitions", "admin", content=DEFINITION, headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 201, resp.text
    return gateway


def _consistency(resp: Any) -> str:
    return resp.headers.get("Casework-Consistency", "")


async def new_case(gw: Gateway, state: str = "offered") -> Case:
    """`offered`: review unassigned; `held`: rev1 claimed it; `delegated`: rev1 delegated it to
    rev2; `paused`: rev1 holds it and paused the case."""
    body = {
        "definition": "access-matrix", "inputs": {"subject": f"m-{uuid.uuid4().hex[:8]}", "secret": SECRET},
        "caseTeam": {"users": [{"userId": user_id(TEAM), "caseRoles": []}]},
    }
    resp = await gw.call("POST", "/cases", OWNER, json=body)
    assert resp.status_code == 201, resp.text
    case = Case(resp.json()["caseInstanceId"], _consistency(resp))
    if state in ("held", "delegated", "paused"):
        case.token = await act(gw, "PUT", f"/tasks/{case.task}/claim", HOLDER)
    if state == "delegated":
        case.token = await act(gw, "PUT", f"/tasks/{case.task}/delegate", HOLDER, json={"assignee": user_id(DELEGATE)})
    if state == "paused":
        case.token = await act(gw, "PUT", f"{PM}/cases/{case.id}/pause", HOLDER)
    return case


async def act(gw: Gateway, method: str, path: str, who: str, **kw: Any) -> str:
    resp = await gw.call(method, path, who, **kw)
    assert resp.status_code in (200, 201, 204), f"{method} {path} as {who}: {resp.status_code} {resp.text}"
    return _consistency(resp)


def _shape(resp: Any, case_id: str) -> tuple[int, str]:
    return resp.status_code, resp.text.replace(case_id, "<case>")


async def assert_like_missing(gw: Gateway, method: str, path: str, who: str, case: Case, **kw: Any) -> None:
    """The answer is the one a case that does not exist gets, and tells nothing of the case."""
    missing = uuid.uuid4().hex
    got = await gw.call(method, path.format(c=case.id, t=case.task), who, **kw)
    ref = await gw.call(method, path.format(c=missing, t=f"{missing}.review"), who, **kw)
    assert got.status_code >= 400, f"{method} {path} as {who}: {got.status_code} {got.text}"
    assert _shape(got, case.id) == _shape(ref, missing), f"{method} {path} as {who} differs from a missing case"
    assert SECRET not in got.text


async def version(gw: Gateway, case: Case) -> int:
    resp = await gw.call("GET", f"/cases/{case.id}", OWNER)
    assert resp.status_code == 200, resp.text
    return resp.json()["caseVersion"]


# ------------------------------------------------------------------ reads of one case

CASE_READS = [
    "/cases/{c}", "/cases/{c}/planitems", "/cases/{c}/discretionaryitems", "/cases/{c}/caseteam",
    "/cases/{c}/casefile", "/cases/{c}/history",
    f"{PM}/cases/{{c}}", f"{PM}/cases/{{c}}/current-task", f"{PM}/cases/{{c}}/tasks", f"{PM}/cases/{{c}}/variables",
    f"/CaseManager/CASEREST/v1/case/{{c}}/tasks?{IBM_QUERY}",
]
TASK_READS = ["/tasks/case/{c}", "/tasks/{t}"]


@pytest.mark.parametrize("who", SEERS + [HOLDER])
async def test_who_sees_the_case_reads_all_of_it(deployed: Gateway, who: str) -> None:
    case = await new_case(deployed, "held")
    for path in CASE_READS + TASK_READS:
        resp = await deployed.call("GET", path.format(c=case.id, t=case.task), who)
        assert resp.status_code == 200, f"{path} as {who}: {resp.status_code} {resp.text}"
    file = (await deployed.call("GET", f"/cases/{case.id}/casefile", who)).json()
    assert file["secret"] == SECRET


@pytest.mark.parametrize("state", ["offered", "held"])
async def test_an_outsider_gets_what_a_missing_case_gets(deployed: Gateway, state: str) -> None:
    case = await new_case(deployed, state)
    for path in CASE_READS + TASK_READS:
        await assert_like_missing(deployed, "GET", path, OUTSIDER, case)


async def test_a_pool_member_sees_the_offered_task_and_nothing_else(deployed: Gateway) -> None:
    case = await new_case(deployed, "offered")
    for path in CASE_READS:
        await assert_like_missing(deployed, "GET", path, POOL, case)
    one = await deployed.call("GET", f"/tasks/{case.task}", POOL)
    assert one.status_code == 200, one.text
    task = one.json()
    assert task["taskState"] == "Unassigned" and task["input"] == {"subject": task["input"]["subject"]}
    of_case = await deployed.call("GET", f"/tasks/case/{case.id}", POOL)
    assert [t["planItemId"] for t in of_case.json()] == ["review"]
    assert SECRET not in one.text and SECRET not in of_case.text


async def test_a_pool_member_loses_the_task_once_another_holds_it(deployed: Gateway) -> None:
    """rev2 is in the pool, but rev1 claimed the task: it is offered to nobody now."""
    case = await new_case(deployed, "held")
    for path in CASE_READS + TASK_READS:
        await assert_like_missing(deployed, "GET", path, POOL, case)


async def test_the_delegate_and_the_delegator_see_the_case(deployed: Gateway) -> None:
    case = await new_case(deployed, "delegated")
    for who in (HOLDER, DELEGATE):
        for path in CASE_READS + TASK_READS:
            resp = await deployed.call("GET", path.format(c=case.id, t=case.task), who)
            assert resp.status_code == 200, f"{path} as {who}: {resp.status_code} {resp.text}"


# ------------------------------------------------------------------ lists

CASE_LISTS = ["/cases", f"{PM}/cases", f"{PM}/cases/draft", f"{PM}/cases/participated", f"{PM}/cases/paused"]


async def _listed(gw: Gateway, path: str, who: str, case: Case) -> bool:
    resp = await gw.call("GET", path, who, headers={"Casework-Consistency": case.token})
    assert resp.status_code == 200, f"{path} as {who}: {resp.text}"
    assert resp.headers.get("Casework-Consistency-Status", "reached") == "reached"
    return case.id in resp.text


@pytest.mark.parametrize("who", [OUTSIDER, POOL])
async def test_lists_leave_out_a_case_its_reader_may_not_see(deployed: Gateway, who: str) -> None:
    case = await new_case(deployed, "offered")
    for path in CASE_LISTS + [f"{PM}/cases/advanced-search?search=Matter"]:
        assert not await _listed(deployed, path, who, case), f"{path} shows the case to {who}"
    tasks = await deployed.call("GET", "/tasks", who, headers={"Casework-Consistency": case.token})
    unassigned = await deployed.call("GET", f"{PM}/cases/unassigned", who, headers={"Casework-Consistency": case.token})
    # the pool member is offered the task: it is in their task list and their unassigned list
    assert (case.task in tasks.text) == (who == POOL)
    assert (case.id in unassigned.text) == (who == POOL)
    assert SECRET not in tasks.text and SECRET not in unassigned.text
    # once someone holds it, it leaves the pool member's lists too
    case.token = await act(deployed, "PUT", f"/tasks/{case.task}/claim", HOLDER)
    tasks = await deployed.call("GET", "/tasks", who, headers={"Casework-Consistency": case.token})
    unassigned = await deployed.call("GET", f"{PM}/cases/unassigned", who, headers={"Casework-Consistency": case.token})
    assert case.task not in tasks.text and case.id not in unassigned.text


@pytest.mark.parametrize("who", [TEAM, OWNER, SUPERVISOR, ALLCASES, HOLDER])
async def test_the_native_case_list_shows_the_case_to_those_who_see_it(deployed: Gateway, who: str) -> None:
    case = await new_case(deployed, "held")
    assert await _listed(deployed, "/cases", who, case)


# ------------------------------------------------------------------ actions

@dataclass(frozen=True)
class Action:
    name: str
    method: str
    path: str
    state: str  # the case's state before the action
    allowed: tuple[str, ...]  # kinds who may
    forbidden: tuple[str, ...]  # kinds who see the case and are refused (403 or 409)
    body: Any = None
    deletes: bool = False  # an allowed call removes the case

    def kw(self) -> dict[str, Any]:
        return {} if self.body is None else {"json": self.body}


ASSIGNEE = {"assignee": user_id("rev2")}
ACTIONS = [
    # native
    Action("claim", "PUT", "/tasks/{t}/claim", "offered", (POOL,), (TEAM, OWNER, SUPERVISOR, ALLCASES)),
    Action("assign", "PUT", "/tasks/{t}/assign", "offered", (OWNER, SUPERVISOR), (TEAM, ALLCASES), ASSIGNEE),
    Action("revoke", "PUT", "/tasks/{t}/revoke", "held", (HOLDER,), (TEAM, OWNER, SUPERVISOR, ALLCASES)),
    Action("delegate", "PUT", "/tasks/{t}/delegate", "held", (HOLDER,), (TEAM, OWNER, SUPERVISOR, ALLCASES), ASSIGNEE),
    Action("save", "PUT", "/tasks/{t}", "held", (HOLDER,), (TEAM, OWNER, SUPERVISOR, ALLCASES), {"verdict": "draft"}),
    Action("complete", "POST", "/tasks/{t}/complete", "held", (HOLDER,), (TEAM, OWNER, SUPERVISOR, ALLCASES), {"verdict": "ok"}),
    Action("complete as delegate", "POST", "/tasks/{t}/complete", "delegated", (DELEGATE,), (HOLDER, TEAM, OWNER), {"verdict": "ok"}),
    Action("plan", "POST", "/cases/{c}/discretionaryitems/plan", "offered", (TEAM, OWNER, SUPERVISOR), (ALLCASES,), {"definitionId": "extra"}),
    Action("raise an event", "POST", "/cases/{c}/planitems/withdraw/occur", "offered", (TEAM, OWNER, SUPERVISOR), (ALLCASES,)),
    Action("change the file", "PUT", "/cases/{c}/casefile", "offered", (TEAM, OWNER, SUPERVISOR), (ALLCASES,), {"note": "x"}),
    Action("change the file as holder", "PUT", "/cases/{c}/casefile", "held", (HOLDER,), (ALLCASES,), {"note": "x"}),
    Action("change the team", "POST", "/cases/{c}/caseteam/users", "offered", (OWNER, SUPERVISOR), (TEAM, ALLCASES),
           {"userId": user_id("lead"), "caseRoles": []}),
    # ProcessMaker
    Action("PM claim", "PUT", f"{PM}/cases/{{c}}/claim", "offered", (POOL,), (TEAM, OWNER, SUPERVISOR, ALLCASES)),
    Action("PM route-case", "PUT", f"{PM}/cases/{{c}}/route-case", "held", (HOLDER,), (TEAM, OWNER, SUPERVISOR, ALLCASES)),
    Action("PM variables", "PUT", f"{PM}/cases/{{c}}/variable", "held", (HOLDER, TEAM, OWNER, SUPERVISOR), (ALLCASES,), {"note": "x"}),
    # ProcessMaker: only the user assigned to the case
    Action("PM execute-trigger", "PUT", f"{PM}/cases/{{c}}/execute-trigger/stamp", "held", (HOLDER,), (TEAM, OWNER, SUPERVISOR, ALLCASES)),
    Action("PM pause", "PUT", f"{PM}/cases/{{c}}/pause", "held", (HOLDER, SUPERVISOR), (TEAM, OWNER, ALLCASES)),
    Action("PM cancel", "PUT", f"{PM}/cases/{{c}}/cancel", "held", (HOLDER, "pmadmin"), (TEAM, OWNER, SUPERVISOR, ALLCASES)),
    Action("PM unpause", "PUT", f"{PM}/cases/{{c}}/unpause", "paused", (HOLDER, SUPERVISOR), (TEAM, OWNER, ALLCASES)),
    # by permission: PM_REASSIGNCASE anywhere, PM_REASSIGNCASE_SUPERVISOR where one supervises
    Action("PM reassign", "PUT", f"{PM}/cases/{{c}}/reassign-case", "held", ("pmadmin", SUPERVISOR), (TEAM, OWNER, ALLCASES, HOLDER),
           {"usr_uid_source": user_id(HOLDER), "usr_uid_target": user_id("rev2")}),
    # a draft in its first task: its assignee, or PM_DELETECASE
    Action("PM delete", "DELETE", f"{PM}/cases/{{c}}", "held", (HOLDER, "pmadmin"), (TEAM, OWNER, SUPERVISOR, ALLCASES), deletes=True),
]


def _rows() -> list[Any]:
    rows = []
    for a in ACTIONS:
        for who in a.allowed:
            rows.append(pytest.param(a, who, "allowed", id=f"{a.name}-{who}-allowed"))
        for who in a.forbidden:
            rows.append(pytest.param(a, who, "refused", id=f"{a.name}-{who}-refused"))
        unseen = [OUTSIDER] + ([POOL] if a.state != "delegated" and POOL not in a.allowed else [])
        for who in unseen:
            rows.append(pytest.param(a, who, "missing", id=f"{a.name}-{who}-missing"))
    return rows


@pytest.mark.parametrize("action,who,outcome", _rows())
async def test_action_matrix(deployed: Gateway, action: Action, who: str, outcome: str) -> None:
    case = await new_case(deployed, action.state)
    before = await version(deployed, case)
    path = action.path.format(c=case.id, t=case.task)
    if outcome == "missing":
        await assert_like_missing(deployed, action.method, action.path, who, case, **action.kw())
        assert await version(deployed, case) == before, "a refused action changed the case"
        return
    resp = await deployed.call(action.method, path, who, **action.kw())
    if outcome == "allowed":
        assert resp.status_code in (200, 201, 204), f"{action.name} as {who}: {resp.status_code} {resp.text}"
        if action.deletes:
            assert (await deployed.call("GET", f"/cases/{case.id}", OWNER)).status_code == 404
        else:
            assert await version(deployed, case) > before
        return
    assert resp.status_code in (403, 409), f"{action.name} as {who}: {resp.status_code} {resp.text}"
    assert await version(deployed, case) == before, "a refused action changed the case"
    # a refusal names nobody: no other user's id or name
    others = [u for u in USERS if u != who]
    assert not any(user_id(u) in resp.text for u in others), resp.text
    assert SECRET not in resp.text


@pytest.mark.parametrize("who,status", [(OWNER, 201), (TEAM, 201), (POOL, 403), (SUPERVISOR, 403), (ALLCASES, 403), (OUTSIDER, 403)])
async def test_who_may_start_a_case(deployed: Gateway, who: str, status: int) -> None:
    """`startedBy: [authors]`: author and author2; nobody else, whatever else they may do."""
    resp = await deployed.call("POST", "/cases", who, json={"definition": "access-matrix", "inputs": {"subject": "s"}})
    assert resp.status_code == status, resp.text
    pm = await deployed.call("GET", f"{PM}/case/start-cases", who)
    assert pm.status_code == 200 and ("Access matrix" in pm.text) == (status == 201), pm.text


@pytest.mark.parametrize("who", [u for u in USERS if u != "admin"])
async def test_only_the_definition_author_deploys(deployed: Gateway, who: str) -> None:
    resp = await deployed.call("POST", "/definitions", who, content=DEFINITION, headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 403 and "PM_FACTORY" in resp.text, resp.text


# ------------------------------------------------------------------ credentials

ENDPOINTS = [("GET", p) for p in CASE_READS + TASK_READS] + [(a.method, a.path) for a in ACTIONS] + [
    ("GET", "/cases"), ("GET", "/tasks"), ("GET", "/tasks/user/count"), ("GET", "/definitions"),
    ("POST", "/definitions"), ("POST", "/cases"), ("GET", f"{PM}/cases"), ("GET", f"{PM}/cases/unassigned"),
    ("GET", f"{PM}/case/start-cases"), ("POST", f"{PM}/cases"), ("DELETE", f"{PM}/cases/{{c}}"),
    ("GET", f"{PM}/cases/advanced-search/paged"),
]


def _bad_tokens(gw: Gateway) -> dict[str, str]:
    app = gw.http._transport.app  # type: ignore[attr-defined]
    key = app.state.tokens._private_key
    now = int(time.time())
    claims = {"iss": "casework", "sub": user_id(OWNER), "preferred_username": OWNER, "iat": now - 7200, "exp": now - 3600}
    fresh = {**claims, "iat": now, "exp": now + 600}
    return {
        "malformed": "not.a.token",
        "expired": jwt.encode(claims, key, algorithm="EdDSA"),
        "other key": jwt.encode(fresh, Ed25519PrivateKey.generate(), algorithm="EdDSA"),
        "alg none": jwt.encode(fresh, None, algorithm="none"),
        "a refresh token's shape": jwt.encode({**fresh, "typ": "refresh"}, key, algorithm="EdDSA"),
    }


async def test_bad_credentials_are_refused_everywhere(deployed: Gateway) -> None:
    case = await new_case(deployed, "held")
    before = await version(deployed, case)
    bad = _bad_tokens(deployed)
    for method, path in ENDPOINTS:
        url = path.format(c=case.id, t=case.task)
        for label, headers in [("no token", {})] + [(k, {"Authorization": f"Bearer {v}"}) for k, v in bad.items()]:
            resp = await deployed.http.request(method, url, headers=headers, json={})
            assert resp.status_code == 401, f"{method} {path} with {label}: {resp.status_code} {resp.text}"
            assert case.id not in resp.text and SECRET not in resp.text
            for token in bad.values():
                assert token not in resp.text, "an error echoed a token"
    assert await version(deployed, case) == before
