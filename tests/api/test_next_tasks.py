"""The next task in the answer: a start and a completion answer the tasks they made available
to the caller (offered to them or assigned to them), through sentries, stages, parallel
branches and sub-cases, so a front end opens the next form without polling a list."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import Gateway, user_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

PARENT = """
id: {id}
name: Next steps
startedBy: [reviewers]
roles:
  worker: {{groups: [reviewers]}}
  lead: {{users: [lead]}}
plan:
  autoComplete: false
  items:
    - {{id: first, type: humanTask, name: First, role: worker}}
    - id: branches
      type: stage
      name: Branches
      entry: [{{on: [first.complete]}}]
      items:
        - {{id: left, type: humanTask, name: Left, role: worker}}
        - {{id: right, type: humanTask, name: Right, role: worker}}
    - {{id: leads, type: humanTask, name: For the lead, role: lead, entry: [{{on: [first.complete]}}]}}
    - {{id: sub, type: caseTask, name: Sub-case, definition: {child}, entry: [{{on: [first.complete]}}]}}
    - {{id: mine, type: humanTask, name: Back to the starter, role: worker,
        assignment: {{rule: EVALUATE, variable: SYS_STARTER}}, entry: [{{on: [left.complete]}}]}}
"""
CHILD = """
id: {id}
name: Next steps child
roles:
  worker: {{groups: [reviewers]}}
plan:
  items:
    - {{id: work, type: humanTask, name: Sub work, role: worker}}
"""


async def deploy(gateway: Gateway) -> str:
    suffix = uuid.uuid4().hex[:6]
    child, parent = f"next-child-{suffix}", f"next-{suffix}"
    for text in (CHILD.format(id=child), PARENT.format(id=parent, child=child)):
        resp = await gateway.call("POST", "/definitions", "admin", content=text, headers={"Content-Type": "application/yaml"})
        assert resp.status_code == 201, resp.text
    return parent


def names(tasks: list[dict]) -> list[tuple[str, str]]:
    return sorted((t["caseInstanceId"], t["planItemId"]) for t in tasks)


async def test_start_and_completion_answer_the_tasks_they_made_available(gateway: Gateway) -> None:
    definition = await deploy(gateway)
    started = await gateway.call("POST", "/cases", "rev1", json={"definition": definition})
    assert started.status_code == 201, started.text
    cid = started.json()["caseInstanceId"]
    # the first task is in rev1's pool: offered at once
    assert names(started.json()["nextTasks"]) == [(cid, "first")]
    assert started.json()["nextTasks"][0]["definitionId"] == "first"

    first = f"{cid}.first"
    assert (await gateway.call("PUT", f"/tasks/{first}/claim", "rev1")).status_code == 200
    done = await gateway.call("POST", f"/tasks/{first}/complete", "rev1", json={})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["planItemId"] == "first" and body["taskState"] == "Completed"
    # the stage's parallel branches and the sub-case's task; not the lead's task
    assert names(body["nextTasks"]) == sorted([(cid, "left"), (cid, "right"), (f"{cid}-sub", "work")])
    for t in body["nextTasks"]:
        assert t["assignee"] is None and t["taskState"] == "Unassigned"

    # what the answer named is what the case shows
    for t in body["nextTasks"]:
        read = await gateway.call("GET", f"/tasks/{t['id']}", "rev1")
        assert read.status_code == 200 and read.json()["taskState"] == t["taskState"], read.text

    # completing `left` makes `mine` available: assigned to rev1 (the starter) by its rule
    left = f"{cid}.left"
    assert (await gateway.call("PUT", f"/tasks/{left}/claim", "rev1")).status_code == 200
    after_left = (await gateway.call("POST", f"/tasks/{left}/complete", "rev1", json={})).json()
    assert names(after_left["nextTasks"]) == [(cid, "mine")]
    assert after_left["nextTasks"][0]["assignee"] == user_id("rev1")

    # a task that opened nothing new answers none (`right` was already available before)
    right = f"{cid}.right"
    assert (await gateway.call("PUT", f"/tasks/{right}/claim", "rev1")).status_code == 200
    assert (await gateway.call("POST", f"/tasks/{right}/complete", "rev1", json={})).json()["nextTasks"] == []


async def test_next_tasks_are_only_the_callers(gateway: Gateway) -> None:
    definition = await deploy(gateway)
    cid = (await gateway.call("POST", "/cases", "rev2", json={"definition": definition})).json()["caseInstanceId"]
    for item in ("first", "left"):
        assert (await gateway.call("PUT", f"/tasks/{cid}.{item}/claim", "rev1")).status_code == 200
        done = await gateway.call("POST", f"/tasks/{cid}.{item}/complete", "rev1", json={})
        assert done.status_code == 200, done.text
    # completing `left` opened `mine`, assigned to the starter (rev2): not rev1's to do
    assert done.json()["nextTasks"] == []
    tasks = {t["planItemId"]: t for t in (await gateway.call("GET", f"/tasks/case/{cid}", "rev2")).json()}
    assert tasks["mine"]["assignee"] == user_id("rev2") and tasks["mine"]["taskState"] == "Assigned"


async def test_a_retried_completion_answers_the_same_next_tasks(gateway: Gateway) -> None:
    definition = await deploy(gateway)
    cid = (await gateway.call("POST", "/cases", "rev1", json={"definition": definition})).json()["caseInstanceId"]
    first = f"{cid}.first"
    assert (await gateway.call("PUT", f"/tasks/{first}/claim", "rev1")).status_code == 200
    key = {"Idempotency-Key": uuid.uuid4().hex}
    one = await gateway.call("POST", f"/tasks/{first}/complete", "rev1", json={}, headers=key)
    two = await gateway.call("POST", f"/tasks/{first}/complete", "rev1", json={}, headers=key)
    assert one.status_code == two.status_code == 200
    assert names(two.json()["nextTasks"]) == names(one.json()["nextTasks"]) != []
