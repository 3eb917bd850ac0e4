"""CaseWorkflow on a real dev server: effects, idempotency across continue-as-new, signals,
sub-cases, and a bug in deciding that must not wedge the case."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any, Awaitable, Callable

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from tests.integration.conftest import Cases, HttpService, load
from workflows.actor import Actor
from workflows.case import CaseWorkflow
from workflows.engine import decide as engine_decide
from workflows.engine.commands import Claim, Complete, MergeFile, Revoke, Transition

pytestmark = pytest.mark.asyncio(loop_scope="session")

ALICE = Actor(user_id="alice", groups=["staff"])
BOB = Actor(user_id="bob", groups=["staff"])


async def eventually(probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], tries: int = 150) -> Any:
    """Poll a query until it shows what an asynchronous effect should lead to (a guard against
    hanging, not a timing assertion)."""
    value = None
    for _ in range(tries):
        value = await probe()
        if check(value):
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"never reached the expected state; last seen: {value}")


def states(view: Any) -> dict[str, str]:
    return {p.id: p.currentState for p in view.planitems}


PROCESS = """
id: scoring
name: Scoring
roles: {staff: {groups: [staff]}}
inputs: {base: {type: string, required: true}}
plan:
  autoComplete: false
  items:
    - id: fetch
      type: processTask
      name: Fetch score
      http: {method: POST, url: "{base}", json: {case: "{caseId}", who: "{requester}"}, output: {score: "$.result.score"}}
    - id: high
      type: milestone
      name: High score
      entry: [{on: [fetch.complete], if: "score > 5"}]
"""


async def test_http_process_task_completes_with_output(cases: Cases, http_service: HttpService) -> None:
    http_service.answer("/score-ok", (200, {"result": {"score": 8}}))
    handle = await cases.start(load(PROCESS), ALICE, {"base": f"{http_service.url}/score-ok"})
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["high"] == "Completed")
    assert states(view)["fetch"] == "Completed" and view.file["score"] == 8
    assert http_service.calls_to("/score-ok")[-1] == {"case": handle.id, "who": ""}


async def test_http_process_task_retries_server_errors(cases: Cases, http_service: HttpService) -> None:
    http_service.answer("/score-flaky", (503, {}), (200, {"result": {"score": 2}}))
    handle = await cases.start(load(PROCESS), ALICE, {"base": f"{http_service.url}/score-flaky"})
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["fetch"] == "Completed")
    assert view.file["score"] == 2 and states(view)["high"] == "Available"
    assert len(http_service.calls_to("/score-flaky")) == 2


async def test_http_process_task_fails_on_client_errors_and_can_be_reactivated(cases: Cases, http_service: HttpService) -> None:
    http_service.answer("/score-no", (400, {"error": "no"}), (200, {"result": {"score": 9}}))
    handle = await cases.start(load(PROCESS), ALICE, {"base": f"{http_service.url}/score-no"})
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["fetch"] == "Failed")
    failed = next(p for p in view.planitems if p.id == "fetch")
    assert "400" in (failed.error or "")
    assert len(http_service.calls_to("/score-no")) == 1  # a 4xx is not retried
    await cases.act(handle, Transition(actor=ALICE, item_id="fetch", transition="reactivate"))
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["high"] == "Completed")
    assert view.file["score"] == 9


@pytest.mark.parametrize(
    "base",
    [
        "http://169.254.169.254/latest/meta-data",  # the cloud metadata address
        "http://127.0.0.2:9/score",  # loopback, outside the tests' allowed 127.0.0.1
        "http://10.1.2.3/score",
        "http://internal.example.invalid/score",  # a name nobody allowed
    ],
)
async def test_an_outbound_call_the_operator_did_not_allow_fails_its_step_at_once(cases: Cases, base: str) -> None:
    """The URL comes from the case's inputs, which its starter chose: the allow-list, not the
    definition, decides where the worker calls. The step fails without retrying, and the
    case says why."""
    handle = await cases.start(load(PROCESS), ALICE, {"base": base})
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["fetch"] == "Failed")
    failed = next(p for p in view.planitems if p.id == "fetch")
    assert "outbound call refused" in (failed.error or "") and "CASEWORK_HTTP_ALLOW" in (failed.error or "")
    history = await handle.query(CaseWorkflow.history, ALICE)
    assert any("outbound call refused" in h.detail for h in history if h.planItemId == "fetch"), history


TASKS = """
id: chores
name: Chores
roles: {staff: {groups: [staff]}}
plan:
  items:
    - {id: one, type: humanTask, name: One, role: staff, output: {n: {type: integer}}}
    - {id: two, type: humanTask, name: Two, role: staff, entry: [{on: [one.complete]}]}
