"""What the ProcessMaker face needs of the engine (seed 001, DESIGN.md 3 and 6): case-level
actions (pause, unpause, cancel, delete, reassign, execute a trigger), the assignment rules
that need the directory or the shell (REPORT_TO, SELF_SERVICE_EVALUATE, BALANCED), starting
a case in a named task, and the delegation fields (previous user, start and finish times).

The cast:
- owen    starts the cases: a case owner with role requester, holding no task
- alice   a worker; reports to mia
- bob     a worker who reports to nobody
- carol   a worker with PM_REASSIGNCASE_SUPERVISOR, not a supervisor
- fay     in group `finance` (the BALANCED task's pool)
- sue     supervises the definition (and holds PM_REASSIGNCASE_SUPERVISOR)
- adam    an administrator outside the case: PM_CANCELCASE, PM_DELETECASE, PM_REASSIGNCASE
- xavier  an outsider: he may not see the cases (NotFound)
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.unit.engine_helpers import (
    T0,
    actor,
    at,
    definition,
    item,
    refuse,
    run,
    run_decision,
    start_case,
)
from workflows.actor import SYSTEM, Actor
from workflows.engine import access, status
from workflows.engine.commands import (
    AutoAssign,
    CancelCase,
    Claim,
    Command,
    Complete,
    Delegate,
    DeleteCase,
    MergeFile,
    Pause,
    PauseEnded,
    Reassign,
    Revoke,
    RunTrigger,
    TeamAdd,
    TimerFired,
    Transition,
    TriggerDone,
    Unpause,
)
from workflows.engine.decide import INTERNAL_KINDS, decide, start
from workflows.engine.errors import Conflict, Forbidden, Invalid, NotFound
from workflows.engine.starting import start_tasks
from workflows.engine.state import CaseState, ItemState, TaskState, TeamMember

OWEN = actor("owen")
ALICE = Actor(user_id="alice", username="alice", reports_to="mia")
BOB = actor("bob")
CAROL = actor("carol", permissions=("PM_REASSIGNCASE_SUPERVISOR",))
FAY = actor("fay", "finance")
SUE = actor("sue", permissions=("PM_REASSIGNCASE_SUPERVISOR",))
ADAM = actor("adam", permissions=("PM_CANCELCASE", "PM_DELETECASE", "PM_REASSIGNCASE"))
XAVIER = actor("xavier")

NOTIFY = {
    "method": "PUT",
    "url": "http://svc.test/cases/{caseId}/notes",
    "json": {"amount": "{amount}", "tags": ["case {caseNumber}"], "n": 1},
    "headers": {"X-Case": "{caseNumber}"},
    "output": {"ref": "$.ref"},
}

# first (worker) -> approve (REPORT_TO) -> book (BALANCED, group finance); a timer starts a
# REPORT_TO task by itself; `notifying` runs the http trigger as a process task.
DEFN = definition(
    {
        "roles": {
            "worker": {"users": ["alice", "bob", "carol"]},
            "requester": {},
            "approver": {},
            "finance": {"groups": ["finance"]},
        },
        "starterRole": "requester",
        "supervisors": ["sue"],
        "inputs": {"amount": {"type": "number"}},
        "triggers": {
            "stamp": {"set": {"stamped": "true", "double": "amount * 2"}},
            "broken": {"set": {"stamped": "no_such_variable + 1"}},
            "notify": {"http": NOTIFY},
        },
        "plan": {
            "items": [
                {
                    "id": "first", "type": "humanTask", "name": "First", "role": "worker",
                    "output": {"answer": {"type": "string"}},
                    "route": {"to": [{"task": "approve"}]},
                },
                {
                    "id": "approve", "type": "humanTask", "name": "Approve", "role": "approver",
                    "assignment": {"rule": "REPORT_TO"}, "route": {"to": [{"task": "book"}]},
                },
                {"id": "book", "type": "humanTask", "name": "Book", "role": "finance", "assignment": {"rule": "BALANCED"}},
                {"id": "later", "type": "userEvent", "name": "Later"},
                {"id": "tick", "type": "timer", "name": "Tick", "after": "PT1H", "entry": [{"on": ["later.occur"]}]},
                {
                    "id": "escalate", "type": "humanTask", "name": "Escalate", "role": "approver",
                    "assignment": {"rule": "REPORT_TO"}, "entry": [{"on": ["tick.occur"]}],
                },
                {"id": "notifying", "type": "processTask", "name": "Notifying", "trigger": "notify", "entry": [{"on": ["later.occur"]}]},
            ],
        },
    }
)

# Two tasks the case starts in, side by side.
PAR = definition(
    {
        "roles": {"worker": {"users": ["alice", "bob", "carol"]}, "requester": {}},
        "starterRole": "requester",
        "supervisors": ["sue"],
        "plan": {
            "autoComplete": False,
            "items": [
                {"id": "a", "type": "humanTask", "name": "A", "role": "worker"},
                {"id": "b", "type": "humanTask", "name": "B", "role": "worker"},
                {"id": "m", "type": "humanTask", "name": "M", "role": "worker", "assignment": {"rule": "MANUAL"}, "manualActivation": True},
            ],
        },
    }
)

# SELF_SERVICE_EVALUATE: the pool is the case variable `pool`, not the role.
SSE = definition(
    {
        "roles": {"claimant": {"users": ["alice", "bob"], "groups": ["employees"]}, "requester": {}},
        "starterRole": "requester",
        "inputs": {"pool": {"type": "array"}},
        "plan": {
            "autoComplete": False,
            "items": [
                {
                    "id": "receipts", "type": "humanTask", "name": "Receipts", "role": "claimant",
                    "assignment": {"rule": "SELF_SERVICE_EVALUATE", "variable": "pool"},
                },
            ],
        },
    }
)


def new_case(defn=DEFN, inputs: dict[str, Any] | None = None) -> CaseState:
    return start_case(defn, OWEN, inputs if inputs is not None else ({"amount": 21} if defn is DEFN else {}))


def held_by_alice(defn=DEFN) -> CaseState:
    """`first` (or PAR's `a`) claimed by alice at T0 + 1 minute."""
    return run(new_case(defn), Claim(actor=ALICE, item_id="first" if defn is DEFN else "a"), at(1))


def task_of(state: CaseState, item_id: str):
    t = item(state, item_id).task
    assert t is not None
    return t


# ------------------------------------------------------------------ the contract


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "pause", "until": "2025-03-04T09:00:00Z"},
        {"kind": "pause"},
        {"kind": "unpause"},
        {"kind": "cancel_case", "reason": "duplicate"},
        {"kind": "delete_case"},
        {"kind": "reassign", "item_id": "first", "source": "alice", "target": {"user_id": "bob"}},
        {"kind": "run_trigger", "name": "stamp"},
        {"kind": "auto_assign", "item_id": "book", "user_id": "fay"},
        {"kind": "pause_ended"},
        {"kind": "trigger_done", "name": "notify", "ok": True, "output": {"ref": "r"}},
    ],
)
def test_new_commands_parse_by_kind(raw: dict[str, Any]) -> None:
    cmd = TypeAdapter(Command).validate_python({**raw, "actor": {"user_id": "u"}})
    assert cmd.kind == raw["kind"]


