"""Every example definition driven from start to completion through the REAL workflow.

The same paths as tests/unit/test_examples.py (which runs them through the pure engine),
with the same people and outputs (tests/example_paths.py), but on a Temporal server: each
action is an update, HTTP tasks and validators call a local HTTP service, sub-cases run as
child workflows of their deployed definition, and timers of days pass on the time-skipping
server. At the end each test checks what a user would: the case's state, its file, its
milestones, its audit trail and the workflow's result.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from tests import example_paths as paths
from tests.example_paths import actor, definition, user_id
from tests.integration.conftest import Cases, HttpService
from tests.integration.test_case_workflow import eventually, states
from workflows import search_attributes as sa
from workflows.case import ActionResult, CaseOutcome, CaseWorkflow
from workflows.definition import AssignmentRule, HumanTask
from workflows.engine.lifecycle import DefIndex
from workflows.engine.commands import Assign, Claim, Command, Complete, Plan, Transition, Validate
from workflows.engine.state import AuditEntry
from workflows.engine.views import CaseView

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADMIN = "admin"  # PM_ALLCASES: sees every case, as a user checking on them would


class Case:
    """One case on the server, driven by the directory's users."""

    def __init__(self, cases: Cases, handle: WorkflowHandle) -> None:
        self.cases = cases
        self.handle = handle

    @classmethod
    async def start(cls, cases: Cases, name: str, starter: str, inputs: dict[str, Any]) -> Case:
        return cls(cases, await cases.start(definition(name), actor(starter), inputs))

    @property
    def id(self) -> str:
        return self.handle.id

    async def act(self, cmd: Command) -> ActionResult:
        return await self.cases.act(self.handle, cmd)

    async def refused(self, cmd: Command) -> Any:
        """The ApplicationError a refused action answers with."""
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await self.act(cmd)
        return err.value.cause

    async def complete(self, item: str, username: str, output: dict[str, Any], next: str | None = None) -> ActionResult:
        done = await self.act(Complete(actor=actor(username), item_id=item, output=output, next=next))
        assert done.task is not None and done.task.taskState == "Completed", done
        return done

    async def claim_and_complete(self, item: str, username: str, output: dict[str, Any], next: str | None = None) -> ActionResult:
        """`username` claims and completes the task; a BALANCED task is already handed to the
        next user of its pool, who completes it instead (returned in the result's task)."""
        holder = await self.balanced_holder(item)
        if holder is not None:
            return await self.complete(item, holder, output, next)
        claimed = await self.act(Claim(actor=actor(username), item_id=item))
        assert claimed.task is not None and claimed.task.assignee == user_id(username)
        return await self.complete(item, username, output, next)

    async def balanced_holder(self, item: str) -> str | None:
        """The username a BALANCED task was handed to (None for other rules), once handed."""
        view = await self.view()
        model = DefIndex.of(definition(view.definition)).items.get(next(p.definitionId for p in view.planitems if p.id == item))
        if not isinstance(model, HumanTask) or model.assignment.rule != AssignmentRule.BALANCED:
            return None
        view = await self.until(lambda v: any(p.id == item and p.assignee for p in v.planitems))
        assignee = next(p.assignee for p in view.planitems if p.id == item)
        found = paths.directory().by_id(assignee or "")
        assert found is not None, assignee
        return found.username

    async def view(self, username: str = ADMIN) -> CaseView:
        return await self.cases.view(self.handle, actor(username))

    async def until(self, check: Callable[[CaseView], bool]) -> CaseView:
        return await eventually(self.view, check)

    async def until_item(self, item: str, state: str) -> CaseView:
        return await self.until(lambda v: states(v)[item] == state)

    async def history(self) -> list[AuditEntry]:
        trail = await self.handle.query(CaseWorkflow.history, actor(ADMIN))
        assert trail is not None
        return trail

    async def sub_case(self, item: str) -> Case:
        """The sub-case a caseTask started, once it runs (its id is `<case>-<item>`)."""
        child = Case(self.cases, self.cases.client.get_workflow_handle(f"{self.id}-{item}"))

        async def started() -> CaseView | None:
            try:
                return await child.view()
            except RPCError:  # not started yet
                return None

        view = await eventually(started, lambda v: v is not None)
        assert view.parentCase == self.id
        return child

    async def outcome(self) -> CaseOutcome:
        """The workflow's result, once it ends (with what it was doing if it does not)."""
        handle = self.cases.client.get_workflow_handle_for(CaseWorkflow.run, self.id)
        try:
            return await asyncio.wait_for(handle.result(), timeout=30)
        except asyncio.TimeoutError:
            view = await self.view()
            events = (await handle.fetch_history()).events[-8:]
            tail = [
                EventType.Name(e.event_type) + (f" ({e.workflow_task_failed_event_attributes.failure.message})" if e.HasField("workflow_task_failed_event_attributes") else "")
                for e in events
            ]
            raise AssertionError(f"case {self.id} did not end: {view.state}, {states(view)}; last events: {tail}") from None