"""


async def test_idempotency_survives_continue_as_new(cases: Cases) -> None:
    handle = await cases.start(load(TASKS), ALICE, continue_as_new_after=40)
    first_run = (await handle.describe()).run_id
    claim = await cases.act(handle, Claim(actor=ALICE, item_id="one"), key="claim-once")
    for i in range(25):  # enough updates to pass the low threshold several times
        await cases.act(handle, MergeFile(actor=ALICE, data={"i": i}), key=f"merge-{i}")
    runs = set()
    async for event in cases.client.list_workflows(f"WorkflowId = '{handle.id}'"):
        runs.add(event.run_id)
    assert len(runs) > 1 and first_run in runs, "the case continued as new"
    again = await cases.act(cases.client.get_workflow_handle(handle.id), Claim(actor=ALICE, item_id="one"), key="claim-once")
    # the same answer, from the window carried across runs (the read-model change it carried
    # for the gateway goes out with the first answer only)
    assert again == claim.model_copy(update={"change": None})
    view = await cases.view(cases.client.get_workflow_handle(handle.id), ALICE)
    assert view.file["i"] == 24
    history = await cases.client.get_workflow_handle(handle.id).query(CaseWorkflow.history, ALICE)
    assert sum(1 for h in history if h.action == "claim") == 1
    assert sum(1 for h in history if h.action == "casefile") == 25


async def test_signals_act_and_rejected_signals_are_audited(cases: Cases) -> None:
    handle = await cases.start(load(TASKS), ALICE)
    await handle.signal(CaseWorkflow.claim, Claim(actor=ALICE, item_id="one"))
    # held by alice: refused (bob holds its role outside the team, so the task is no longer
    # offered to him and the case does not exist for him)
    await handle.signal(CaseWorkflow.claim, Claim(actor=BOB, item_id="one"))
    await handle.signal(CaseWorkflow.complete, Complete(actor=ALICE, item_id="one", output={"n": 1}))
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["two"] == "Active")
    assert view.file == {"n": 1}
    history = await handle.query(CaseWorkflow.history, ALICE)
    rejected = [h for h in history if h.action == "rejected claim"]
    assert len(rejected) == 1 and rejected[0].user == "bob" and "NotFound" in rejected[0].detail


async def test_a_bug_in_deciding_answers_internal_error_and_the_case_goes_on(cases: Cases, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = await cases.start(load(TASKS), ALICE)

    def broken(ctx: Any, cmd: Any) -> None:
        raise KeyError("a bug")

    monkeypatch.setitem(engine_decide.HANDLERS, "revoke", broken)
    await cases.act(handle, Claim(actor=ALICE, item_id="one"))
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await cases.act(handle, Revoke(actor=ALICE, item_id="one"))
    assert err.value.cause.type == "InternalError"  # type: ignore[union-attr]
    monkeypatch.undo()
    done = await cases.act(handle, Complete(actor=ALICE, item_id="one", output={"n": 2}))
    assert done.task is not None and done.task.taskState == "Completed"


PARENT = """
id: parent-case
name: Parent
roles: {staff: {groups: [staff]}}
inputs: {amount: {type: number, required: true}}
plan:
  items:
    - id: sub
      type: caseTask
      name: Sub-case
      definition: child-case
      inputs: {budget: "amount * 2.0"}
      output: {approvedBudget: "budget"}
    - id: after
      type: milestone
      name: Sub-case done
      entry: [{on: [sub.complete]}]
"""
CHILD = """
id: child-case
name: Child
roles: {staff: {groups: [staff]}}
inputs: {budget: {type: number, required: true}}
plan:
  items:
    - {id: check, type: humanTask, name: Check budget, role: staff}