def test_shell_commands_are_internal() -> None:
    assert {"auto_assign", "pause_ended", "trigger_done"} <= INTERNAL_KINDS
    assert not {"pause", "unpause", "cancel_case", "delete_case", "reassign", "run_trigger"} & INTERNAL_KINDS


def test_states_saved_before_the_new_fields_still_load() -> None:
    s = held_by_alice()
    raw = s.model_dump(mode="json")
    for name in ("paused", "paused_until", "cancelled", "deleted"):
        del raw[name]
    for it in raw["items"].values():
        if it["task"]:
            for name in ("previous_user", "activated_at", "started_at", "finished_at", "awaiting_pick"):
                del it["task"][name]
    old = CaseState.model_validate(raw)
    assert not old.paused and old.paused_until is None and not old.cancelled and not old.deleted
    assert task_of(old, "first").previous_user is None and not task_of(old, "first").awaiting_pick


# ------------------------------------------------------------------ delegation fields


def test_activation_records_who_started_the_task_and_when() -> None:
    s = new_case()
    first = task_of(s, "first")
    assert first.previous_user is None  # the case started here: nobody routed it (ProcessMaker shows "")
    assert first.activated_at == T0 and first.started_at is None and first.finished_at is None


def test_started_at_is_the_first_assignees_time_and_finished_at_the_end() -> None:
    s = held_by_alice()
    assert task_of(s, "first").started_at == at(1)
    s = run(s, Delegate(actor=ALICE, item_id="first", assignee=BOB), at(2))
    s = run(s, Revoke(actor=BOB, item_id="first"), at(3))
    s = run(s, Revoke(actor=ALICE, item_id="first"), at(4))
    s = run(s, Claim(actor=BOB, item_id="first"), at(5))
    assert task_of(s, "first").started_at == at(1)  # hand-overs keep the first holder's time
    s = run(s, Complete(actor=BOB, item_id="first"), at(6))
    assert task_of(s, "first").finished_at == at(6)
    approve = task_of(s, "approve")
    assert approve.previous_user == "bob" and approve.activated_at == at(6)


def test_terminated_and_exited_tasks_get_finished_at() -> None:
    s = run(new_case(PAR), Transition(actor=OWEN, item_id="a", transition="terminate"), at(1))
    assert task_of(s, "a").finished_at == at(1) and task_of(s, "b").finished_at is None
    s = run(s, Transition(actor=OWEN, item_id="casePlan", transition="terminate"), at(2))
    assert task_of(s, "a").finished_at == at(1)  # ended once, not again
    assert task_of(s, "b").finished_at == at(2)  # exited with its case


def test_a_task_the_shell_activates_has_no_previous_user() -> None:
    s = run(new_case(), Transition(actor=OWEN, item_id="later", transition="occur"), at(1))
    s = run(s, TimerFired(actor=SYSTEM, item_id="tick"), at(61))
    assert item(s, "escalate").state == ItemState.Active
    assert task_of(s, "escalate").previous_user is None


# ------------------------------------------------------------------ REPORT_TO


