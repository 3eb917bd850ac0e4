"""Record the workflow histories that tests/integration/test_replay.py replays.

    .venv/bin/python -m tests.histories.record

Starts its own Temporal dev server and an in-process worker, runs a handful of
representative cases (SCENARIOS) against a local HTTP service, and writes each workflow
run's history as JSON to tests/histories/<name>.json (a case that continued as new: one
file per run, <name>.run<N>.json). The files of these scenarios are replaced only once
every scenario has run; other JSON files here are left alone. Read
tests/histories/README.md before re-recording.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client, WorkflowHistory

from tests import example_paths as paths
from tests.example_paths import actor, user_id
from tests.integration.conftest import Cases, _cases
from tests.support.http_service import HttpService, serve
from tests.support.processes import start_dev_env
from tests.integration.test_examples_e2e import Case, check_contract, drive_expense_claim, prefix, start_onboarding
from workflows.case import CaseWorkflow
from workflows.engine.commands import Claim, Complete, Delegate, MergeFile, Plan, Revoke, TeamAdd, TeamRemove, Transition
from workflows.engine.state import TeamMember

HERE = Path(__file__).resolve().parent

# A scenario drives a case (and its sub-cases) to its end, on a worker (`Cases`) and with a
# scriptable HTTP service (the tests' `HttpService`), and returns {file name: workflow id}
# of the workflows to record. test_replay.py runs them too, on its own fixtures.
Scenario = Callable[[Cases, HttpService], Awaitable[dict[str, str]]]


# ---------------------------------------------------------------- the scenarios


async def travel_request(cases: Cases, http: HttpService) -> dict[str, str]:
    """A whole trip: approval, booking, the ledger HTTP task, the expense-claim sub-case."""
    await cases.deploy(paths.definition("expense-claim"))
    base = prefix()
    http.answer(f"{base}/ledger/entries", (201, {"entry": "L-1"}))
    trip = await Case.start(cases, "travel-request", "alice", {**paths.TRAVEL, "ledger_url": f"{http.url}{base}/ledger"})
    await trip.complete("submit", "alice", paths.JUSTIFICATION)
    await trip.claim_and_complete("approve", "bob", paths.APPROVED)
    await trip.claim_and_complete("book", "carol", paths.BOOKED)
    claim = await trip.sub_case("expenses")
    await drive_expense_claim(claim, "alice", paths.TRIP_EXPENSES)
    assert (await claim.outcome()).state == "Completed"
    assert (await trip.outcome()).state == "Completed"
    return {"travel-request": trip.id, "travel-request-expenses": claim.id}


async def signals(cases: Cases, http: HttpService) -> dict[str, str]:
    """An expense claim driven by signals only, one of them refused (and audited)."""
    claim = await Case.start(cases, "expense-claim", "alice", paths.CLAIM)
    path = paths.EXPENSE_PATHS[0]
    handle = claim.handle
    await handle.signal(CaseWorkflow.claim, Claim(actor=actor("alice"), item_id="receipts"))
    await handle.signal(CaseWorkflow.claim, Claim(actor=actor("erin"), item_id="receipts"))  # held by alice: refused
    await handle.signal(CaseWorkflow.revoke, Revoke(actor=actor("alice"), item_id="receipts"))
    await handle.signal(CaseWorkflow.claim, Claim(actor=actor("alice"), item_id="receipts"))
    await handle.signal(CaseWorkflow.complete, Complete(actor=actor("alice"), item_id="receipts", output=path.receipts()))
    await claim.until_item("check", "Active")
    checker = await claim.balanced_holder("check")  # BALANCED: handed to the next of its pool
    assert checker is not None
    await handle.signal(CaseWorkflow.complete, Complete(actor=actor(checker), item_id="check", output=path.check()))
    assert (await claim.outcome()).state == "Completed"
    history = await claim.history()
    assert sum(1 for h in history if h.action == "rejected claim") == 1
    return {"signals": claim.id}


async def continue_as_new(cases: Cases, http: HttpService) -> dict[str, str]:
    """An expense claim with many updates that continues as new several times."""
    claim = Case(cases, await cases.start(paths.definition("expense-claim"), actor("alice"), paths.CLAIM, continue_as_new_after=40))
    await claim.act(Claim(actor=actor("alice"), item_id="receipts"))
    for i in range(24):
        await cases.act(claim.handle, MergeFile(actor=actor("alice"), data={"note": i}), key=f"note-{i}")
    await cases.act(claim.handle, MergeFile(actor=actor("alice"), data={"note": 0}), key="note-0")  # a repeat: no effect
    path = paths.EXPENSE_PATHS[2]  # over budget, the overrun refused
    await claim.complete("receipts", "alice", path.receipts())
    await claim.claim_and_complete("check", "carol", path.check())
    await claim.complete("overrun", "bob", {"overrun_approved": path.approved})  # REPORT_TO: alice's manager
    outcome = await claim.outcome()
    assert outcome.state == "Completed" and outcome.data["note"] == 23
    assert len(await run_histories(cases.client, claim.id)) > 1, "the case continued as new"
    return {"continue-as-new": claim.id}


async def http_failure_and_reactivate(cases: Cases, http: HttpService) -> dict[str, str]:
    """An onboarding whose accounts task fails (a 4xx), is reactivated and succeeds; the
    validator runs inside an update; then the hire withdraws and HR closes the file."""
    case, base, _ = await start_onboarding(cases, http)
    http.answer(f"{base}/it/accounts", (400, {"error": "unknown cost centre"}), (201, paths.ACCOUNT))
    await check_contract(case, http, base)
    await case.complete("contract", "henry", paths.CONTRACT, next="preparation")
    await case.complete("kickoff", "bob", paths.KICKOFF)
    await case.until_item("accounts", "Failed")
    await case.act(Transition(actor=actor("hannah"), item_id="accounts", transition="reactivate"))
    await case.until_item("accounts", "Completed")
    await case.act(Transition(actor=actor("hannah"), item_id="hire-withdrew", transition="occur"))
    await case.claim_and_complete("close-file", "henry", {"reason": "took another offer"})
    assert (await case.outcome()).state == "Completed"
    return {"http-failure-reactivate": case.id}


async def planning_and_team(cases: Cases, http: HttpService) -> dict[str, str]:
    """A large trip: a second opinion planned, team members added and removed, a task
    delegated and revoked; the manager refuses in the end."""
    trip = await Case.start(cases, "travel-request", "alice", {**paths.TRAVEL, "amount": 6000, "ledger_url": f"{http.url}/nowhere"})
    await trip.complete("submit", "alice", paths.JUSTIFICATION)
    await trip.act(TeamAdd(actor=actor("alice"), member=TeamMember(userId=user_id("mike"), caseRoles=["manager"])))
    await trip.act(TeamAdd(actor=actor("alice"), member=TeamMember(userId=user_id("audrey"), caseRoles=["auditor"])))
    await trip.act(Claim(actor=actor("bob"), item_id="approve"))
    await trip.act(Delegate(actor=actor("bob"), item_id="approve", assignee=actor("mike")))
    await trip.act(Revoke(actor=actor("mike"), item_id="approve"))  # back to bob
    planned = await trip.act(Plan(actor=actor("bob"), definition_id="second-opinion"))
    assert planned.planItemId == "second-opinion"
    await trip.claim_and_complete("second-opinion", "mike", {})
    await trip.act(TeamRemove(actor=actor("alice"), user_id=user_id("audrey")))
    await trip.complete("approve", "bob", paths.REFUSED)
    assert (await trip.outcome()).state == "Completed"
    return {"planning-and-team": trip.id}


SCENARIOS: dict[str, Scenario] = {
    "travel-request": travel_request,
    "signals": signals,
    "continue-as-new": continue_as_new,
    "http-failure-reactivate": http_failure_and_reactivate,
    "planning-and-team": planning_and_team,
}


# ---------------------------------------------------------------- recording


async def run_histories(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a workflow, first to last (a case that continued as new has several)."""
    latest = await client.get_workflow_handle(workflow_id).fetch_history()
    run_id = latest.events[0].workflow_execution_started_event_attributes.first_execution_run_id
    runs: list[WorkflowHistory] = []
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append(history)
        last = history.events[-1]
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id if last.HasField("workflow_execution_continued_as_new_event_attributes") else ""
    return runs


