"""Property-style test: random commands by random actors against the travel request
(examples/definitions/travel-request.yaml, the reference example of the format).

After every accepted command the case's invariants hold; a refused command raised a
DomainError and left the state unchanged; nothing else ever escapes `decide`. Seeded
`random`, so a failure names the seed and step that reproduce it.
"""

from __future__ import annotations

import random
import traceback
from datetime import timedelta
from typing import Any

import pytest

from tests.unit.engine_helpers import T0, actor, example_definition, start_case
from workflows.actor import SYSTEM
from workflows.definition import ROOT_ID
from workflows.engine.commands import (
    Assign,
    ChildDone,
    Claim,
    Complete,
    Delegate,
    MergeFile,
    Plan,
    ProcessDone,
    Revoke,
    Save,
    TaskDue,
    TeamAdd,
    TeamRemove,
    TimerFired,
    Transition,
    Validate,
)
from workflows.engine.decide import decide
from workflows.engine.errors import DomainError
from workflows.engine.events import audit_action
from workflows.engine.state import CaseState, ItemState, TaskState, TeamMember

STEPS = 300
SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]

EMP = actor("emp", "employees")
ACTORS = [
    EMP,
    actor("mgr1", "managers"),
    actor("mgr2", "managers"),
    actor("fin1", "finance"),
    actor("audrey"),
    actor("tess"),  # in the team, no role
    actor("ally", permissions=("PM_ALLCASES",)),
    actor("xavier"),  # outsider
    actor("dan"),  # outsider until someone assigns or delegates to him
]
USER_TRANSITIONS = ["manualStart", "disable", "reenable", "suspend", "resume", "terminate", "complete", "occur", "reactivate"]
OTHER_TRANSITIONS = ["create", "enable", "start", "exit", "fault", "parentSuspend", "parentResume", "close", "bogus"]
OUTPUTS = [
    {},
    {"justification": "because"},
    {"approved": True},
    {"approved": False},
    {"bookingRef": "R-1"},
    {"approved": "yes"},
    {"bogus": 1},
    {"justification": 3},
]
GOOD_OUTPUTS = {
    "submit": [{"justification": "a conference"}],
    "approve": [{"approved": True}, {"approved": True}, {"approved": False}],
    "book": [{"bookingRef": "R-1"}],
}
FILE_DATA = [
    {"amount": 500},
    {"amount": 2000},
    {"amount": 6000.5},
    {"amount": "lots"},
    {"amount": None},
    {"approved": True},
    {"approved": False},
    {"urgent": True},
    {"ledger_url": "http://ledger"},
    {"weird-key": 1, "nested": {"a": [1, None]}},
    {"caseId": "spoof"},
    {},
]
PLANNABLE = ["second-opinion", "audit", "approve", "nope", "book"]
ROLE_HOLDERS = {
    "submit": [EMP],
    "approve": [ACTORS[1], ACTORS[2]],
    "second-opinion": [ACTORS[1], ACTORS[2]],
    "book": [ACTORS[3]],
    "audit": [ACTORS[4]],
}
ROLES = [["manager"], ["finance"], ["traveller"], ["auditor"], [], ["nope"]]


