"""The example definitions, the demo directory and the paths through each example.

Shared by the tests that drive the examples through the pure engine
(tests/unit/test_examples.py) and through the real workflow on a Temporal server
(tests/integration/test_examples_e2e.py): both walk the same paths, with the same people
and the same outputs, so a path that works in the engine but not in the workflow (or the
other way round) shows up as a difference between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from store.directory import Directory
from workflows.actor import Actor
from workflows.definition import Definition, load_document, parse_definition

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEFINITION_FILES = sorted((EXAMPLES / "definitions").glob("*.yaml"))
KNOWN = {path.stem for path in DEFINITION_FILES}


def raw(name: str) -> dict[str, Any]:
    return load_document((EXAMPLES / "definitions" / f"{name}.yaml").read_text(encoding="utf-8"))


def definition(name: str) -> Definition:
    return parse_definition(raw(name))


@cache
def directory() -> Directory:
    return Directory.load(EXAMPLES / "directory.yaml")


def actor(username: str) -> Actor:
    """The actor a directory user acts as (what the gateway builds after sign-in)."""
    user = directory().by_username(username)
    assert user is not None, username
    return user.to_actor()


def user_id(username: str) -> str:
    return actor(username).user_id


def manager_of(username: str) -> str:
    """The username of whom `username` reports to (the REPORT_TO rule's user)."""
    user = directory().by_username(username)
    assert user is not None and user.reports_to, username
    boss = directory().by_id(user.reports_to)
    assert boss is not None
    return boss.username


# ---------------------------------------------------------------- travel-request

# Over 1000: the manager approves first. `ledger_url` is unreachable here; the end-to-end
# tests point it at a local HTTP service.
TRAVEL = {"traveller": "alice", "destination": "Lisbon", "amount": 1800, "ledger_url": "http://127.0.0.1:9/ledger"}
# 1000 or less: straight to booking.
TRAVEL_SMALL = {**TRAVEL, "traveller": "erin", "amount": 300}
JUSTIFICATION = {"justification": "customer workshop"}
APPROVED = {"approved": True}
REFUSED = {"approved": False}
BOOKED = {"bookingRef": "LIS-42"}


def ledger_entry(case_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What the notify-ledger trigger posts to {ledger_url}/entries (templates render strings)."""
    return {"case": case_id, "amount": str(inputs["amount"])}


def travel_claim(inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs of the expense-claim sub-case the trip starts once booked."""
    return {"traveller": inputs["traveller"], "budget": inputs["amount"]}


# ---------------------------------------------------------------- expense-claim

CLAIM = {"traveller": "alice", "budget": 1000}


@dataclass(frozen=True)
class ExpensePath:
    """One way through an expense claim."""

    id: str
    total: float  # what the receipts add up to
    accepted: float  # what finance accepts
    approved: bool | None  # the manager's decision on the overrun; None: never asked
    reimbursed: float  # what the case works out
    overrun: str  # the end state of the overrun task
    overrun_refused: str  # the end state of the "Overrun refused" milestone
    budget: float = CLAIM["budget"]

    def receipts(self) -> dict[str, Any]:
        return {"total": self.total, "lines": [{"what": "hotel", "amount": self.total}], "nights": 2}

    def check(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "vat": {"rate": 0.23}}

    @property
    def over_budget(self) -> bool:
        return self.total > self.budget


EXPENSE_PATHS = [
    ExpensePath("within-budget", 800, 780, None, 780, "Terminated", "Terminated"),  # no overrun decision
    ExpensePath("overrun-approved", 1200, 1150, True, 1150, "Completed", "Terminated"),
    ExpensePath("overrun-refused", 1200, 1150, False, 1000, "Completed", "Completed"),  # the budget and no more
    ExpensePath("cut-to-budget", 1200, 950, None, 950, "Terminated", "Terminated"),  # finance cut it: overrun exits
]
# The expense claims of the trips above, run as their sub-cases: within the trip's budget.
TRIP_EXPENSES = ExpensePath("trip", 1700, 1650, None, 1650, "Terminated", "Terminated", budget=TRAVEL["amount"])
SMALL_TRIP_EXPENSES = ExpensePath("small-trip", 280, 280, None, 280, "Terminated", "Terminated", budget=TRAVEL_SMALL["amount"])


# ---------------------------------------------------------------- employee-onboarding

# `hiring_manager` is a user id: onboarding_inputs() adds it. `services_url` is unreachable
# here; the end-to-end tests point it at a local HTTP service.
ONBOARDING = {
    "first_name": "Nina",
    "last_name": "Kowalski",
    "start_date": "2025-03-17",
    "services_url": "http://127.0.0.1:9/services",
    "weekly_hours": 40,
    "remote": True,
    "equipment": ["laptop", "headset"],
    "office": {"building": "B2", "floor": 3},
    "relocation_budget": 3000,
}
HIRING_MANAGER = "bob"


def onboarding_inputs(**changes: Any) -> dict[str, Any]:
    return {**ONBOARDING, "hiring_manager": user_id(HIRING_MANAGER), **changes}


CONTRACT = {"employee_number": 1042, "salary_band": "B"}
KICKOFF = {"agenda": ["team lunch", "tooling"], "buddy": "erin"}
ACCOUNT = {"username": "nina", "email": "nina@example.com"}  # what IT's service answers
SHIPPED = {"tracking_number": "1Z999"}
LAPTOP = {"laptop_serial": "PF-1234"}
WORKPLACE = {"badge_number": "B-77", "desk": {"desk": "3.14"}}
FIRST_DAY = {"notes": "all set"}
REVIEW = {"rating": 2, "goals": ["learn the billing system"], "on_track": False}
FILED = {"filed": True}
TRAINING = {"course": "Billing 101", "days": 2}
RELOCATION_REIMBURSED = 2500  # what the relocation sub-case pays in the engine tests (any number)
# The relocation as the sub-case (an expense claim) it is: over budget, the overrun refused.
RELOCATION = ExpensePath("relocation", 3400, 3300, False, 3000, "Completed", "Completed", budget=ONBOARDING["relocation_budget"])


def accounts_request(inputs: dict[str, Any], employee_number: int) -> dict[str, Any]:
    """What the accounts task posts to {services_url}/it/accounts."""
    return {
        "employeeNumber": str(employee_number),
        "firstName": inputs["first_name"],
        "lastName": inputs["last_name"],
        "startDate": inputs["start_date"],
    }