"""


async def test_sub_case_runs_as_child_and_reports_back(cases: Cases) -> None:
    await cases.deploy(load(CHILD))
    handle = await cases.start(load(PARENT), ALICE, {"amount": 10.0})
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["sub"] == "Active")
    child = cases.client.get_workflow_handle(f"{handle.id}-sub")

    async def child_case() -> Any:
        try:
            return await cases.view(child, ALICE)
        except RPCError:  # not started yet
            return None

    child_view = await eventually(child_case, lambda v: v is not None)
    assert child_view.parentCase == handle.id and child_view.file == {"budget": 20.0}
    await cases.act(child, Claim(actor=BOB, item_id="check"))
    await cases.act(child, Complete(actor=BOB, item_id="check"))
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: v.state == "Completed")
    assert states(view)["after"] == "Completed" and view.file["approvedBudget"] == 20.0


async def test_sub_case_of_an_unknown_definition_fails_the_item_not_the_case(cases: Cases) -> None:
    handle = await cases.start(load(PARENT.replace("child-case", f"missing-{uuid.uuid4().hex[:6]}")), ALICE, {"amount": 1.0})
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["sub"] == "Failed")
    assert view.state == "Active"
    assert "no deployed definition" in next(p.error for p in view.planitems if p.id == "sub")


TIMED = """
id: timed
name: Timed
roles: {staff: {groups: [staff]}}
plan:
  autoComplete: false
  items:
    - {id: work, type: humanTask, name: Work, role: staff, due: P2D}
    - {id: reminder, type: timer, name: Reminder, after: P3D}
    - {id: escalate, type: milestone, name: Escalated, entry: [{on: [reminder.occur]}]}