def trail_of(history: list[AuditEntry]) -> list[tuple[str, str | None]]:
    return [(h.action, h.planItemId) for h in history]


def assert_in_order(history: list[AuditEntry], expected: list[tuple[str, str | None]]) -> None:
    """The audit trail holds these (action, plan item) entries, in this order (others between)."""
    trail = iter(trail_of(history))
    missing = [step for step in expected if step not in trail]
    assert not missing, f"not in the audit trail in order: {missing}; trail: {trail_of(history)}"


def by(history: list[AuditEntry], action: str, item: str | None) -> set[str]:
    """Who did `action` on `item`."""
    return {h.user for h in history if h.action == action and h.planItemId == item}


def prefix() -> str:
    """A path prefix of the shared HTTP service for one test."""
    return f"/{uuid.uuid4().hex[:8]}"


async def drive_expense_claim(claim: Case, claimant: str, path: paths.ExpensePath) -> None:
    """Receipts by the claimant, the check by finance (carol), and, when the claim goes over
    the budget, the decision of the claimant's manager (REPORT_TO)."""
    view = await claim.until_item("receipts", "Active")
    assert view.file["budget"] == path.budget
    if view.file["traveller"] == claimant:
        await claim.claim_and_complete("receipts", claimant, path.receipts())
    else:
        # SELF_SERVICE_EVALUATE: only the traveller may claim; a traveller who is no user
        # yet (a new hire) has the case owner hand the receipts in
        await claim.act(Assign(actor=actor(claimant), item_id="receipts", assignee=actor(claimant)))
        await claim.complete("receipts", claimant, path.receipts())
    view = await claim.view()
    assert states(view)["check"] == "Active"
    assert states(view)["overrun"] == ("Active" if path.over_budget else "Available")
    await claim.claim_and_complete("check", "carol", path.check())
    if path.approved is not None:
        # REPORT_TO: the claimant's completing the receipts handed the overrun to their manager
        manager = paths.manager_of(claimant)
        overrun = next(p for p in (await claim.view()).planitems if p.id == "overrun")
        assert overrun.assignee == user_id(manager)
        await claim.complete("overrun", manager, {"overrun_approved": path.approved})


async def assert_expense_claim_ended(claim: Case, path: paths.ExpensePath) -> None:
    view = await claim.until(lambda v: v.state == "Completed")
    s = states(view)
    assert s["receipts"] == s["check"] == s["pay"] == s["settled"] == "Completed"
    assert s["overrun"] == path.overrun and s["overrun-refused"] == path.overrun_refused
    assert view.file["reimbursed"] == path.reimbursed and view.file["accepted"] == path.accepted
    history = await claim.history()
    assert_in_order(history, [
        ("complete", "receipts"), ("complete", "check"), ("start", "pay"), ("set", "pay"),
        ("complete", "pay"), ("occur", "settled"), ("case completed", None),
    ])
    outcome = await claim.outcome()
    assert outcome.state == "Completed" and outcome.data["reimbursed"] == path.reimbursed


# ---------------------------------------------------------------- travel-request