def random_command(rng: random.Random, state: CaseState) -> Any:
    items = list(state.items)
    human = [i.id for i in state.items.values() if i.task is not None and i.state == ItemState.Active]
    item_id = rng.choice(human) if human and rng.random() < 0.6 else rng.choice(items + ["nope"])
    who = rng.choice(ACTORS)
    other = rng.choice(ACTORS)
    kind = rng.choice(
        ["claim"] * 4 + ["complete"] * 5 + ["revoke", "assign", "assign", "delegate", "delegate", "save", "validate"]
        + ["transition"] * 4 + ["plan"] * 2 + ["team_add", "team_remove", "merge_file", "merge_file"]
        + ["timer", "due", "process", "process", "child"]
    )
    # half the time, someone who may plausibly act on the task, so that the run gets somewhere
    task = state.items[item_id].task if item_id in state.items else None
    if task is not None and rng.random() < 0.5:
        if kind == "claim" or task.assignee is None:
            pool = ROLE_HOLDERS.get(state.items[item_id].definition_id, [EMP])
            who = rng.choice(pool)
        elif kind == "assign":
            who = EMP
        else:
            who = next((a for a in ACTORS if a.user_id == task.assignee), actor(task.assignee))
    if kind == "claim":
        return Claim(actor=who, item_id=item_id)
    if kind == "revoke":
        return Revoke(actor=who, item_id=item_id)
    if kind == "assign":
        return Assign(actor=who, item_id=item_id, assignee=other)
    if kind == "delegate":
        return Delegate(actor=who, item_id=item_id, assignee=other)
    if kind == "complete":
        output = rng.choice(OUTPUTS)
        if item_id in state.items and rng.random() < 0.6:
            output = dict(rng.choice(GOOD_OUTPUTS.get(state.items[item_id].definition_id, [{}])))
        return Complete(actor=who, item_id=item_id, output=output, next=rng.choice([None, "approve", "booking"]))
    if kind == "save":
        return Save(actor=who, item_id=item_id, output=rng.choice(OUTPUTS))
    if kind == "validate":
        return Validate(actor=who, item_id=item_id, output=rng.choice(OUTPUTS))
    if kind == "transition":
        # the case plan now and then (suspending or ending the whole case stops the run)
        target = ROOT_ID if rng.random() < 0.05 else rng.choice([i for i in items if i != ROOT_ID] + ["nope"])
        suspended = [i.id for i in state.items.values() if i.state == ItemState.Suspended and not i.parent_suspended]
        if suspended and rng.random() < 0.5:
            target = rng.choice(suspended)
        names = USER_TRANSITIONS if rng.random() < 0.85 else OTHER_TRANSITIONS
        name = rng.choice(names)
        if target in state.items and state.items[target].state == ItemState.Suspended and rng.random() < 0.5:
            name = "resume"
        return Transition(actor=rng.choice([who, EMP, EMP]), item_id=target, transition=name)
    if kind == "plan":
        parent = rng.choice([None, None, rng.choice(items)])
        return Plan(actor=who, definition_id=rng.choice(PLANNABLE), parent_id=parent)
    if kind == "team_add":
        member = TeamMember(userId=other.user_id, isOwner=rng.random() < 0.3, caseRoles=rng.choice(ROLES))
        return TeamAdd(actor=rng.choice([who, EMP]), member=member)
    if kind == "team_remove":
        return TeamRemove(actor=rng.choice([who, EMP]), user_id=other.user_id)
    if kind == "merge_file":
        return MergeFile(actor=rng.choice([who, EMP]), data=rng.choice(FILE_DATA))
    if kind == "timer":
        return TimerFired(actor=SYSTEM, item_id=rng.choice(items + ["reminder"]))
    if kind == "due":
        return TaskDue(actor=SYSTEM, item_id=item_id)
    if kind == "process":
        target = rng.choice([i.id for i in state.items.values() if i.type == "processTask"] or ["ledger"])
        attempt = state.items[target].effect_attempt if target in state.items and rng.random() < 0.7 else rng.randint(0, 3)
        return ProcessDone(actor=SYSTEM, item_id=target, attempt=attempt, ok=rng.random() < 0.7,
                           output=rng.choice([{}, {"ledgerRef": "L1"}]), error="boom")
    target = rng.choice([i.id for i in state.items.values() if i.type == "caseTask"] or ["expenses"])
    return ChildDone(actor=SYSTEM, item_id=target, state=rng.choice(["Completed", "Completed", "Terminated", "Failed"]),
                     data=rng.choice([{}, {"spent": 10}]))