def test_report_to_goes_to_the_manager_of_the_user_whose_action_started_it() -> None:
    s = run(held_by_alice(), Complete(actor=ALICE, item_id="first"), at(2))
    approve = task_of(s, "approve")
    assert (approve.task_state, approve.assignee, approve.owner) == (TaskState.Assigned, "mia", "mia")
    assert approve.started_at == at(2) and approve.previous_user == "alice"
    assert access.member(s, "mia") is not None and "approver" in access.member(s, "mia").caseRoles


def test_report_to_without_a_manager_leaves_the_task_to_its_pool() -> None:
    s = run(new_case(), Claim(actor=BOB, item_id="first"), at(1))
    d = run_decision(s, Complete(actor=BOB, item_id="first"), at(2))
    approve = task_of(d.state, "approve")
    assert (approve.task_state, approve.assignee, approve.started_at) == (TaskState.Unassigned, None, None)
    assert any(e.action == "assign" and e.planItemId == "approve" and "nobody" in e.detail for e in d.events)


def test_report_to_started_by_the_shell_stays_unassigned() -> None:
    # the owner's raising the event starts the timer; the timer (the shell) starts the task
    s = run(new_case(), Transition(actor=OWEN, item_id="later", transition="occur"), at(1))
    s = run(s, TimerFired(actor=SYSTEM, item_id="tick"), at(61))
    assert task_of(s, "escalate").task_state == TaskState.Unassigned


# ------------------------------------------------------------------ SELF_SERVICE_EVALUATE


@pytest.mark.parametrize(
    "pool,who,allowed",
    [
        ("alice", ALICE, True),
        ("alice", BOB, False),  # holds the role, but the variable does not name him
        (["bob", "carol"], actor("carol"), True),  # named, though not holding the role
        (["bob", "group:auditors"], actor("ann", "auditors"), True),
        (["bob", "group:auditors"], actor("ann", "employees"), False),  # in the role's group only
        ([], ALICE, False),
        (None, ALICE, False),
        (42, ALICE, False),
    ],
)
def test_self_service_evaluate_claim_follows_the_variable(pool: Any, who: Actor, allowed: bool) -> None:
    s = new_case(SSE)
    if pool is not None:
        s = run(s, MergeFile(actor=OWEN, data={"pool": pool}), at(1))
    if not who.is_named_by(["owen"]):
        s = run(s, TeamAdd(actor=OWEN, member=TeamMember(userId=who.user_id)), at(2))  # so they see the case
    cmd = Claim(actor=who, item_id="receipts")
    if allowed:
        assert task_of(run(s, cmd, at(3)), "receipts").assignee == who.user_id
    else:
        refuse(s, cmd, Forbidden, at(3))


def test_self_service_evaluate_pool_and_candidates() -> None:
    s = run(new_case(SSE), MergeFile(actor=OWEN, data={"pool": ["user:carol", "bob", "group:auditors", "bob"]}), at(1))
    model = s.definition.plan.items[0]
    assert access.pool_users(s, model) == (["bob", "carol"], ["auditors"])
    assert access.candidate_principals(s, model) == {"user:bob", "user:carol", "group:auditors"}
    s = run(s, MergeFile(actor=OWEN, data={"pool": "alice"}), at(2))
    assert access.pool_users(s, model) == (["alice"], [])
    assert task_of(s, "receipts").task_state == TaskState.Unassigned  # nobody at start


# ------------------------------------------------------------------ BALANCED


def at_book() -> CaseState:
    s = run(held_by_alice(), Complete(actor=ALICE, item_id="first"), at(2))
    mia = Actor(user_id="mia", username="mia")
    return run(s, Complete(actor=mia, item_id="approve"), at(3))


def test_balanced_waits_for_the_shells_pick_then_auto_assign_assigns() -> None:
    s = at_book()
    book = task_of(s, "book")
    assert book.awaiting_pick and book.task_state == TaskState.Unassigned and book.assignee is None
    assert access.pool_users(s, s.definition.plan.items[2]) == ([], ["finance"])
    s = run(s, AutoAssign(actor=SYSTEM, item_id="book", user_id="fay"), at(4))
    book = task_of(s, "book")
    assert (book.task_state, book.assignee, book.owner, book.started_at) == (TaskState.Assigned, "fay", "fay", at(4))
    assert not book.awaiting_pick
    assert "finance" in access.member(s, "fay").caseRoles  # like EVALUATE: the pick joins the team


@pytest.mark.parametrize("setup", ["claimed", "unknown item", "not started", "closed"])
def test_a_late_or_stray_auto_assign_changes_nothing(setup: str) -> None:
    s = at_book()
    item_id = "book"
    if setup == "claimed":
        s = run(s, Claim(actor=FAY, item_id="book"), at(4))
    elif setup == "unknown item":
        item_id = "nope"
    elif setup == "not started":
        s, item_id = new_case(), "book"
    elif setup == "closed":
        s = run(s, CancelCase(actor=ADAM), at(4))
    d = run_decision(s, AutoAssign(actor=SYSTEM, item_id=item_id, user_id="zed"), at(5))
    assert d.events == [] and d.state.version == s.version
    assert all(i.task is None or i.task.assignee != "zed" for i in d.state.items.values())