async def record(cases: Cases, scenario: Scenario, http: HttpService) -> dict[str, str]:
    """Run one scenario and return {file name: history JSON} for each of its workflow runs."""
    workflows = await scenario(cases, http)
    out: dict[str, str] = {}
    for name, workflow_id in workflows.items():
        runs = await run_histories(cases.client, workflow_id)
        for n, history in enumerate(runs, start=1):
            out[f"{name}.run{n}" if len(runs) > 1 else name] = history.to_json()
    return out


async def main(out_dir: Path = HERE) -> dict[str, int]:
    env = await start_dev_env()
    http, server = serve()
    recorded: dict[str, str] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async for cases in _cases(env, Path(tmp), True):
                for scenario in SCENARIOS.values():
                    recorded.update(await record(cases, scenario, http))
    finally:
        server.shutdown()
        await env.shutdown()
    # Replace what these scenarios wrote before (a case may now have more or fewer runs);
    # files kept under other names (histories of earlier deployments) stay.
    workflows = {re.sub(r"\.run\d+$", "", name) for name in recorded}
    for old in out_dir.glob("*.json"):
        if re.sub(r"\.run\d+$", "", old.stem) in workflows:
            old.unlink()
    sizes = {}
    for name, text in sorted(recorded.items()):
        path = out_dir / f"{name}.json"
        path.write_text(text + "\n", encoding="utf-8")
        sizes[path.name] = path.stat().st_size
    return sizes


if __name__ == "__main__":
    # The scripted 4xx of the http-failure-reactivate scenario is meant to fail its activity.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    sizes = asyncio.run(main())
    for name, size in sizes.items():
        print(f"{size:>9,d}  tests/histories/{name}")
    sys.stdout.flush()
    # The SDK's Rust threads can abort the interpreter while it finalizes (see tests/conftest.py).
    os._exit(0)