async def test_travel_request_large_amount_approved_booked_and_claimed(cases: Cases, http_service: HttpService) -> None:
    await cases.deploy(definition("expense-claim"))  # the sub-case's definition, from the store
    base = prefix()
    http_service.answer(f"{base}/ledger/entries", (201, {"entry": "L-1"}))
    inputs = {**paths.TRAVEL, "ledger_url": f"{http_service.url}{base}/ledger"}
    trip = await Case.start(cases, "travel-request", "alice", inputs)

    view = await trip.view("alice")
    assert view.name == "Travel of alice to Lisbon" and view.state == "Active"
    submit = next(p for p in view.planitems if p.id == "submit")
    assert submit.assignee == user_id("alice")  # EVALUATE SYS_STARTER
    await trip.complete("submit", "alice", paths.JUSTIFICATION)
    view = await trip.view()
    assert states(view)["approve"] == "Active" and states(view)["booking"] == "Available"  # over 1000

    await trip.claim_and_complete("approve", "bob", paths.APPROVED)
    view = await trip.view()
    assert states(view)["approved"] == "Completed" and states(view)["book"] == "Active"
    await trip.claim_and_complete("book", "carol", paths.BOOKED)

    # the ledger task posts to the ledger service, then the expense claim starts as a sub-case
    await trip.until_item("ledger", "Completed")
    assert http_service.calls_to(f"{base}/ledger/entries") == [paths.ledger_entry(trip.id, inputs)]
    claim = await trip.sub_case("expenses")
    child = await claim.view("alice")
    assert child.definition == "expense-claim" and child.name == "Expenses of alice (budget 1800)"
    assert child.file == paths.travel_claim(inputs)
    await drive_expense_claim(claim, "alice", paths.TRIP_EXPENSES)
    await assert_expense_claim_ended(claim, paths.TRIP_EXPENSES)

    view = await trip.until(lambda v: v.state == "Completed")
    s = states(view)
    assert s["approved"] == s["booking"] == s["book"] == s["ledger"] == s["expenses"] == "Completed"
    assert s["rejected"] == s["reminder"] == "Terminated"  # what never happened ends with the case
    assert view.file["approved"] is True and view.file["bookingRef"] == "LIS-42"
    assert view.file["justification"] == paths.JUSTIFICATION["justification"]
    history = await trip.history()
    assert_in_order(history, [
        ("complete", "submit"), ("claim", "approve"), ("complete", "approve"), ("occur", "approved"),
        ("start", "booking"), ("assign", "book"), ("complete", "book"), ("start", "ledger"), ("complete", "ledger"),
        ("complete", "booking"), ("start", "expenses"), ("complete", "expenses"), ("case completed", None),
    ])
    assert by(history, "complete", "approve") == {user_id("bob")}
    booked_by = by(history, "complete", "book")
    assert len(booked_by) == 1 and booked_by <= {user_id("carol"), user_id("frank")}  # BALANCED over finance
    outcome = await trip.outcome()
    assert outcome.state == "Completed" and outcome.data["bookingRef"] == "LIS-42"
    # what ops see in the Temporal UI
    described = await trip.handle.describe()
    attrs = described.typed_search_attributes
    assert attrs.get(sa.CASE_STATUS) == "Completed" and attrs.get(sa.CASE_DEFINITION) == "travel-request"
    assert not attrs.get(sa.CASE_OPEN_TASKS)
    child = await claim.handle.describe()
    assert child.typed_search_attributes.get(sa.CASE_DEFINITION) == "expense-claim"
    assert child.typed_search_attributes.get(sa.CASE_STATUS) == "Completed"


async def test_travel_request_small_amount_goes_straight_to_booking(cases: Cases, http_service: HttpService) -> None:
    await cases.deploy(definition("expense-claim"))
    base = prefix()
    http_service.answer(f"{base}/ledger/entries", (200, {}))
    inputs = {**paths.TRAVEL_SMALL, "ledger_url": f"{http_service.url}{base}/ledger"}
    trip = await Case.start(cases, "travel-request", "erin", inputs)
    await trip.complete("submit", "erin", paths.JUSTIFICATION)
    view = await trip.view()
    assert states(view)["book"] == "Active" and states(view)["approve"] == "Available"  # no approval
    await trip.claim_and_complete("book", "frank", paths.BOOKED)
    claim = await trip.sub_case("expenses")
    assert http_service.calls_to(f"{base}/ledger/entries") == [paths.ledger_entry(trip.id, inputs)]
    await drive_expense_claim(claim, "erin", paths.SMALL_TRIP_EXPENSES)
    await assert_expense_claim_ended(claim, paths.SMALL_TRIP_EXPENSES)

    view = await trip.until(lambda v: v.state == "Completed")
    s = states(view)
    assert s["book"] == s["ledger"] == s["expenses"] == "Completed"
    assert s["approve"] == s["approved"] == s["rejected"] == "Terminated"
    history = await trip.history()
    assert ("claim", "approve") not in trail_of(history)
    assert_in_order(history, [
        ("complete", "submit"), ("start", "booking"), ("complete", "book"), ("complete", "ledger"),
        ("complete", "expenses"), ("case completed", None),
    ])