def test_auto_assign_while_paused_waits_and_the_task_keeps_waiting_for_a_pick() -> None:
    s = run(at_book(), Pause(actor=SUE), at(4))
    s = run(s, AutoAssign(actor=SYSTEM, item_id="book", user_id="fay"), at(5))
    assert task_of(s, "book").assignee is None
    s = run(s, Unpause(actor=SUE), at(6))
    assert task_of(s, "book").awaiting_pick and item(s, "book").state == ItemState.Active


# ------------------------------------------------------------------ who may claim (candidates)


def test_candidate_principals() -> None:
    s = run(new_case(PAR), TeamAdd(actor=OWEN, member=TeamMember(userId="tess", caseRoles=["worker"])), at(1))
    a, m = s.definition.plan.items[0], s.definition.plan.items[2]
    assert access.candidate_principals(s, a) == {"user:alice", "user:bob", "user:carol", "user:tess"}
    assert access.candidate_principals(s, m) == set()  # MANUAL: assigned, never claimed
    assert access.pool_users(s, m) == (["alice", "bob", "carol", "tess"], [])
    roleless = a.model_copy(update={"role": None})
    assert access.candidate_principals(s, roleless) == {"user:owen", "user:tess"}  # the team
    assert access.pool_users(s, roleless) == (["owen", "tess"], [])


# ------------------------------------------------------------------ pause and unpause


@pytest.mark.parametrize("who", [ALICE, SUE])
def test_pause_suspends_the_case_and_unpause_restores_it(who: Actor) -> None:
    s = held_by_alice()
    d = run_decision(s, Pause(actor=who), at(2))
    p = d.state
    assert p.paused and p.paused_until is None and status.app_status(p) == "PAUSED"
    assert p.plan.state == ItemState.Suspended and item(p, "first").state == ItemState.Suspended
    assert task_of(p, "first").task_state == TaskState.Suspended and task_of(p, "first").assignee == "alice"
    assert "pause" in [e.action for e in d.events] and p.version == s.version + 1
    u = run(p, Unpause(actor=who), at(3))
    assert not u.paused and u.paused_until is None and status.app_status(u) == "DRAFT"
    assert u.plan.state == ItemState.Active and item(u, "first").state == ItemState.Active
    assert task_of(u, "first").task_state == TaskState.Assigned


def test_unpause_returns_every_task_to_its_sub_state_and_leaves_a_user_suspended_one() -> None:
    s = run(new_case(PAR), Claim(actor=ALICE, item_id="a"), at(1))
    s = run(s, Delegate(actor=ALICE, item_id="a", assignee=BOB), at(2))
    s = run(s, Transition(actor=OWEN, item_id="b", transition="suspend"), at(3))
    s = run(s, Pause(actor=BOB), at(4))
    assert {item(s, i).state for i in ("a", "b", "m")} == {ItemState.Suspended}
    s = run(s, Unpause(actor=SUE), at(5))
    a = task_of(s, "a")
    assert (item(s, "a").state, a.task_state, a.assignee, a.owner) == (ItemState.Active, TaskState.Delegated, "bob", "alice")
    assert item(s, "b").state == ItemState.Suspended  # suspended by a user before the pause
    assert item(s, "m").state == ItemState.Enabled


@pytest.mark.parametrize(
    "cmd",
    [
        Claim(actor=OWEN, item_id="first"),
        Complete(actor=ALICE, item_id="first"),
        Revoke(actor=ALICE, item_id="first"),
        Delegate(actor=ALICE, item_id="first", assignee=BOB),
        Transition(actor=OWEN, item_id="later", transition="occur"),
        Transition(actor=OWEN, item_id="casePlan", transition="resume"),
        MergeFile(actor=OWEN, data={"x": 1}),
        RunTrigger(actor=ALICE, name="stamp"),
    ],
    ids=lambda c: c.kind + ("-" + c.transition if isinstance(c, Transition) else ""),
)
def test_work_on_a_paused_case_is_refused(cmd: Any) -> None:
    s = run(held_by_alice(), Pause(actor=ALICE), at(2))
    assert refuse(s, cmd, Conflict, at(3)).message == "the case is paused"


def test_the_team_may_change_while_paused() -> None:
    s = run(held_by_alice(), Pause(actor=ALICE), at(2))
    s = run(s, TeamAdd(actor=OWEN, member=TeamMember(userId="tess")), at(3))
    assert access.member(s, "tess") is not None and s.paused


# bob holds the role of the task alice holds, and is not in the team: the case does not exist for him
@pytest.mark.parametrize("who,error", [(OWEN, Forbidden), (BOB, NotFound), (ADAM, NotFound), (XAVIER, NotFound)])
def test_who_may_not_pause_or_unpause(who: Actor, error: type) -> None:
    s = held_by_alice()
    refuse(s, Pause(actor=who), error, at(2))
    refuse(run(s, Pause(actor=ALICE), at(2)), Unpause(actor=who), error, at(3))


def test_pause_conflicts_and_invalid_dates() -> None:
    s = held_by_alice()
    paused = run(s, Pause(actor=ALICE), at(2))
    refuse(paused, Pause(actor=ALICE), Conflict, at(3))
    refuse(s, Unpause(actor=ALICE), Conflict, at(3))  # not paused
    for when in (at(2), at(1)):  # now, or already past
        err = refuse(s, Pause(actor=ALICE, until=when), Invalid, at(2))
        assert err.details[0]["field"] == "until" and err.reason == "past_date"
    suspended = run(s, Transition(actor=OWEN, item_id="casePlan", transition="suspend"), at(2))
    refuse(suspended, Pause(actor=ALICE), Conflict, at(3))
    done = run(s, CancelCase(actor=ALICE), at(2))
    refuse(done, Pause(actor=SUE), Conflict, at(3))