"""


async def test_timers_in_days_under_time_skipping(skipping_cases: Cases, time_skipping_env: Any) -> None:
    handle = await skipping_cases.start(load(TIMED), ALICE)
    view = await skipping_cases.view(handle, ALICE)
    reminder = next(p for p in view.planitems if p.id == "reminder")
    assert reminder.occursAt - view.createdOn == timedelta(days=3)
    await time_skipping_env.sleep(timedelta(days=2, hours=1))
    view = await skipping_cases.view(handle, ALICE)
    assert states(view)["reminder"] == "Available" and states(view)["escalate"] == "Available"
    history = await handle.query(CaseWorkflow.history, ALICE)
    assert any(h.action == "overdue" and h.planItemId == "work" for h in history)
    await time_skipping_env.sleep(timedelta(days=1))
    view = await eventually(lambda: skipping_cases.view(handle, ALICE), lambda v: states(v)["escalate"] == "Completed")
    assert states(view)["reminder"] == "Completed" and states(view)["work"] == "Active"


async def test_what_ops_see_in_the_temporal_ui(cases: Cases) -> None:
    from temporalio.api.enums.v1 import EventType

    from workflows import search_attributes as sa

    handle = await cases.start(load(TASKS), ALICE)
    await cases.act(handle, Claim(actor=ALICE, item_id="one"), key="claim-one")
    details = (await handle.query("__temporal_workflow_metadata")).current_details
    assert details.startswith("**#1** — Active")  # the default title is #{caseNumber}
    assert "- **One**: Assigned, held by **alice**" in details.splitlines()

    async def attrs() -> Any:
        return (await handle.describe()).typed_search_attributes

    now = await eventually(attrs, lambda a: list(a.get(sa.CASE_ASSIGNEES) or []) == ["alice"])
    assert now.get(sa.CASE_STATUS) == "Active" and now.get(sa.CASE_DEFINITION) == "chores"
    assert list(now.get(sa.CASE_OPEN_TASKS) or []) == ["One"]
    await cases.act(handle, Complete(actor=ALICE, item_id="one", output={"n": 1}), key="complete-one")
    details = (await handle.query("__temporal_workflow_metadata")).current_details
    assert "- **Two**: Unassigned, not claimed yet" in details.splitlines() and "**One**" not in details
    # Who holds what and which tasks are open reach visibility with the case's next
    # projection write, not in the action's own workflow task (an upsert per action
    # doubles the server's work per action).
    events = [e async for e in handle.fetch_history_events()]
    done = next(i for i, e in enumerate(events)
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
                and e.workflow_execution_update_completed_event_attributes.meta.update_id == "complete-one")
    task_start = max(i for i in range(done) if events[i].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    assert not [e for e in events[task_start:done] if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
    now = await eventually(attrs, lambda a: list(a.get(sa.CASE_OPEN_TASKS) or []) == ["Two"])
    assert not now.get(sa.CASE_ASSIGNEES)
    assert list(now.get(sa.CASE_CANDIDATES) or []) == ["group:staff", "role:staff"]


async def test_a_sub_case_ends_when_its_case_task_is_exited(cases: Cases) -> None:
    parent_def = load(PARENT.replace(
        "      output: {approvedBudget: \"budget\"}",
        "      output: {approvedBudget: \"budget\"}\n      exit: [{on: [stop.occur]}]",
    ).replace("    - id: after", "    - {id: stop, type: userEvent, name: Stop}\n    - id: after"))
    await cases.deploy(load(CHILD))
    handle = await cases.start(parent_def, ALICE, {"amount": 3.0})
    child = cases.client.get_workflow_handle(f"{handle.id}-sub")

    async def child_case() -> Any:
        try:
            return await cases.view(child, ALICE)
        except RPCError:
            return None

    await eventually(child_case, lambda v: v is not None and v.state == "Active")
    await cases.act(handle, Transition(actor=ALICE, item_id="stop", transition="occur"))
    assert states(await cases.view(handle, ALICE))["sub"] == "Terminated"
    ended = await eventually(child_case, lambda v: v is not None and v.state == "Terminated")
    assert states(ended)["check"] == "Terminated"
    typed = cases.client.get_workflow_handle_for(CaseWorkflow.run, child.id)
    outcome = await asyncio.wait_for(typed.result(), timeout=60)  # ends cleanly: a result, not a failure
    assert outcome.state == "Terminated"
    assert (await child.describe()).status.name == "COMPLETED"
    history = await child.query(CaseWorkflow.history, ALICE)
    assert history[-1].action == "case terminated" and "cancellation" in history[-1].detail


async def test_an_operator_cancel_terminates_the_case_plan(cases: Cases) -> None:
    handle = await cases.start(load(TASKS), ALICE)
    await cases.act(handle, Claim(actor=ALICE, item_id="one"))
    await handle.cancel()
    outcome = await handle.result()
    assert outcome.state == "Terminated"
    view = await cases.view(handle, ALICE)
    assert view.state == "Terminated" and states(view)["one"] == "Terminated"


async def test_concurrent_actions_across_many_continue_as_new_lose_nothing(cases: Cases) -> None:
    handle = await cases.start(load(TASKS), ALICE, continue_as_new_after=60)

    async def stream(s: int) -> None:
        for i in range(12):
            await cases.act(cases.client.get_workflow_handle(handle.id), MergeFile(actor=ALICE, data={f"s{s}_{i}": i}), key=f"s{s}-{i}")

    await asyncio.gather(*(stream(s) for s in range(5)))
    runs = {w.run_id async for w in cases.client.list_workflows(f"WorkflowId = '{handle.id}'")}
    assert len(runs) >= 3, "the case continued as new several times under load"
    latest = cases.client.get_workflow_handle(handle.id)
    view = await cases.view(latest, ALICE)
    assert view.file == {f"s{s}_{i}": i for s in range(5) for i in range(12)}
    history = await latest.query(CaseWorkflow.history, ALICE)
    assert sum(1 for h in history if h.action == "casefile") == 60
    # every key still answers the same, once, from whichever run holds it now
    again = await cases.act(latest, MergeFile(actor=ALICE, data={"s0_0": 0}), key="s0-0")
    assert again.caseVersion < view.caseVersion
    assert sum(1 for h in await latest.query(CaseWorkflow.history, ALICE) if h.action == "casefile") == 60


async def test_sub_case_whose_inputs_do_not_fit_fails_the_item_not_the_case(cases: Cases) -> None:
    await cases.deploy(load(CHILD))
    handle = await cases.start(load(PARENT.replace('budget: "amount * 2.0"', "budget: \"'lots'\"")), ALICE, {"amount": 1.0})
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["sub"] == "Failed")
    assert view.state == "Active"
    assert "inputs.budget: must be of type number" in next(p.error for p in view.planitems if p.id == "sub")


TRIGGERED = """
id: triggered
name: Triggered
roles: {staff: {groups: [staff]}}
starterRole: staff
inputs: {base: {type: string, required: true}}
triggers:
  lookup: {http: {method: POST, url: "{base}", json: {case: "{caseId}"}, output: {rate: "$.rate"}}}