async def test_travel_request_rejected_ends_the_case(cases: Cases, http_service: HttpService) -> None:
    base = prefix()
    inputs = {**paths.TRAVEL, "ledger_url": f"{http_service.url}{base}/ledger"}
    trip = await Case.start(cases, "travel-request", "alice", inputs)
    await trip.complete("submit", "alice", paths.JUSTIFICATION)
    await trip.claim_and_complete("approve", "mike", paths.REFUSED)
    view = await trip.until(lambda v: v.state == "Completed")
    s = states(view)
    assert s["rejected"] == "Completed" and s["approved"] == "Terminated"
    assert "book" not in s and s["booking"] == s["expenses"] == "Terminated"  # never started
    assert view.file["approved"] is False
    assert http_service.calls_to(f"{base}/ledger/entries") == []
    with pytest.raises(RPCError):  # no sub-case
        await cases.client.get_workflow_handle(f"{trip.id}-expenses").describe()
    assert_in_order(await trip.history(), [
        ("complete", "submit"), ("claim", "approve"), ("complete", "approve"), ("occur", "rejected"), ("case completed", None),
    ])
    assert (await trip.outcome()).state == "Completed"


# ---------------------------------------------------------------- expense-claim


@pytest.mark.parametrize("path", paths.EXPENSE_PATHS, ids=lambda p: p.id)
async def test_expense_claim_runs_to_its_end(cases: Cases, path: paths.ExpensePath) -> None:
    claim = await Case.start(cases, "expense-claim", "alice", paths.CLAIM)
    assert (await claim.view("alice")).name == "Expenses of alice (budget 1000)"
    await drive_expense_claim(claim, "alice", path)
    await assert_expense_claim_ended(claim, path)
    history = await claim.history()
    if path.approved is not None:
        assert by(history, "complete", "overrun") == {user_id("bob")}  # alice reports to bob
    else:
        assert ("claim", "overrun") not in trail_of(history)


# ---------------------------------------------------------------- employee-onboarding


async def start_onboarding(cases: Cases, http_service: HttpService) -> tuple[Case, str, dict[str, Any]]:
    """HR (hannah) starts the case; the contract check (MANUAL) is hers to hand to henry."""
    base = prefix()
    inputs = paths.onboarding_inputs(services_url=f"{http_service.url}{base}")
    case = await Case.start(cases, "employee-onboarding", "hannah", inputs)
    view = await case.view("hannah")
    assert view.name == "Onboarding of Nina Kowalski (2025-03-17)"
    contract = next(p for p in view.planitems if p.id == "contract")
    assert contract.currentState == "Active" and contract.taskState == "Unassigned"
    refused = await case.refused(Claim(actor=actor("henry"), item_id="contract"))
    assert refused.type == "Conflict"  # MANUAL: nobody claims it
    assigned = await case.act(Assign(actor=actor("hannah"), item_id="contract", assignee=actor("henry")))
    assert assigned.task is not None and assigned.task.assignee == user_id("henry")
    return case, base, inputs


async def check_contract(case: Case, http_service: HttpService, base: str) -> None:
    """HR's validator refuses a taken employee number, then accepts the contract; a SELECT
    route needs the next step named."""
    validator = f"{base}/hr/contracts/validate"
    http_service.answer(validator, (422, {"errors": [{"field": "employee_number", "message": "1041 is taken"}]}), (200, {"valid": True}))
    taken = await case.act(Validate(actor=actor("henry"), item_id="contract", output={**paths.CONTRACT, "employee_number": 1041}))
    assert taken.valid is False and taken.errors == [{"field": "employee_number", "message": "1041 is taken"}]
    fine = await case.act(Validate(actor=actor("henry"), item_id="contract", output=paths.CONTRACT))
    assert fine.valid is True and fine.errors == []
    assert http_service.calls_to(validator)[-1] == {"caseId": case.id, "taskId": f"{case.id}.contract", "output": paths.CONTRACT}
    refused = await case.refused(Complete(actor=actor("henry"), item_id="contract", output=paths.CONTRACT))
    assert refused.type == "Invalid"
    assert [e["field"] for e in refused.details[0]["errors"]] == ["next"]