def test_pause_until_a_date_ends_when_the_shell_reports_it() -> None:
    s = run(held_by_alice(), Pause(actor=ALICE, until=at(days=2)), at(2))
    assert s.paused_until == at(days=2)
    early = run_decision(s, PauseEnded(actor=SYSTEM), at(days=1))
    assert early.events == [] and early.state.paused and early.state.version == s.version
    d = run_decision(s, PauseEnded(actor=SYSTEM), at(days=2))
    assert not d.state.paused and task_of(d.state, "first").task_state == TaskState.Assigned
    assert [e.action for e in d.events][-1] == "unpause"


def test_unpause_at_a_future_date_moves_the_end_of_the_pause() -> None:
    s = run(held_by_alice(), Pause(actor=ALICE), at(2))
    s = run(s, Unpause(actor=ALICE, at=at(days=1)), at(3))
    assert s.paused and s.paused_until == at(days=1) and item(s, "first").state == ItemState.Suspended
    assert run_decision(s, PauseEnded(actor=SYSTEM), at(days=0.5)).events == []
    s = run(s, PauseEnded(actor=SYSTEM), at(days=1, minutes=1))
    assert not s.paused and item(s, "first").state == ItemState.Active


def test_unpause_at_a_past_date_unpauses_now() -> None:
    s = run(held_by_alice(), Pause(actor=ALICE, until=at(days=3)), at(2))
    s = run(s, Unpause(actor=ALICE, at=at(1)), at(3))
    assert not s.paused and s.paused_until is None


def test_pause_ended_after_a_manual_unpause_changes_nothing() -> None:
    s = run(held_by_alice(), Pause(actor=ALICE, until=at(days=1)), at(2))
    s = run(s, Unpause(actor=ALICE), at(3))
    d = run_decision(s, PauseEnded(actor=SYSTEM), at(days=1))
    assert d.events == [] and d.state.version == s.version


def test_pause_ended_of_an_indefinite_pause_changes_nothing() -> None:
    s = run(held_by_alice(), Pause(actor=ALICE), at(2))
    assert run_decision(s, PauseEnded(actor=SYSTEM), at(days=30)).state.paused


# ------------------------------------------------------------------ cancel


@pytest.mark.parametrize("who", [ALICE, ADAM])  # the assigned user; PM_CANCELCASE, even from outside
def test_cancel_terminates_the_case(who: Actor) -> None:
    s = held_by_alice()
    d = run_decision(s, CancelCase(actor=who, reason="duplicate"), at(2))
    c = d.state
    assert c.cancelled and c.plan.state == ItemState.Terminated and c.closed
    assert status.app_status(c) == "CANCELLED"
    assert task_of(c, "first").task_state == TaskState.Terminated and task_of(c, "first").finished_at == at(2)
    assert any(e.action == "case cancelled" and e.detail == "duplicate" for e in d.events)


@pytest.mark.parametrize("who,error", [(OWEN, Forbidden), (BOB, NotFound), (SUE, Forbidden), (XAVIER, NotFound)])
def test_who_may_not_cancel(who: Actor, error: type) -> None:
    refuse(held_by_alice(), CancelCase(actor=who), error, at(2))


def test_cancel_twice_is_a_conflict_with_its_reason() -> None:
    """The engine says why in a code (the ProcessMaker face words it as its seed does)."""
    s = run(held_by_alice(), CancelCase(actor=ALICE), at(2))
    err = refuse(s, CancelCase(actor=ADAM), Conflict, at(3))
    assert (err.message, err.reason) == ("case 'case1' is already cancelled", "already_cancelled")
    refuse(s, Claim(actor=ALICE, item_id="first"), Conflict, at(3))


def test_cancel_of_a_completed_case_is_a_conflict() -> None:
    s = run(new_case(PAR), Transition(actor=OWEN, item_id="casePlan", transition="terminate"), at(1))
    err = refuse(s, CancelCase(actor=ADAM), Conflict, at(2))
    assert err.reason == "case_closed" and "already cancelled" not in err.message


def test_cancel_of_a_paused_case_ends_the_pause() -> None:
    s = run(held_by_alice(), Pause(actor=ALICE, until=at(days=1)), at(2))
    s = run(s, CancelCase(actor=ALICE), at(3))
    assert s.cancelled and not s.paused and s.paused_until is None and s.plan.state == ItemState.Terminated


# ------------------------------------------------------------------ delete


@pytest.mark.parametrize("who", [ALICE, ADAM])  # the first task's user; PM_DELETECASE
def test_delete_a_draft_in_its_first_task(who: Actor) -> None:
    s = held_by_alice()
    d = run_decision(s, DeleteCase(actor=who), at(2))
    gone = d.state
    assert gone.deleted and gone.plan.state == ItemState.Terminated and status.app_status(gone) == "DELETED"
    assert any(e.action == "case deleted" for e in d.events)
    # a deleted case exists for nobody
    assert not access.can_see(gone, OWEN)
    for cmd in (Claim(actor=BOB, item_id="first"), CancelCase(actor=ADAM), DeleteCase(actor=ADAM)):
        refuse(gone, cmd, NotFound, at(3))