def check_invariants(state: CaseState, where: str) -> None:
    for it in state.items.values():
        t = it.task
        if t is not None:
            if t.task_state == TaskState.Assigned:
                assert t.assignee is not None and t.assignee == t.owner, (where, it.id, t)
            elif t.task_state == TaskState.Delegated:
                assert t.owner is not None and t.assignee is not None and t.assignee != t.owner, (where, it.id, t)
            elif t.task_state == TaskState.Unassigned:
                assert t.assignee is None and t.owner is None, (where, it.id, t)
            # the task's sub-state follows its plan item's state
            if it.state == ItemState.Active:
                assert t.task_state in (TaskState.Unassigned, TaskState.Assigned, TaskState.Delegated), (where, it.id, t)
            elif it.state == ItemState.Suspended:
                assert t.task_state == TaskState.Suspended, (where, it.id, t)
            elif it.state in (ItemState.Completed, ItemState.Terminated):
                assert t.task_state.value == it.state.value, (where, it.id, t)
        if it.id == ROOT_ID:
            continue
        parent = state.items.get(it.parent_id or "")
        assert parent is not None, (where, it.id, "has no parent")
        if it.state == ItemState.Active:
            assert parent.state == ItemState.Active, (where, it.id, "is Active under", parent.id, parent.state)
    if state.closed:
        assert all(i.state not in (ItemState.Active, ItemState.Suspended) for i in state.items.values()), where
    owners = [m for m in state.team if m.isOwner]
    assert owners, (where, "a case keeps at least one owner")
    assert len({m.userId for m in state.team}) == len(state.team), (where, "one team entry per user")


@pytest.mark.parametrize("seed", SEEDS)
def test_random_commands_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    amount = rng.choice([200, 1500, 7000])
    state = start_case(
        example_definition(), EMP,
        {"traveller": "emp", "destination": "Oslo", "amount": amount, "ledger_url": "http://ledger"},
        team=[TeamMember(userId="tess")],
    )
    check_invariants(state, f"seed {seed} at start")
    now = T0
    accepted = refused = 0
    kinds_accepted: set[str] = set()
    kinds_seen: set[str] = set()
    closed_for = 0
    for step in range(STEPS):
        if state.closed:
            closed_for += 1
            if closed_for > 3:
                # a few commands against the closed case, then start over so that most of
                # the run works on an open one
                state = start_case(
                    example_definition(), EMP,
                    {"traveller": "emp", "destination": "Oslo", "amount": rng.choice([200, 1500, 7000]),
                     "ledger_url": "http://ledger"},
                    team=[TeamMember(userId="tess")], when=now,
                )
                closed_for = 0
        now += timedelta(minutes=rng.choice([1, 5, 60, 60 * 24, 60 * 24 * 3]))
        cmd = random_command(rng, state)
        where = f"seed {seed} step {step}: {cmd!r}"
        before = state.model_dump()
        try:
            decision = decide(state, cmd, now)
        except DomainError:
            refused += 1
            assert state.model_dump() == before, f"{where}: a refused command changed the state"
            continue
        except Exception:  # pragma: no cover - what the test is for
            pytest.fail(f"{where}: a non-domain exception escaped decide:\n{traceback.format_exc()}")
        assert state.model_dump() == before, f"{where}: decide changed its input"
        new = decision.state
        if decision.events:
            assert new.version > state.version, f"{where}: events without a new version"
        else:
            assert new.version == state.version, f"{where}: a new version without events"
        check_invariants(new, where)
        for entry in decision.events:  # what happened is typed, and its audit text agrees
            assert entry.event is not None, f"{where}: audit entry {entry.action!r} without a typed event"
            assert audit_action(entry.event) == entry.action, f"{where}: {entry.event!r} recorded as {entry.action!r}"
            kinds_seen.add(type(entry.event).__name__)
        accepted += 1
        if decision.events:
            kinds_accepted.add(cmd.kind)
        state = new
    assert {"TaskClaimed", "ItemTransitioned"} <= kinds_seen, kinds_seen
    # the run must have exercised the engine, not only been refused
    assert accepted > 30 and refused > 30, (accepted, refused)
    assert len(kinds_accepted & {"claim", "complete", "assign", "delegate", "revoke", "save"}) >= 2, kinds_accepted