async def test_employee_onboarding_runs_to_its_end_through_the_first_month(
    skipping_cases: Cases, time_skipping_env: Any, http_service: HttpService
) -> None:
    """On the time-skipping server: the one-month timer (P30D) passes at once."""
    await skipping_cases.deploy(definition("expense-claim"))  # the relocation sub-case
    case, base, inputs = await start_onboarding(skipping_cases, http_service)
    accounts = f"{base}/it/accounts"
    http_service.answer(accounts, (201, {**paths.ACCOUNT, "id": 7}))
    await check_contract(case, http_service, base)
    await case.complete("contract", "henry", paths.CONTRACT, next="preparation")  # SELECT

    view = await case.view()
    kickoff = next(p for p in view.planitems if p.id == "kickoff")
    assert kickoff.assignee == user_id(paths.HIRING_MANAGER)  # EVALUATE hiring_manager
    assert states(view)["close-file"] == "Available"
    await case.complete("kickoff", "bob", paths.KICKOFF)
    view = await case.until_item("accounts", "Completed")  # PARALLEL: accounts and workplace
    assert states(view)["workplace"] == "Active" and states(view)["laptop"] == "Active"
    assert http_service.calls_to(accounts) == [paths.accounts_request(inputs, paths.CONTRACT["employee_number"])]
    assert view.file["username"] == "nina" and view.file["email"] == "nina@example.com"

    # remote hire: IT, working on the laptop, plans shipping the equipment home; before ivan
    # holds a task of the case he is only its pool, and the case does not exist for him
    assert await case.handle.query(CaseWorkflow.discretionary, actor("ivan")) is None
    await case.act(Claim(actor=actor("ivan"), item_id="laptop"))
    options = (await case.handle.query(CaseWorkflow.discretionary, actor("ivan"))).items
    assert "ship-equipment" in {o.definitionId for o in options}
    planned = await case.act(Plan(actor=actor("ivan"), definition_id="ship-equipment"))
    assert planned.planItemId == "ship-equipment"
    await case.claim_and_complete("ship-equipment", "ivan", paths.SHIPPED)

    # relocation: HR plans the expense-claim sub-case, which runs to its own end
    planned = await case.act(Plan(actor=actor("henry"), definition_id="relocation"))
    assert planned.planItemId == "relocation"
    relocation = await case.sub_case("relocation")
    child = await relocation.view()
    assert child.file == {"traveller": "nina", "budget": 3000}
    await drive_expense_claim(relocation, "hannah", paths.RELOCATION)
    await assert_expense_claim_ended(relocation, paths.RELOCATION)
    view = await case.until_item("relocation", "Completed")
    assert view.file["relocation_reimbursed"] == paths.RELOCATION.reimbursed

    await case.complete("laptop", "ivan", paths.LAPTOP)
    assert states(await case.view())["ready"] == "Available"  # join: all waits for facilities
    await case.claim_and_complete("workplace", "fiona", paths.WORKPLACE)
    view = await case.view()
    s = states(view)
    assert s["ready"] == s["preparation"] == "Completed"
    assert s["first-weeks"] == "Active" and s["first-day"] == "Enabled"  # manualActivation

    # the first day: the manager starts the welcome by hand
    started = await case.act(Transition(actor=actor("bob"), item_id="first-day", transition="manualStart"))
    assert started.item is not None and started.item.currentState == "Active"
    done = await case.complete("first-day", "bob", paths.FIRST_DAY)
    view = await case.until_item("employed", "Completed")
    assert view.file["status"] == "employed" and view.file["employed_since"] == inputs["start_date"]
    one_month = next(p for p in view.planitems if p.id == "one-month")
    assert one_month.currentState == "Available"
    assert done.task is not None and one_month.occursAt is not None
    assert one_month.occursAt - done.task.lastModified == timedelta(days=30)

    # a month later
    await time_skipping_env.sleep(timedelta(days=30, hours=1))
    view = await case.until_item("review-talk", "Active")
    assert states(view)["one-month"] == "Completed" and states(view)["review"] == "Active"
    await case.complete("review-talk", "bob", paths.REVIEW)  # EVALUATE: already bob's
    planned = await case.act(Plan(actor=actor("bob"), definition_id="extra-training"))  # on_track == false
    assert planned.planItemId == "extra-training"
    await case.claim_and_complete("file-review", "henry", paths.FILED)
    assert states(await case.view())["review"] == "Active"  # the planned training still runs
    await case.claim_and_complete("extra-training", "hannah", paths.TRAINING)

    view = await case.until(lambda v: v.state == "Completed")
    s = states(view)
    assert s["review"] == s["first-weeks"] == s["ready"] == "Completed"
    assert s["close-file"] == s["hire-withdrew"] == "Terminated"
    assert view.file["rating"] == 2 and view.file["course"] == "Billing 101" and view.file["filed"] is True
    history = await case.history()
    assert_in_order(history, [
        ("assign", "contract"), ("complete", "contract"), ("complete", "kickoff"), ("complete", "accounts"),
        ("plan", "ship-equipment"), ("complete", "ship-equipment"), ("plan", "relocation"), ("complete", "relocation"),
        ("complete", "laptop"), ("complete", "workplace"), ("occur", "ready"), ("start", "first-weeks"),
        ("complete", "preparation"), ("manualStart", "first-day"), ("complete", "first-day"), ("set", "employed"),
        ("occur", "one-month"), ("complete", "review-talk"), ("plan", "extra-training"), ("complete", "file-review"),
        ("complete", "extra-training"), ("complete", "review"), ("complete", "first-weeks"), ("case completed", None),
    ])
    assert by(history, "complete", "contract") == {user_id("henry")}
    assert by(history, "manualStart", "first-day") == {user_id("bob")}
    outcome = await case.outcome()
    assert outcome.state == "Completed" and outcome.data["employee_number"] == 1042