def test_delete_an_unassigned_draft_needs_the_permission() -> None:
    s = new_case()
    refuse(s, DeleteCase(actor=OWEN), Forbidden)
    assert run(s, DeleteCase(actor=ADAM)).deleted


@pytest.mark.parametrize("who,error", [(OWEN, Forbidden), (BOB, NotFound), (SUE, Forbidden), (XAVIER, NotFound)])
def test_who_may_not_delete(who: Actor, error: type) -> None:
    refuse(held_by_alice(), DeleteCase(actor=who), error, at(2))


def test_only_a_draft_in_its_first_task_can_be_deleted() -> None:
    s = run(held_by_alice(), Complete(actor=ALICE, item_id="first"), at(2))
    assert status.app_status(s) == "TO_DO"
    refuse(s, DeleteCase(actor=ADAM), Conflict, at(3))
    two = new_case(PAR)  # two first tasks: not "its first task"
    refuse(two, DeleteCase(actor=ADAM), Conflict)
    paused = run(held_by_alice(), Pause(actor=ALICE), at(2))
    refuse(paused, DeleteCase(actor=ALICE), Conflict, at(3))
    ended = run(held_by_alice(), Transition(actor=OWEN, item_id="first", transition="terminate"), at(2))
    refuse(ended, DeleteCase(actor=ADAM), Conflict, at(3))


# ------------------------------------------------------------------ reassign


@pytest.mark.parametrize("who", [ADAM, SUE])  # PM_REASSIGNCASE; PM_REASSIGNCASE_SUPERVISOR as supervisor
def test_reassign_hands_the_task_to_another_user_of_its_pool(who: Actor) -> None:
    s = held_by_alice()
    d = run_decision(s, Reassign(actor=who, item_id="first", source="alice", target=BOB), at(2))
    t = task_of(d.state, "first")
    assert (t.task_state, t.assignee, t.owner, t.previous_user) == (TaskState.Assigned, "bob", "bob", "alice")
    assert t.started_at == at(1)  # the first holder's time stays
    assert any(e.action == "reassign" and e.planItemId == "first" for e in d.events)


def test_reassign_of_a_delegated_task_takes_it_from_the_delegate() -> None:
    s = run(held_by_alice(), Delegate(actor=ALICE, item_id="first", assignee=BOB), at(2))
    s = run(s, Reassign(actor=ADAM, item_id="first", source="bob", target=CAROL), at(3))
    t = task_of(s, "first")
    assert (t.task_state, t.assignee, t.owner, t.previous_user) == (TaskState.Assigned, "carol", "carol", "bob")


# carol: PM_REASSIGNCASE_SUPERVISOR without supervising, outside the team: no case for her
@pytest.mark.parametrize("who,error", [(ALICE, Forbidden), (OWEN, Forbidden), (CAROL, NotFound), (XAVIER, NotFound)])
def test_who_may_not_reassign(who: Actor, error: type) -> None:
    refuse(held_by_alice(), Reassign(actor=who, item_id="first", source="alice", target=BOB), error, at(2))


@pytest.mark.parametrize(
    "source,target,error,message,reason",
    [
        ("bob", CAROL, Conflict, "not assigned to the source user", "not_source"),  # and not who holds it
        ("alice", ALICE, Conflict, "already assigned to that user", "same_assignee"),
        ("alice", actor("alice"), Conflict, "already assigned to that user", "same_assignee"),
        ("alice", OWEN, Invalid, "may not work on", "not_in_pool"),
        ("alice", FAY, Invalid, "may not work on", "not_in_pool"),
    ],
)
def test_reassign_refusals(source: str, target: Actor, error: type, message: str, reason: str) -> None:
    err = refuse(held_by_alice(), Reassign(actor=ADAM, item_id="first", source=source, target=target), error, at(2))
    assert message in err.message and err.reason == reason
    if error is Invalid:
        assert err.details == [{"field": "target", "message": "is not in the pool of the task"}]


def test_reassign_needs_an_open_assigned_task_and_an_unpaused_case() -> None:
    s = new_case()
    refuse(s, Reassign(actor=ADAM, item_id="first", source="alice", target=BOB), Conflict)  # nobody holds it
    refuse(s, Reassign(actor=ADAM, item_id="approve", source="alice", target=BOB), Conflict)  # not started
    refuse(s, Reassign(actor=ADAM, item_id="nope", source="alice", target=BOB), NotFound)
    done = run(held_by_alice(), Complete(actor=ALICE, item_id="first"), at(2))
    refuse(done, Reassign(actor=ADAM, item_id="first", source="alice", target=BOB), Conflict, at(3))
    paused = run(held_by_alice(), Pause(actor=ALICE), at(2))
    err = refuse(paused, Reassign(actor=ADAM, item_id="first", source="alice", target=BOB), Conflict, at(3))
    assert err.message == "paused cases can't be reassigned"
    refuse(paused, Reassign(actor=ALICE, item_id="first", source="alice", target=BOB), Forbidden, at(3))


