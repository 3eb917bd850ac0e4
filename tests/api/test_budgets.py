"""No request can wedge a case: every mutation that carries data is refused with a clear 413
naming the limit before anything changes, bodies larger than any case may hold are refused
at the gateway (never passed to Temporal), and definitions that could not run are refused at
deploy, each refusal naming its path. The case goes on after every refusal."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from settings import Settings
from tests.api.conftest import Gateway
from tests.api.test_pm_cases import WS

pytestmark = pytest.mark.asyncio(loop_scope="session")

BUDGET = Settings().max_case_bytes


def blob(n: int) -> str:
    return "x" * n


def assert_413(resp: Any, *names: str) -> str:
    assert resp.status_code == 413, resp.text[:500]
    text = resp.text
    assert "CASEWORK_MAX_CASE_BYTES" in text or "at most" in text
    for name in names:
        assert name in text
    assert len(text) < 2000, "the refusal does not echo the body"
    return text


async def case_file(gw: Gateway, cid: str) -> dict:
    resp = await gw.call("GET", f"/cases/{cid}/casefile", "author")
    assert resp.status_code == 200
    return resp.json()


async def test_a_body_larger_than_any_case_is_refused_at_the_gateway(gateway: Gateway) -> None:
    cid = (await gateway.start())["caseInstanceId"]
    before = await case_file(gateway, cid)
    for size in (BUDGET + 50_000, 2_500_000, 4_500_000):  # 4.5 MB used to answer 429 for ever
        assert_413(await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"big": blob(size)}), str(BUDGET + 16_000))
    # without Content-Length: counted as it arrives
    async def chunks():
        yield b'{"big": "'
        for _ in range(70):
            yield b"y" * 10_000
        yield b'"}'
    streamed = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", content=chunks(), headers={"Content-Type": "application/json"})
    assert_413(streamed)
    assert await case_file(gateway, cid) == before
    ok = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"small": 1})
    assert ok.status_code == 200 and ok.json()["small"] == 1


async def test_a_case_file_grows_to_its_budget_and_no_further(gateway: Gateway) -> None:
    cid = (await gateway.start())["caseInstanceId"]
    accepted = 0
    refusal = None
    for i in range(12):
        resp = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={f"part{i}": blob(60_000)},
                                  headers={"Idempotency-Key": f"grow-{cid}-{i}"})
        if resp.status_code == 413:
            refusal = resp
            break
        assert resp.status_code == 200, resp.text[:300]
        accepted += 1
    assert refusal is not None and 5 <= accepted < 12, accepted
    assert_413(refusal, str(BUDGET))
    assert refusal.json()["status"] == 413 and refusal.json()["errors"][0]["field"] == "body"
    # nothing of the refused change is in the case, which goes on
    file = await case_file(gateway, cid)
    assert sorted(k for k in file if k.startswith("part")) == [f"part{i}" for i in range(accepted)]
    claim = await gateway.call("PUT", f"/tasks/{cid}.review/claim", "rev1")
    assert claim.status_code == 200
    # the refusal is kept for its key: a retry is refused again, not applied
    again = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={f"part{accepted}": blob(60_000)},
                               headers={"Idempotency-Key": f"grow-{cid}-{accepted}"})
    assert again.status_code == 413
    # a change that does not grow the case still goes through: a smaller value
    shrink = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"part0": "small"})
    assert shrink.status_code == 200
    done = await gateway.call("POST", f"/tasks/{cid}.review/complete", "rev1", json={"verdict": "reject"})
    assert done.status_code == 200 and done.json()["taskState"] == "Completed"


async def test_task_drafts_outputs_and_start_inputs_have_the_same_budget(gateway: Gateway) -> None:
    cid = (await gateway.start())["caseInstanceId"]
    await gateway.call("PUT", f"/tasks/{cid}.review/claim", "rev1")
    near = BUDGET  # under the gateway's body limit (the budget and an envelope), over what the case can take
    assert_413(await gateway.call("PUT", f"/tasks/{cid}.review", "rev1", json={"verdict": blob(near)}), str(BUDGET))
    assert_413(await gateway.call("POST", f"/tasks/{cid}.review/complete", "rev1", json={"verdict": blob(near)}), str(BUDGET))
    task = (await gateway.call("GET", f"/tasks/{cid}.review", "rev1")).json()
    assert task["taskState"] == "Assigned" and task["output"] == {}
    assert_413(await gateway.call("POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": blob(near + 10_000)}}), str(BUDGET))
    assert_413(await gateway.call("POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": blob(BUDGET + 20_000)}}))


async def test_processmaker_variables_are_refused_in_its_envelope(gateway: Gateway) -> None:
    cid = (await gateway.start())["caseInstanceId"]
    resp = await gateway.call("PUT", f"{WS}/cases/{cid}/variable", "author", json={"big": blob(BUDGET)})
    assert resp.status_code == 413, resp.text[:300]
    body = resp.json()
    assert body["error"]["code"] == 413 and str(BUDGET) in body["error"]["message"]
    huge = await gateway.call("PUT", f"{WS}/cases/{cid}/variable", "author", json={"big": blob(3_000_000)})
    assert huge.status_code == 413 and huge.json()["error"]["code"] == 413


def _definition(items: list[dict], **extra: Any) -> dict:
    return {"id": f"budget-{uuid.uuid4().hex[:8]}", "name": "Budget", "roles": {"r": {"groups": ["reviewers"]}},
            "plan": {"items": items}, **extra}


async def test_definitions_that_could_not_run_are_refused_at_deploy(gateway: Gateway) -> None:
    many = [{"id": f"t{i}", "type": "humanTask", "name": f"Task {i}", "role": "r"} for i in range(2500)]
    resp = await gateway.call("POST", "/definitions", "admin", json=_definition(many))
    assert resp.status_code == 422 and "at most 500" in resp.text
    assert any(e["path"] == "plan" for e in resp.json()["errors"])
    nested = "[0,1,2,3,4,5,6,7,8,9]"
    bomb = f"{nested}.map(a,{nested}.map(b,{nested}.map(c,{nested}.map(d,{nested}.map(e,{nested}.map(f,a+b+c+d+e+f))))))"
    resp = await gateway.call("POST", "/definitions", "admin", json=_definition(
        [{"id": "p", "type": "processTask", "name": "P", "trigger": "boom"}], triggers={"boom": {"set": {"x": bomb}}}))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"] == [{"path": "triggers.boom.set.x", "message": "comprehensions (map, filter, all, exists, exists_one) nested 6 deep; at most 1"}]
    long_if = " || ".join(["x == 1"] * 300)
    resp = await gateway.call("POST", "/definitions", "admin", json=_definition(
        [{"id": "t", "type": "humanTask", "name": "T", "role": "r", "if": long_if}]))
    assert resp.status_code == 422 and resp.json()["errors"][0]["path"] == "plan.items[0].if"
    # one level of comprehension is fine
    ok = await gateway.call("POST", "/definitions", "admin", json=_definition(
        [{"id": "t", "type": "humanTask", "name": "T", "role": "r", "if": "[1, 2].all(v, v > 0)"}]))
    assert ok.status_code == 201, ok.text
    assert_413(await gateway.call("POST", "/definitions", "admin", content=b"x" * 1_100_000, headers={"Content-Type": "application/yaml"}))


async def test_an_expression_over_its_budget_fails_its_step_and_no_case_waits_for_it(gateway: Gateway) -> None:
    # A trigger that maps over a list the case holds: run on 6,000 numbers, the library would
    # copy its result 6,000 times (seconds of a worker's time inside one workflow task).
    definition = _definition(
        [{"id": "double", "type": "processTask", "name": "Double", "trigger": "double"},
         {"id": "check", "type": "humanTask", "name": "Check", "role": "author",
          "assignment": {"rule": "EVALUATE", "variable": "SYS_STARTER"}, "output": {"ok": {"type": "boolean"}}}],
        roles={"author": {}}, starterRole="author", startedBy=["authors"],
        inputs={"xs": {"type": "array"}}, triggers={"double": {"set": {"doubled": "xs.map(a, a * 2)"}}},
    )
    definition["plan"]["autoComplete"] = False
    deployed = await gateway.call("POST", "/definitions", "admin", json=definition)
    assert deployed.status_code == 201, deployed.text
    bomb = await gateway.call("POST", "/cases", "author", json={"definition": definition["id"], "inputs": {"xs": list(range(6000))}})
    assert bomb.status_code == 201, bomb.text
    cid = bomb.json()["caseInstanceId"]
    items = {i["id"]: i for i in (await gateway.call("GET", f"/cases/{cid}/planitems", "author")).json()}
    assert items["double"]["currentState"] == "Failed", items["double"]
    history = (await gateway.call("GET", f"/cases/{cid}/history", "author")).json()
    (fault,) = [h for h in history if h["planItemId"] == "double" and h["action"] == "fault"]
    assert "over its budget" in fault["detail"] and "at most 3,000,000" in fault["detail"]
    assert "doubled" not in await case_file(gateway, cid)
    # the case goes on: its task completes; and another case of the same worker starts and acts
    done = await gateway.call("POST", f"/tasks/{cid}.check/complete", "author", json={"ok": True})
    assert done.status_code == 200, done.text
    other = await gateway.start()
    assert other["caseInstanceId"] != cid
    # on a short list the same definition computes its value
    short = await gateway.call("POST", "/cases", "author", json={"definition": definition["id"], "inputs": {"xs": [1, 2, 3]}})
    assert short.status_code == 201
    assert (await case_file(gateway, short.json()["caseInstanceId"]))["doubled"] == [2, 4, 6]


async def test_data_nested_too_deeply_is_refused_on_every_face_and_loses_nothing(gateway: Gateway) -> None:
    def nested(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = [value]
        return value

    cid = (await gateway.start())["caseInstanceId"]
    before = await case_file(gateway, cid)
    # 500 levels used to fail the gateway with a 500 (the Temporal client could not
    # serialize the command); the limit is 32
    for path, body in ((f"/cases/{cid}/casefile", {"d": nested(500)}), (f"{WS}/cases/{cid}/variable", {"d": nested(40)})):
        resp = await gateway.call("PUT", path, "author", json=body)
        assert resp.status_code in (400, 422), (path, resp.status_code, resp.text[:300])
        assert "32" in resp.text and "nested" in resp.text, resp.text[:300]
    # past Python's own recursion limit the body cannot be parsed at all: a 400 that says so
    raw = '{"d": ' + "[" * 5000 + "1" + "]" * 5000 + "}"
    unparsed = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", content=raw, headers={"Content-Type": "application/json"})
    assert unparsed.status_code == 400 and "nested too deeply" in unparsed.json()["detail"], unparsed.text[:300]
    lists = _definition([{"id": "t", "type": "humanTask", "name": "T", "role": "author"}], roles={"author": {}},
                        starterRole="author", startedBy=["authors"], inputs={"xs": {"type": "array"}})
    assert (await gateway.call("POST", "/definitions", "admin", json=lists)).status_code == 201
    start = await gateway.call("POST", "/cases", "author", json={"definition": lists["id"], "inputs": {"xs": nested(40)}})
    assert start.status_code == 422 and "nested more than 32 levels" in start.text, start.text[:300]
    assert (await gateway.call("POST", "/cases", "author", json={"definition": lists["id"], "inputs": {"xs": nested(20)}})).status_code == 201
    # 32 levels are kept as sent
    ok = await gateway.call("PUT", f"/cases/{cid}/casefile", "author", json={"d": nested(30)})
    assert ok.status_code == 200, ok.text[:300]
    assert (await case_file(gateway, cid)) == {**before, "d": nested(30)}