async def test_employee_onboarding_closed_after_the_contract(cases: Cases, http_service: HttpService) -> None:
    case, base, _ = await start_onboarding(cases, http_service)
    await check_contract(case, http_service, base)
    await case.complete("contract", "henry", {"employee_number": 1043}, next="close-file")  # SELECT
    view = await case.view()
    assert states(view)["close-file"] == "Active" and states(view)["preparation"] == "Available"
    await case.claim_and_complete("close-file", "hannah", {"reason": "contract not signed"})
    view = await case.until(lambda v: v.state == "Completed")
    s = states(view)
    assert s["close-file"] == "Completed" and s["preparation"] == s["first-weeks"] == "Terminated"
    assert view.file["reason"] == "contract not signed"
    assert http_service.calls_to(f"{base}/it/accounts") == []
    assert_in_order(await case.history(), [
        ("assign", "contract"), ("complete", "contract"), ("start", "close-file"), ("claim", "close-file"),
        ("complete", "close-file"), ("case completed", None),
    ])
    assert (await case.outcome()).state == "Completed"


async def test_employee_onboarding_hire_withdraws(cases: Cases, http_service: HttpService) -> None:
    case, base, _ = await start_onboarding(cases, http_service)
    http_service.answer(f"{base}/it/accounts", (201, paths.ACCOUNT))
    await case.complete("contract", "henry", {"employee_number": 1044}, next="preparation")
    await case.complete("kickoff", "bob", {"agenda": []})
    await case.until_item("laptop", "Active")  # the accounts exist
    raised = await case.act(Transition(actor=actor("bob"), item_id="hire-withdrew", transition="occur"))
    assert raised.item is not None and raised.item.currentState == "Completed"
    view = await case.view()
    s = states(view)
    # the withdrawal stops the preparation and the first weeks (never started) at once
    assert s["preparation"] == s["laptop"] == s["workplace"] == s["first-weeks"] == "Terminated"
    assert s["close-file"] == "Active" and "first-day" not in s
    await case.claim_and_complete("close-file", "henry", {"reason": "took another offer"})
    view = await case.until(lambda v: v.state == "Completed")
    assert states(view)["ready"] != "Completed" and view.file["reason"] == "took another offer"
    assert_in_order(await case.history(), [
        ("complete", "kickoff"), ("complete", "accounts"), ("occur", "hire-withdrew"), ("exit", "preparation"),
        ("start", "close-file"), ("complete", "close-file"), ("case completed", None),
    ])
    assert by(await case.history(), "occur", "hire-withdrew") == {user_id("bob")}