def test_reassign_within_a_self_service_evaluate_pool() -> None:
    s = run(new_case(SSE), MergeFile(actor=OWEN, data={"pool": ["alice", "carol"]}), at(1))
    s = run(s, Claim(actor=ALICE, item_id="receipts"), at(2))
    refuse(s, Reassign(actor=ADAM, item_id="receipts", source="alice", target=BOB), Invalid, at(3))  # role, not pool
    s = run(s, Reassign(actor=ADAM, item_id="receipts", source="alice", target=actor("carol")), at(3))
    assert task_of(s, "receipts").assignee == "carol"


# ------------------------------------------------------------------ execute trigger


def test_a_set_trigger_runs_at_once() -> None:
    who = ALICE  # the user assigned to the case
    s = held_by_alice()
    d = run_decision(s, RunTrigger(actor=who, name="stamp"), at(2))
    assert d.state.data["stamped"] is True and d.state.data["double"] == 42
    assert d.state.version == s.version + 1 and d.trigger_call is None
    assert [e.action for e in d.events] == ["trigger", "set"]


# ProcessMaker's rule: only the user assigned to the case, not its owner nor a supervisor
@pytest.mark.parametrize("who,error", [(OWEN, Forbidden), (SUE, Forbidden), (BOB, NotFound), (ADAM, NotFound), (XAVIER, NotFound)])
def test_who_may_not_run_a_trigger(who: Actor, error: type) -> None:
    refuse(held_by_alice(), RunTrigger(actor=who, name="stamp"), error, at(2))


def test_a_case_under_the_first_rules_lets_its_owner_run_a_trigger() -> None:
    """A case recorded before the rules by team keeps deciding as it did (replay)."""
    s = held_by_alice().model_copy(update={"access_rules": 1})
    assert run_decision(s, RunTrigger(actor=OWEN, name="stamp"), at(2)).state.data["stamped"] is True


def test_unknown_or_failing_trigger() -> None:
    s = held_by_alice()
    refuse(s, RunTrigger(actor=ALICE, name="nope"), NotFound, at(2))
    err = refuse(s, RunTrigger(actor=ALICE, name="broken"), Invalid, at(2))
    assert err.details and err.details[0]["field"] == "triggers.broken" and "stamped" in err.details[0]["message"]


def test_an_http_trigger_is_handed_to_the_shell_and_changes_nothing() -> None:
    s = held_by_alice()
    d = run_decision(s, RunTrigger(actor=ALICE, name="notify"), at(2))
    assert d.trigger_call == {
        "method": "PUT",
        "url": "http://svc.test/cases/case1/notes",
        "json": {"amount": "21", "tags": ["case 1"], "n": 1},
        "headers": {"X-Case": "1"},
        "output": {"ref": "$.ref"},
    }
    assert d.events == [] and d.state is s and d.state.version == s.version


def test_an_http_trigger_is_rendered_as_the_process_task_that_runs_it() -> None:
    s = held_by_alice()
    call = run_decision(s, RunTrigger(actor=ALICE, name="notify"), at(2)).trigger_call
    s = run(s, Transition(actor=OWEN, item_id="later", transition="occur"), at(2))
    assert item(s, "notifying").effect == {"kind": "http", **call}


def test_trigger_done_merges_the_output_or_records_the_failure() -> None:
    s = held_by_alice()
    d = run_decision(s, TriggerDone(actor=SYSTEM, name="notify", ok=True, output={"ref": "N-1"}), at(3))
    assert d.state.data["ref"] == "N-1" and d.state.version == s.version + 1
    assert [e.action for e in d.events] == ["trigger"]
    d = run_decision(s, TriggerDone(actor=SYSTEM, name="notify", ok=False, error="503 from svc"), at(3))
    assert "ref" not in d.state.data and d.events[0].action == "trigger failed" and "503" in d.events[0].detail
    closed = run(s, CancelCase(actor=ALICE), at(3))
    assert run_decision(closed, TriggerDone(actor=SYSTEM, name="notify", ok=True, output={"ref": "x"}), at(4)).events == []


# ------------------------------------------------------------------ starting in a named task


def begin(defn=DEFN, **kw: Any):
    inputs = {"amount": 21} if defn is DEFN else {}
    return start(defn, case_id="case1", case_number=1, actor=OWEN, inputs=inputs, team=[], at=T0, **kw)


def test_start_in_a_task_for_a_user() -> None:
    d = begin(start_task="first", start_user=ALICE)
    t = task_of(d.state, "first")
    assert (t.task_state, t.assignee, t.owner, t.started_at) == (TaskState.Assigned, "alice", "alice", T0)
    assert "worker" in access.member(d.state, "alice").caseRoles
    assert status.app_status(d.state) == "DRAFT" and d.state.version == 1
    assert any(e.action == "assign" and e.planItemId == "first" for e in d.events)


def test_start_in_a_task_without_a_user_leaves_it_to_its_pool() -> None:
    assert task_of(begin(start_task="first").state, "first").task_state == TaskState.Unassigned


@pytest.mark.parametrize("task", ["approve", "book", "nope", "later"])
def test_start_in_a_task_that_does_not_start_the_case_is_invalid(task: str) -> None:
    with pytest.raises(Invalid) as info:
        begin(start_task=task, start_user=ALICE)
    assert info.value.details == [{"field": "tas_uid", "message": "is not a starting task"}]