plan:
  autoComplete: false
  items:
    - {id: work, type: humanTask, name: Work, role: staff}
"""


async def test_an_http_trigger_run_on_request_merges_its_output_or_answers_its_failure(cases: Cases, http_service: HttpService) -> None:
    from workflows.engine.commands import RunTrigger

    http_service.answer("/rate", (200, {"rate": 1.25}))
    handle = await cases.start(load(TRIGGERED), ALICE, {"base": f"{http_service.url}/rate"})
    await cases.act(handle, Claim(actor=ALICE, item_id="work"))
    done = await cases.act(handle, RunTrigger(actor=ALICE, name="lookup"), key="rate-1")
    assert (await cases.view(handle, ALICE)).file["rate"] == 1.25
    assert http_service.calls_to("/rate")[-1] == {"case": handle.id}
    # the same key again: answered from the window, the service is not called a second time
    calls = len(http_service.calls_to("/rate"))
    assert await cases.act(handle, RunTrigger(actor=ALICE, name="lookup"), key="rate-1") == done
    assert len(http_service.calls_to("/rate")) == calls
    # a 4xx answer: the request is refused, the case records it and goes on
    failing = await cases.start(load(TRIGGERED), ALICE, {"base": f"{http_service.url}/rate-refused"})
    http_service.answer("/rate-refused", (403, {"error": "no"}))
    await cases.act(failing, Claim(actor=ALICE, item_id="work"))
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await cases.act(failing, RunTrigger(actor=ALICE, name="lookup"))
    assert err.value.cause.type == "BadRequest" and "lookup" in err.value.cause.message
    assert "rate-refused" not in err.value.cause.message  # the URL is not echoed
    trail = await failing.query(CaseWorkflow.history, ALICE)
    assert any("lookup" in h.action + h.detail for h in trail)
    assert "rate" not in (await cases.view(failing, ALICE)).file
    claimed = await cases.act(failing, Complete(actor=ALICE, item_id="work"))
    assert claimed.task is not None and claimed.task.taskState == "Completed"


async def test_a_process_task_whose_output_would_pass_the_budget_fails_its_item(cases: Cases, http_service: HttpService) -> None:
    http_service.answer("/score-huge", (200, {"result": {"score": "s" * 40_000}}))
    handle = await cases.start(load(PROCESS), ALICE, {"base": f"{http_service.url}/score-huge"}, max_bytes=20_000)
    view = await eventually(lambda: cases.view(handle, ALICE), lambda v: states(v)["fetch"] == "Failed")
    fetch = next(p for p in view.planitems if p.id == "fetch")
    assert "too large" in (fetch.error or "") and "20000" in (fetch.error or "")
    assert "score" not in view.file and view.state == "Active"  # the case goes on without it
    # a change that fits is still taken
    done = await cases.act(handle, MergeFile(actor=ALICE, data={"note": "fits"}))
    assert done.file == {"base": f"{http_service.url}/score-huge", "note": "fits"}


async def test_a_read_model_that_lost_a_case_gets_it_back_whole(cases: Cases) -> None:
    """As after a restore from an older backup: the case's own projection meets a gap and
    writes the case whole instead of leaving it missing."""
    from sqlalchemy import delete, select

    from store.tables import AuditRow, CaseRow, DelegationPrincipalRow, DelegationRow, ParticipationRow

    async def stored() -> tuple[int | None, list[str]]:
        async with cases.db.session() as session:
            version = await session.scalar(select(CaseRow.version).where(CaseRow.case_id == handle.id))
            rows = (await session.scalars(select(DelegationRow.task_state).where(DelegationRow.case_id == handle.id))).all()
            return version, list(rows)

    handle = await cases.start(load(TASKS), ALICE)
    await eventually(stored, lambda r: r[0] == 1)
    async with cases.db.session() as session:
        for table in (DelegationPrincipalRow, ParticipationRow, DelegationRow, AuditRow, CaseRow):
            await session.execute(delete(table).where(table.case_id == handle.id))
        await session.commit()
    await handle.signal(CaseWorkflow.claim, Claim(actor=ALICE, item_id="one"))  # no gateway writes this
    version, rows = await eventually(stored, lambda r: r[0] == 2, tries=300)
    assert rows == ["Assigned"]
