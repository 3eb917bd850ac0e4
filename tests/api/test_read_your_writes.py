"""Read your writes through two gateways (DESIGN: the read model from recorded state only).

An action answers once Temporal recorded it, with the case version as `ETag` and a token in
`Casework-Consistency`; lists take the token back and wait, bounded, for the read model to
reach it. Two gateway apps share one worker, one read model and one Temporal server, as two
replicas behind a load balancer do. A gateway that "died" between an action's update and
its write is played by sending the update straight to Temporal: only the case's own
projection activity then writes the change.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api import consistency
from api.app import create_app
from tests.api.conftest import USERS, Gateway, gateway_settings, user_id
from worker import build_worker
from workflows.case import AUDIT_TAIL, GATEWAY_GRACE, ActionRequest, ActionResult, AuditTail, CaseWorkflow
from workflows.public import Actor, Claim, Revoke

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Pair:
    a: Gateway
    b: Gateway
    impatient: Gateway  # a third replica whose lists wait only briefly
    temporal: Any


async def _tokens(http: httpx.AsyncClient) -> dict[str, str]:
    out = {}
    for name in USERS:
        resp = await http.post("/oauth2/token", data={"grant_type": "password", "username": name, "password": f"{name}-pw"})
        assert resp.status_code == 200, resp.text
        out[name] = resp.json()["access_token"]
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["sqlite", "postgresql"])
async def pair(request: pytest.FixtureRequest, temporal_env: WorkflowEnvironment, tmp_path_factory: Any) -> AsyncIterator[Pair]:
    settings = gateway_settings(request, temporal_env, tmp_path_factory.mktemp("replicas"), "replicas", consistency_wait_seconds=15.0)
    apps = [create_app(settings), create_app(settings), create_app(settings.model_copy(update={"consistency_wait_seconds": 0.2}))]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]), apps[2].router.lifespan_context(apps[2]):
        async with build_worker(temporal_env.client, settings, apps[0].state.service.db):
            clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") for app in apps]
            try:
                gateways = [Gateway(c, await _tokens(c)) for c in clients]
                yield Pair(*gateways, temporal=temporal_env.client)
            finally:
                for c in clients:
                    await c.aclose()


def version_of(resp: httpx.Response) -> int:
    return int(resp.headers["etag"].strip('"'))


async def listed(gw: Gateway, user: str, case_id: str, token: str | None = None) -> tuple[httpx.Response, list[dict]]:
    headers = {consistency.HEADER: token} if token else {}
    resp = await gw.call("GET", "/tasks", user, params={"numberOfResults": 1000}, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp, [t for t in resp.json() if t["caseInstanceId"] == case_id]


async def direct_claim(pair: Pair, case_id: str, who: str, revoke: bool = False) -> ActionResult:
    """The update a gateway sends, sent by a gateway that then dies before writing."""
    actor = Actor(user_id=user_id(who), username=who, groups=list(USERS[who][0]), permissions=list(USERS[who][1]))
    cmd = (Revoke if revoke else Claim)(actor=actor, item_id="review")
    return await pair.temporal.get_workflow_handle(case_id).execute_update(
        CaseWorkflow.act, ActionRequest(command=cmd), id=uuid.uuid4().hex, result_type=ActionResult
    )


async def test_an_action_answers_with_its_version_and_a_token(pair: Pair) -> None:
    case = await pair.a.start()
    cid = case["caseInstanceId"]
    claim = await pair.a.call("PUT", f"/tasks/{cid}.review/claim", "rev1")
    assert claim.status_code == 200, claim.text
    token = claim.headers[consistency.HEADER]
    assert consistency.decode(token) == {cid: version_of(claim)}
    revoke = await pair.a.call("PUT", f"/tasks/{cid}.review/revoke", "rev1")
    assert version_of(revoke) == version_of(claim) + 1
    # a refusal changes nothing and names no version: the owner revokes a task nobody holds
    refused = await pair.a.call("PUT", f"/tasks/{cid}.review/revoke", "author")
    assert refused.status_code in (403, 409) and "etag" not in refused.headers
    # nor does the 404 of a reviewer outside the team, for whom the case does not exist
    unseen = await pair.a.call("PUT", f"/tasks/{cid}.review/revoke", "rev2")
    assert unseen.status_code == 404 and "etag" not in unseen.headers


async def test_a_list_through_another_gateway_waits_for_the_token(pair: Pair) -> None:
    case = await pair.a.start()
    cid = case["caseInstanceId"]
    # gateway "a" died after the update: nobody but the case itself writes this claim
    claimed = await direct_claim(pair, cid, "rev1")
    token = consistency.encode({cid: claimed.caseVersion})
    _, before = await listed(pair.b, "rev1", cid)
    assert [t["taskState"] for t in before] == ["Unassigned"]  # without the token: what the read model has
    started = time.monotonic()
    resp, after = await listed(pair.b, "rev1", cid, token)
    assert resp.headers[consistency.STATUS_HEADER] == consistency.REACHED
    assert [(t["taskState"], t["assignee"]) for t in after] == [("Assigned", user_id("rev1"))]
    # it waited for the case's own projection, which leaves gateways a grace period first
    assert time.monotonic() - started >= GATEWAY_GRACE.total_seconds() / 2


async def test_a_list_that_cannot_wait_longer_says_it_is_behind(pair: Pair) -> None:
    case = await pair.a.start()
    cid = case["caseInstanceId"]
    claimed = await direct_claim(pair, cid, "rev1")
    resp, rows = await listed(pair.impatient, "rev1", cid, consistency.encode({cid: claimed.caseVersion}))
    assert resp.headers[consistency.STATUS_HEADER] == consistency.BEHIND
    assert [t["taskState"] for t in rows] == ["Unassigned"]


async def test_a_gateway_remembers_what_it_could_not_write(pair: Pair) -> None:
    case = await pair.a.start()
    cid = case["caseInstanceId"]
    await direct_claim(pair, cid, "rev1")  # not written by any gateway yet
    # rev1 revokes through "b": its change builds on the unwritten claim, so "b" cannot
    # write it (a gap) and remembers the version for rev1
    revoked = await pair.b.call("PUT", f"/tasks/{cid}.review/revoke", "rev1")
    assert revoked.status_code == 200, revoked.text
    resp, rows = await listed(pair.b, "rev1", cid)  # no token sent
    assert resp.headers[consistency.STATUS_HEADER] == consistency.REACHED
    assert [t["taskState"] for t in rows] == ["Unassigned"]
    stored = await pair.b.call("GET", f"/tasks/{cid}.review", "rev1")
    assert rows[0] == stored.json()


async def test_an_action_through_one_gateway_is_listed_by_the_other_at_once(pair: Pair) -> None:
    case = await pair.a.start()
    cid = case["caseInstanceId"]
    # the case is listed when its start answers, through either gateway
    resp, rows = await listed(pair.b, "rev2", cid)
    assert [t["taskState"] for t in rows] == ["Unassigned"]
    claim = await pair.a.call("PUT", f"/tasks/{cid}.review/claim", "rev2")
    resp, rows = await listed(pair.b, "rev2", cid, claim.headers[consistency.HEADER])
    assert resp.headers[consistency.STATUS_HEADER] == consistency.REACHED
    assert [t["taskState"] for t in rows] == ["Assigned"]


async def test_a_listed_task_and_the_same_task_read_from_its_case_agree(pair: Pair) -> None:
    case = await pair.a.start()
    cid = case["caseInstanceId"]
    await pair.a.call("PUT", f"/tasks/{cid}.review/claim", "rev1")
    saved = await pair.a.call("PUT", f"/tasks/{cid}.review", "rev1", json={"verdict": "draft", "score": 2})
    # through another gateway, with the token of the action (as behind a load balancer)
    _, rows = await listed(pair.b, "rev1", cid, saved.headers[consistency.HEADER])
    one = (await pair.b.call("GET", f"/tasks/{cid}.review", "rev1")).json()
    of_case = (await pair.a.call("GET", f"/tasks/case/{cid}", "rev1")).json()
    assert rows == [one] == of_case


async def test_a_retried_case_file_change_gets_its_first_answer(pair: Pair) -> None:
    case = await pair.a.start()
    cid = case["caseInstanceId"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await pair.a.call("PUT", f"/cases/{cid}/casefile", "author", json={"a": 1}, headers=key)
    assert first.status_code == 200 and first.json()["a"] == 1
    later = await pair.b.call("PUT", f"/cases/{cid}/casefile", "author", json={"b": 2})
    assert later.json()["b"] == 2
    again = await pair.b.call("PUT", f"/cases/{cid}/casefile", "author", json={"a": 1}, headers=key)
    assert again.status_code == 200 and again.json() == first.json() and "b" not in again.json()
    assert again.headers["etag"] == first.headers["etag"]
    # team changes likewise
    member = {"userId": user_id("rev2"), "isOwner": False, "caseRoles": ["reviewer"]}
    added = await pair.a.call("POST", f"/cases/{cid}/caseteam/users", "author", json=member, headers={"Idempotency-Key": "team-1" + cid})
    await pair.a.call("DELETE", f"/cases/{cid}/caseteam/users/{user_id('rev2')}", "author")
    retried = await pair.b.call("POST", f"/cases/{cid}/caseteam/users", "author", json=member, headers={"Idempotency-Key": "team-1" + cid})
    assert retried.json() == added.json() and any(u["userId"] == user_id("rev2") for u in retried.json()["users"])


async def test_a_mangled_token_is_ignored(pair: Pair) -> None:
    resp = await pair.a.call("GET", "/tasks", "rev1", headers={consistency.HEADER: "not a token!, ###"})
    assert resp.status_code == 200 and resp.headers[consistency.STATUS_HEADER] == consistency.REACHED


async def test_the_audit_trail_is_complete_in_pages_while_the_case_keeps_a_short_tail(pair: Pair) -> None:
    case = await pair.a.start()
    cid = case["caseInstanceId"]
    n = AUDIT_TAIL + 60
    for i in range(n):
        r = await (pair.a if i % 2 else pair.b).call("PUT", f"/cases/{cid}/casefile", "author", json={f"k{i}": i})
        assert r.status_code == 200, r.text
    handle = pair.temporal.get_workflow_handle(cid)
    author = Actor(user_id=user_id("author"), username="author", groups=["authors"], permissions=["PM_CASES"])
    # once the case's own projection has confirmed them, the workflow drops older entries
    for _ in range(100):
        tail = await handle.query(CaseWorkflow.audit_tail, author, result_type=AuditTail)
        if tail.first_seq > 0:
            break
        await asyncio.sleep(0.2)
    assert tail.first_seq > 0 and len(tail.entries) <= AUDIT_TAIL
    whole = (await pair.b.call("GET", f"/cases/{cid}/history", "author")).json()
    merges = [h["detail"] for h in whole if h["action"] == "casefile"]
    assert merges == [f"changed: k{i}" for i in range(n)]  # every one, once, in order
    assert len(whole) == tail.first_seq + len(tail.entries)
    assert all(h["event"] is not None for h in whole)
    paged = []
    for offset in range(0, len(whole), 37):
        page = await pair.a.call("GET", f"/cases/{cid}/history", "author", params={"offset": offset, "numberOfResults": 37})
        paged += page.json()
    assert paged == whole
    assert (await pair.a.call("GET", f"/cases/{cid}/history", "outsider")).status_code == 404
    assert (await pair.a.call("GET", f"/cases/{cid}/history", "author", params={"numberOfResults": 0})).status_code == 422