def test_start_in_a_task_for_a_user_outside_its_pool_is_forbidden() -> None:
    with pytest.raises(Forbidden) as info:
        begin(start_task="first", start_user=XAVIER)
    assert info.value.message == "user is not in the pool of the starting task"


def test_start_for_a_user_the_self_service_evaluate_variable_names() -> None:
    kw: dict[str, Any] = {"case_id": "c", "case_number": 1, "actor": OWEN, "team": [], "at": T0, "start_task": "receipts"}
    d = start(SSE, inputs={"pool": ["alice"]}, start_user=ALICE, **kw)
    assert task_of(d.state, "receipts").assignee == "alice"
    with pytest.raises(Forbidden):  # holds the role, but the variable does not name him
        start(SSE, inputs={"pool": ["alice"]}, start_user=BOB, **kw)
    with pytest.raises(Forbidden):  # nobody named
        start(SSE, inputs={}, start_user=ALICE, **kw)


def test_start_tasks_are_the_tasks_a_case_starts_in() -> None:
    assert [t.id for t in start_tasks(DEFN)] == ["first"]
    assert [t.id for t in start_tasks(PAR)] == ["a", "b"]  # not the manually started one
    nested = definition(
        {
            "plan": {
                "items": [
                    {"id": "s", "type": "stage", "name": "S", "items": [{"id": "inner", "type": "humanTask", "name": "Inner"}]},
                    {"id": "opt", "type": "humanTask", "name": "Opt", "discretionary": True},
                    {"id": "go", "type": "humanTask", "name": "Go", "route": {"to": [{"task": "next"}]}},
                    {"id": "next", "type": "humanTask", "name": "Next"},
                ],
            }
        }
    )
    assert [t.id for t in start_tasks(nested)] == ["go"]


# ------------------------------------------------------------------ status


def test_app_status_order() -> None:
    s = held_by_alice()
    assert status.app_status(s) == "DRAFT"
    assert status.app_status(s.model_copy(update={"paused": True})) == "PAUSED"
    assert status.app_status(s.model_copy(update={"paused": True, "cancelled": True})) == "CANCELLED"
    assert status.app_status(s.model_copy(update={"cancelled": True, "deleted": True})) == "DELETED"
    assert set(status.STATUS_LABELS) == {"TO_DO", "DRAFT", "COMPLETED", "CANCELLED", "PAUSED", "DELETED", "UNASSIGNED"}


def test_decide_does_not_change_its_input_for_the_new_commands() -> None:
    """run()/refuse() check this for each command; here a whole pause cycle, by hand."""
    s = held_by_alice()
    before = s.model_dump()
    decide(s, Pause(actor=ALICE, until=at(days=1)), at(2))
    decide(s, RunTrigger(actor=ALICE, name="notify"), at(2))
    assert s.model_dump() == before


# ------------------------------------------------------------------ rules that keep lists and access in step


def test_an_empty_balanced_pool_stops_the_waiting_and_leaves_the_task_to_its_pool() -> None:
    s = run(at_book(), AutoAssign(actor=SYSTEM, item_id="book", user_id=None), at(4))
    book = task_of(s, "book")
    assert not book.awaiting_pick and book.task_state == TaskState.Unassigned and book.assignee is None
    assert task_of(run(s, Claim(actor=FAY, item_id="book"), at(5)), "book").assignee == "fay"


def test_whom_the_variable_names_see_the_task_while_they_may_claim_it() -> None:
    outsider = actor("zoe")  # neither in the team nor in any role
    s = run(new_case(SSE), MergeFile(actor=OWEN, data={"pool": ["zoe"]}), at(1))
    # offered the task, not shown the case
    assert access.sees_task(s, outsider, "receipts") and not access.can_see(s, outsider)
    refuse(s, MergeFile(actor=outsider, data={"note": "x"}), NotFound, at(2))
    s = run(s, Claim(actor=outsider, item_id="receipts"), at(2))
    assert task_of(s, "receipts").assignee == "zoe"
    assert access.can_see(s, outsider)  # she holds one of its tasks now
    # once the pool names someone else, and zoe holds nothing, the case is gone for her
    s2 = run(new_case(SSE), MergeFile(actor=OWEN, data={"pool": ["bob"]}), at(1))
    assert not access.sees_task(s2, outsider, "receipts")
    refuse(s2, Claim(actor=outsider, item_id="receipts"), NotFound, at(2))


@pytest.mark.parametrize("who, allowed", [(OWEN, True), (ALICE, False)], ids=["owner", "team member"])
def test_only_owners_change_a_variable_that_chooses_who_works(who: Actor, allowed: bool) -> None:
    s = run(new_case(SSE), TeamAdd(actor=OWEN, member=TeamMember(userId="alice")))
    cmd = MergeFile(actor=who, data={"pool": [who.user_id], "note": "x"})
    if allowed:
        assert run(s, cmd, at(1)).data["pool"] == [who.user_id]
    else:
        err = refuse(s, cmd, Forbidden, at(1))
        assert "pool" in err.message
        # other variables stay theirs to change
        assert run(s, MergeFile(actor=who, data={"note": "x"}), at(1)).data["note"] == "x"
