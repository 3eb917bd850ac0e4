"""The CMMN lifecycle of plan items (DESIGN.md 3), as tables: user transitions against every
state of a task, a stage, a milestone, a timer and a user event; sentries; stages; timers;
process and case tasks; routes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.unit.engine_helpers import (
    T0,
    actor,
    definition,
    item,
    refuse,
    run,
    run_decision,
    start_case,
    states,
)
from workflows.actor import SYSTEM
from workflows.engine.commands import (
    TeamAdd,
    ChildDone,
    Claim,
    Complete,
    MergeFile,
    ProcessDone,
    TimerFired,
    Transition,
)
from workflows.engine.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound
from workflows.engine.state import ItemState, TaskState, TeamMember

OWEN = actor("owen")  # the starter: a case owner
TESS = actor("tess")  # a team member without roles
XAVIER = actor("xavier")  # an outsider
SUE = actor("sue")  # a supervisor
RITA = actor("rita")  # holds role "raiser"


def owner(item_id: str, transition: str) -> Transition:
    return Transition(actor=OWEN, item_id=item_id, transition=transition)


# ------------------------------------------------------------------ the transition matrix

MATRIX_DEF = definition(
    {
        "roles": {"raiser": {"users": ["rita"]}},
        "supervisors": ["sue"],
        "plan": {
            "autoComplete": False,
            "items": [
                {"id": "go", "type": "userEvent", "name": "Go"},
                {"id": "task", "type": "processTask", "name": "Task", "manualActivation": True,
                 "entry": [{"on": ["go.occur"]}],
                 "http": {"url": "http://svc/{caseId}", "output": {"r": "$.r"}}},
                {"id": "human", "type": "humanTask", "name": "Human", "manualActivation": True,
                 "entry": [{"on": ["go.occur"]}], "assignment": {"rule": "EVALUATE", "variable": "SYS_STARTER"}},
                {"id": "stage", "type": "stage", "name": "Stage", "manualActivation": True, "autoComplete": False,
                 "entry": [{"on": ["go.occur"]}],
                 "items": [{"id": "inner", "type": "userEvent", "name": "Inner"}]},
                {"id": "milestone", "type": "milestone", "name": "Milestone", "entry": [{"on": ["hit.occur"]}]},
                {"id": "hit", "type": "userEvent", "name": "Hit"},
                {"id": "timer", "type": "timer", "name": "Timer", "after": "PT1H"},
                {"id": "event", "type": "userEvent", "name": "Event", "roles": ["raiser"]},
            ],
        },
    }
)


def reach(kind: str, target: str):
    """A case whose item `kind` is in state `target`, reached the way users and the shell would.

    `task` is a process task (it can also fail), `human` a human task held by owen."""
    s = start_case(MATRIX_DEF, OWEN, team=[TeamMember(userId="tess")])
    if kind in ("task", "human", "stage"):
        path = {
            "Available": [],
            "Enabled": ["go"],
            "Disabled": ["go", "disable"],
            "Active": ["go", "manualStart"],
            "Suspended": ["go", "manualStart", "suspend"],
            "Completed": ["go", "manualStart", "done"],
            "Terminated": ["go", "manualStart", "terminate"],
            "Failed": ["go", "manualStart", "fail"],
        }[target]
        for step in path:
            if step == "go":
                s = run(s, owner("go", "occur"))
            elif step == "done" and kind == "task":
                s = run(s, ProcessDone(actor=SYSTEM, item_id="task", attempt=1, ok=True, output={"r": 1}))
            elif step == "done":
                s = run(s, owner(kind, "complete"))  # the human task is assigned to owen by SYS_STARTER
            elif step == "fail":
                s = run(s, ProcessDone(actor=SYSTEM, item_id="task", attempt=1, ok=False, error="boom"))
            else:
                s = run(s, owner(kind, step))
    else:
        if target == "Suspended":
            s = run(s, owner(kind, "suspend"))
        elif target == "Terminated":
            s = run(s, owner(kind, "terminate"))
        elif target == "Completed":
            if kind == "milestone":
                s = run(s, owner("hit", "occur"))
            elif kind == "timer":
                s = run(s, TimerFired(actor=SYSTEM, item_id="timer"), T0 + timedelta(hours=1))
            else:
                s = run(s, owner("event", "occur"))
    assert item(s, kind).state.value == target, states(s)
    return s


TASK_STATES = ["Available", "Enabled", "Disabled", "Active", "Suspended", "Completed", "Terminated", "Failed"]
EVENT_STATES = ["Available", "Suspended", "Completed", "Terminated"]

# Resulting state, or CF (Conflict). "-" marks a state the item kind cannot reach.
#                  Available  Enabled    Disabled    Active     Suspended  Completed  Terminated  Failed
TASK_TABLE = {
    "manualStart": "CF         Active     CF          CF         CF         CF         CF          CF",
    "disable":     "CF         Disabled   CF          CF         CF         CF         CF          CF",
    "reenable":    "CF         CF         Enabled     CF         CF         CF         CF          CF",
    "suspend":     "CF         CF         CF          Suspended  CF         CF         CF          CF",
    "resume":      "CF         CF         CF          CF         Active     CF         CF          CF",
    "terminate":   "CF         Terminated Terminated  Terminated Terminated CF         CF          Terminated",
    "complete":    "CF         CF         CF          Completed  CF         CF         CF          CF",
    "occur":       "CF         CF         CF          CF         CF         CF         CF          CF",
    "reactivate":  "CF         CF         CF          CF         CF         CF         CF          Active",
}
#                  Available  Suspended  Completed  Terminated
EVENT_TABLE = {
    "manualStart": "CF         CF         CF         CF",
    "disable":     "CF         CF         CF         CF",
    "reenable":    "CF         CF         CF         CF",
    "suspend":     "Suspended  CF         CF         CF",
    "resume":      "CF         Available  CF         CF",
    "terminate":   "Terminated Terminated CF         CF",
    "complete":    "CF         CF         CF         CF",
    "occur":       "CF         CF         CF         CF",  # milestones and timers are never raised by users
    "reactivate":  "CF         CF         CF         CF",
}
USER_EVENT_OCCUR = "Completed  CF         CF         CF"


def _matrix_rows():
    for kind in ("task", "human", "stage"):
        for transition, line in TASK_TABLE.items():
            for state, expected in zip(TASK_STATES, line.split()):
                if kind in ("stage", "human") and state == "Failed":
                    continue  # stages and human tasks do not fail
                yield pytest.param(kind, state, transition, expected, id=f"{kind}-{state}-{transition}-{expected}")
    for kind in ("milestone", "timer", "event"):
        for transition, line in EVENT_TABLE.items():
            if kind == "event" and transition == "occur":
                line = USER_EVENT_OCCUR
            for state, expected in zip(EVENT_STATES, line.split()):
                yield pytest.param(kind, state, transition, expected, id=f"{kind}-{state}-{transition}-{expected}")


@pytest.mark.parametrize("kind,state,transition,expected", list(_matrix_rows()))
def test_user_transition_matrix(kind: str, state: str, transition: str, expected: str) -> None:
    s = reach(kind, state)
    cmd = owner(kind, transition)
    if expected == "CF":
        refuse(s, cmd, Conflict)
        return
    d = run_decision(s, cmd)
    it = item(d.state, kind)
    assert it.state.value == expected
    assert d.state.version == s.version + 1
    if kind == "human" and (state in ("Active", "Suspended") or transition == "manualStart"):
        # the task's own state follows: Assigned to owen while active (a task that never
        # started has no task state)
        assert it.task is not None
        assert it.task.task_state.value == ("Assigned" if expected == "Active" else expected)
    assert any(e.action == transition and e.planItemId == kind for e in d.events)


ENGINE_ONLY = ["create", "enable", "start", "exit", "fault", "parentSuspend", "parentResume", "close"]


@pytest.mark.parametrize("transition", ENGINE_ONLY)
@pytest.mark.parametrize("kind,state", [("task", "Active"), ("human", "Active"), ("stage", "Active"), ("milestone", "Available"),
                                        ("timer", "Available"), ("event", "Available"), ("task", "Failed")])
def test_engine_only_transitions_are_conflicts(kind: str, state: str, transition: str) -> None:
    refuse(reach(kind, state), owner(kind, transition), Conflict)


@pytest.mark.parametrize("word", ["explode", "finish", "Complete", "", "claim", "suspend "])
@pytest.mark.parametrize("kind", ["task", "stage", "event", "nonexistent"])
def test_unknown_transition_is_a_bad_request(word: str, kind: str) -> None:
    refuse(reach("task", "Active") if kind != "nonexistent" else reach("task", "Available"), owner(kind, word), BadRequest)


def test_transition_of_an_unknown_item_is_not_found() -> None:
    refuse(reach("task", "Active"), owner("nope", "suspend"), NotFound)


@pytest.mark.parametrize(
    "who,item_id,transition,expected",
    [
        (OWEN, "stage", "suspend", "ok"),
        (SUE, "stage", "suspend", "ok"),
        (TESS, "stage", "suspend", Forbidden),
        (RITA, "stage", "suspend", NotFound),  # holds a role, but is not in the team
        ("rita in the team", "stage", "suspend", Forbidden),
        (XAVIER, "stage", "suspend", NotFound),
        (RITA, "event", "occur", NotFound),
        ("rita in the team", "event", "occur", "ok"),  # the event's role, in the team
        (OWEN, "event", "occur", "ok"),
        (TESS, "event", "occur", Forbidden),
        (XAVIER, "event", "occur", NotFound),
        (TESS, "hit", "occur", "ok"),  # a user event without roles: any team member
        (TESS, "task", "terminate", Forbidden),
        (TESS, "task", "suspend", Forbidden),
    ],
)
def test_who_may_ask_for_a_transition(who: Any, item_id: str, transition: str, expected: Any) -> None:
    s = reach("stage", "Active")
    s = run(s, owner("task", "manualStart"))
    if who == "rita in the team":
        s, who = run(s, TeamAdd(actor=OWEN, member=TeamMember(userId="rita"))), RITA
    cmd = Transition(actor=who, item_id=item_id, transition=transition)
    if expected == "ok":
        run(s, cmd)
    else:
        refuse(s, cmd, expected)


def test_children_of_a_stage_cannot_be_resumed_or_started_while_it_is_suspended() -> None:
    s = reach("stage", "Active")
    s = run(s, owner("inner", "suspend"))
    s = run(s, owner("stage", "suspend"))
    refuse(s, owner("inner", "resume"), Conflict)


# ------------------------------------------------------------------ sentries

SENTRY_DEF = definition(
    {
        "inputs": {"score": {"type": "integer"}},
        "plan": {
            "autoComplete": False,
            "items": [
                {"id": "a", "type": "userEvent", "name": "A"},
                {"id": "b", "type": "userEvent", "name": "B"},
                {"id": "stop", "type": "userEvent", "name": "Stop"},
                {"id": "both", "type": "milestone", "name": "Both", "entry": [{"on": ["a.occur", "b.occur"]}]},
                {"id": "either", "type": "milestone", "name": "Either",
                 "entry": [{"on": ["a.occur"]}, {"on": ["b.occur"]}]},
                {"id": "high", "type": "milestone", "name": "High", "entry": [{"if": "score > 5"}]},
                {"id": "a-and-high", "type": "milestone", "name": "A and high",
                 "entry": [{"on": ["a.occur"], "if": "score > 5"}]},
                {"id": "work", "type": "stage", "name": "Work", "autoComplete": False,
                 "exit": [{"on": ["stop.occur"]}],
                 "items": [
                     {"id": "job", "type": "processTask", "name": "Job", "http": {"url": "http://svc/job"}},
                     {"id": "sub", "type": "stage", "name": "Sub", "autoComplete": False,
                      "items": [{"id": "deep", "type": "userEvent", "name": "Deep"}]},
                 ]},
            ],
        },
    }
)


@pytest.mark.parametrize(
    "raised,data,expected",
    [
        ([], {}, {"both": "Available", "either": "Available", "high": "Available", "a-and-high": "Available"}),
        (["a"], {}, {"both": "Available", "either": "Completed", "high": "Available", "a-and-high": "Available"}),
        (["b"], {}, {"both": "Available", "either": "Completed", "high": "Available", "a-and-high": "Available"}),
        (["a", "b"], {}, {"both": "Completed", "either": "Completed", "high": "Available", "a-and-high": "Available"}),
        ([], {"score": 3}, {"high": "Available", "a-and-high": "Available"}),
        ([], {"score": 6}, {"high": "Completed", "a-and-high": "Available"}),
        (["a"], {"score": 3}, {"high": "Available", "a-and-high": "Available"}),
        # the if-part is judged when `a` occurs (CMMN), and score was not 6 then
        (["a"], {"score": 6}, {"high": "Completed", "a-and-high": "Available"}),
        (["a"], {"score": "lots"}, {"high": "Available", "a-and-high": "Available"}),  # a type error is false
    ],
)
def test_sentries(raised: list[str], data: dict[str, Any], expected: dict[str, str]) -> None:
    s = start_case(SENTRY_DEF, OWEN)
    for event in raised:
        s = run(s, owner(event, "occur"))
    if data:
        s = run(s, MergeFile(actor=OWEN, data=data))
    got = states(s)
    assert {k: got[k] for k in expected} == expected


def test_an_on_part_sentry_judges_its_condition_when_the_event_happens() -> None:
    s = start_case(SENTRY_DEF, OWEN)
    s = run(s, MergeFile(actor=OWEN, data={"score": 6}))
    assert item(s, "a-and-high").state == ItemState.Available
    s = run(s, owner("a", "occur"))
    assert item(s, "a-and-high").state == ItemState.Completed


def test_if_part_is_false_until_the_variable_exists_then_true_when_set() -> None:
    s = start_case(SENTRY_DEF, OWEN)
    assert "score" not in s.data and item(s, "high").state == ItemState.Available
    s = run(s, MergeFile(actor=OWEN, data={"score": 1}))
    assert item(s, "high").state == ItemState.Available
    s = run(s, MergeFile(actor=OWEN, data={"score": 10}))
    assert item(s, "high").state == ItemState.Completed


def test_a_sentry_over_start_inputs_holds_at_once() -> None:
    s = start_case(SENTRY_DEF, OWEN, {"score": 9})
    assert item(s, "high").state == ItemState.Completed


def test_exit_criterion_terminates_a_stage_and_all_its_children() -> None:
    s = start_case(SENTRY_DEF, OWEN)
    assert {k: states(s)[k] for k in ("work", "job", "sub", "deep")} == dict.fromkeys(
        ("work", "job", "sub"), "Active"
    ) | {"deep": "Available"}
    s = run(s, owner("stop", "occur"))
    assert {k: states(s)[k] for k in ("work", "job", "sub", "deep")} == dict.fromkeys(
        ("work", "job", "sub", "deep"), "Terminated"
    )
    assert item(s, "job").effect is None, "a terminated process task asks for nothing more"
    # a late result for the terminated job is ignored
    late = run_decision(s, ProcessDone(actor=SYSTEM, item_id="job", attempt=1, ok=True, output={"x": 1}))
    assert late.events == [] and "x" not in late.state.data


# ------------------------------------------------------------------ stages

STAGE_DEF = definition(
    {
        "plan": {
            "autoComplete": True,
            "items": [
                {"id": "auto", "type": "stage", "name": "Auto", "autoComplete": True,
                 "items": [
                     {"id": "t1", "type": "humanTask", "name": "T1", "assignment": {"rule": "EVALUATE", "variable": "SYS_STARTER"}},
                     {"id": "opt", "type": "userEvent", "name": "Optional event"},
                 ]},
                {"id": "manual", "type": "stage", "name": "Manual", "autoComplete": False,
                 "items": [
                     {"id": "t2", "type": "humanTask", "name": "T2", "assignment": {"rule": "EVALUATE", "variable": "SYS_STARTER"}},
                     {"id": "ev", "type": "userEvent", "name": "Event"},
                 ]},
                {"id": "req", "type": "stage", "name": "With required", "autoComplete": True,
                 "items": [
                     {"id": "t3", "type": "humanTask", "name": "T3", "assignment": {"rule": "EVALUATE", "variable": "SYS_STARTER"}},
                     {"id": "ms", "type": "milestone", "name": "Required milestone", "required": True,
                      "entry": [{"on": ["go.occur"]}]},
                     {"id": "go", "type": "userEvent", "name": "Go"},
                 ]},
            ],
        },
    }
)


def test_autocomplete_stage_completes_when_no_child_is_active() -> None:
    s = start_case(STAGE_DEF, OWEN)
    assert item(s, "auto").state == ItemState.Active
    s = run(s, Complete(actor=OWEN, item_id="t1"))
    # the optional event never happened: it does not hold the stage, and is ended with it
    assert item(s, "auto").state == ItemState.Completed
    assert item(s, "opt").state == ItemState.Terminated


def test_stage_without_autocomplete_waits_for_all_children_or_a_user() -> None:
    s = start_case(STAGE_DEF, OWEN)
    s = run(s, Complete(actor=OWEN, item_id="t2"))
    assert item(s, "manual").state == ItemState.Active, "an event still available keeps it open"
    s2 = run(s, owner("ev", "occur"))
    assert item(s2, "manual").state == ItemState.Completed, "every child done: it completes"
    s3 = run(s, owner("manual", "complete"))
    assert item(s3, "manual").state == ItemState.Completed
    assert item(s3, "ev").state == ItemState.Terminated


def test_stage_without_autocomplete_cannot_be_completed_with_an_active_child() -> None:
    s = start_case(STAGE_DEF, OWEN)
    refuse(s, owner("manual", "complete"), Conflict)


def test_required_item_blocks_completion() -> None:
    s = start_case(STAGE_DEF, OWEN)
    s = run(s, Complete(actor=OWEN, item_id="t3"))
    assert item(s, "req").state == ItemState.Active, "the required milestone has not occurred"
    refuse(s, owner("req", "complete"), Conflict)
    s = run(s, owner("go", "occur"))
    assert item(s, "ms").state == ItemState.Completed
    assert item(s, "req").state == ItemState.Completed


def test_case_completes_when_its_root_stage_completes() -> None:
    s = start_case(STAGE_DEF, OWEN)
    for step in (Complete(actor=OWEN, item_id="t1"), Complete(actor=OWEN, item_id="t2"), owner("ev", "occur"),
                 Complete(actor=OWEN, item_id="t3")):
        s = run(s, step)
        assert not s.closed
    d = run_decision(s, owner("go", "occur"))
    assert d.state.plan.state == ItemState.Completed and d.state.closed
    assert any(e.action == "case completed" for e in d.events)
    refuse(d.state, MergeFile(actor=OWEN, data={"x": 1}), Conflict)


def test_case_plan_without_autocomplete_is_completed_by_its_owner() -> None:
    s = reach("task", "Available")
    refuse(s, Transition(actor=TESS, item_id="casePlan", transition="complete"), Forbidden)
    s = run(s, owner("casePlan", "complete"))
    assert s.closed and item(s, "task").state == ItemState.Terminated


def test_terminating_the_case_plan_ends_the_case() -> None:
    s = reach("stage", "Active")
    s = run(s, owner("casePlan", "terminate"))
    assert s.plan.state == ItemState.Terminated and s.closed
    assert {i.state for i in s.items.values()} <= {ItemState.Terminated, ItemState.Completed}


SUSPEND_DEF = definition(
    {
        "roles": {"worker": {"users": ["alice"]}},
        "plan": {
            "autoComplete": False,
            "items": [
                {"id": "outer", "type": "stage", "name": "Outer", "autoComplete": False,
                 "items": [
                     {"id": "a", "type": "humanTask", "name": "A", "role": "worker"},
                     {"id": "b", "type": "humanTask", "name": "B", "role": "worker"},
                     {"id": "later", "type": "humanTask", "name": "Later", "role": "worker",
                      "entry": [{"on": ["a.complete"]}]},
                     {"id": "en", "type": "processTask", "name": "Enabled", "manualActivation": True,
                      "http": {"url": "http://svc"}},
                     {"id": "inner", "type": "stage", "name": "Inner", "autoComplete": False,
                      "items": [{"id": "c", "type": "humanTask", "name": "C", "role": "worker"}]},
                 ]},
            ],
        },
    }
)


def test_suspending_a_stage_suspends_its_children_and_resume_restores_them() -> None:
    alice = actor("alice")
    s = start_case(SUSPEND_DEF, OWEN)
    s = run(s, Claim(actor=alice, item_id="a"))
    s = run(s, owner("b", "suspend"))  # suspended by a user before the stage is
    before = states(s)
    assert before["en"] == "Enabled" and before["later"] == "Available"
    s = run(s, owner("outer", "suspend"))
    got = states(s)
    assert {k: got[k] for k in ("outer", "a", "b", "later", "en", "inner", "c")} == dict.fromkeys(
        ("outer", "a", "b", "later", "en", "inner", "c"), "Suspended"
    )
    assert item(s, "a").task.task_state == TaskState.Suspended
    refuse(s, Complete(actor=alice, item_id="a"), Conflict)
    s = run(s, owner("outer", "resume"))
    got = states(s)
    assert {k: got[k] for k in ("outer", "a", "b", "later", "en", "inner", "c")} == {
        "outer": "Active", "a": "Active", "b": "Suspended", "later": "Available", "en": "Enabled",
        "inner": "Active", "c": "Active",
    }
    t = item(s, "a").task
    assert (t.task_state, t.assignee) == (TaskState.Assigned, "alice")
    assert item(s, "c").task.task_state == TaskState.Unassigned


# ------------------------------------------------------------------ timers

TIMER_DEF = definition(
    {
        "plan": {
            "autoComplete": False,
            "items": [
                {"id": "soon", "type": "timer", "name": "Soon", "after": "PT2H"},
                {"id": "go", "type": "userEvent", "name": "Go"},
                {"id": "after-go", "type": "timer", "name": "After go", "after": "P1D", "entry": [{"on": ["go.occur"]}]},
                {"id": "then", "type": "milestone", "name": "Then", "entry": [{"on": ["soon.occur"]}]},
            ],
        },
    }
)


def test_timer_gets_fires_at_when_it_becomes_available_with_its_entry() -> None:
    s = start_case(TIMER_DEF, OWEN)
    assert item(s, "soon").fires_at == T0 + timedelta(hours=2)
    assert item(s, "after-go").fires_at is None
    go_at = T0 + timedelta(minutes=30)
    s = run(s, owner("go", "occur"), go_at)
    assert item(s, "after-go").fires_at == go_at + timedelta(days=1)


@pytest.mark.parametrize(
    "fired_after,expected",
    [
        (timedelta(hours=1, minutes=59), "Available"),
        (timedelta(hours=2), "Completed"),
        (timedelta(days=3), "Completed"),
    ],
)
def test_timer_occurs_only_when_due(fired_after: timedelta, expected: str) -> None:
    s = start_case(TIMER_DEF, OWEN)
    d = run_decision(s, TimerFired(actor=SYSTEM, item_id="soon"), T0 + fired_after)
    assert item(d.state, "soon").state.value == expected
    if expected == "Available":
        assert d.events == [] and d.state.version == s.version
    else:
        assert item(d.state, "then").state == ItemState.Completed
        assert d.state.version == s.version + 1


def test_timer_fired_for_an_unknown_or_suspended_timer_changes_nothing() -> None:
    s = start_case(TIMER_DEF, OWEN)
    assert run_decision(s, TimerFired(actor=SYSTEM, item_id="nope"), T0 + timedelta(days=9)).events == []
    s = run(s, owner("soon", "suspend"))
    assert run_decision(s, TimerFired(actor=SYSTEM, item_id="soon"), T0 + timedelta(days=9)).events == []


# ------------------------------------------------------------------ process and case tasks

PROC_DEF = definition(
    {
        "inputs": {"amount": {"type": "number"}, "base": {"type": "string"}},
        "triggers": {
            "mark": {"set": {"urgent": "amount > 100", "double": "amount * 2.0"}},
            "call": {"http": {"method": "POST", "url": "{base}/entries", "json": {"case": "{caseId}", "n": "{amount}"},
                              "headers": {"X-Case": "{caseNumber}"}, "output": {"ref": "$.id"}}},
        },
        "plan": {
            "autoComplete": False,
            "items": [
                {"id": "set", "type": "processTask", "name": "Set", "trigger": "mark"},
                {"id": "http", "type": "processTask", "name": "HTTP", "trigger": "call"},
                {"id": "direct", "type": "processTask", "name": "Direct", "http": {"method": "GET", "url": "{base}/x"}},
                {"id": "after-http", "type": "milestone", "name": "After HTTP", "entry": [{"on": ["http.complete"]}]},
                {"id": "sub", "type": "caseTask", "name": "Sub", "definition": "child-def",
                 "inputs": {"budget": "amount * 2.0", "who": "'x' + base", "bad": "nope + 1"},
                 "output": {"child_result": "result", "missing": "nothing_here"}},
            ],
        },
    }
)
PROC_INPUTS = {"amount": 150.0, "base": "http://ledger"}


def test_set_trigger_completes_at_once_and_sets_data() -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS)
    assert item(s, "set").state == ItemState.Completed
    assert s.data["urgent"] is True and s.data["double"] == 300.0
    assert item(s, "set").effect is None


def test_http_task_gets_an_effect_with_rendered_templates() -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS)
    http = item(s, "http")
    assert http.state == ItemState.Active and http.effect_attempt == 1
    assert http.effect == {
        "kind": "http", "method": "POST", "url": "http://ledger/entries",
        "json": {"case": "case1", "n": "150.0"}, "headers": {"X-Case": "1"}, "output": {"ref": "$.id"},
    }
    assert item(s, "direct").effect["url"] == "http://ledger/x"


@pytest.mark.parametrize(
    "attempt,ok,expected_state,data",
    [
        (1, True, "Completed", {"ref": "R-1"}),
        (1, False, "Failed", {}),
        (0, True, "Active", {}),  # a result for another attempt is ignored
        (2, True, "Active", {}),
        (2, False, "Active", {}),
    ],
)
def test_process_done(attempt: int, ok: bool, expected_state: str, data: dict[str, Any]) -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS)
    d = run_decision(s, ProcessDone(actor=SYSTEM, item_id="http", attempt=attempt, ok=ok, output={"ref": "R-1"}, error="503"))
    it = item(d.state, "http")
    assert it.state.value == expected_state
    for k, v in data.items():
        assert d.state.data[k] == v
    if expected_state == "Active":
        assert d.events == [] and "ref" not in d.state.data
    if expected_state == "Completed":
        assert item(d.state, "after-http").state == ItemState.Completed
        assert it.effect is None
    if expected_state == "Failed":
        assert it.error == "503" and it.effect is None


def test_reactivate_reruns_with_a_new_attempt_and_ignores_the_old_one() -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS)
    s = run(s, ProcessDone(actor=SYSTEM, item_id="http", attempt=1, ok=False, error="down"))
    s = run(s, owner("http", "reactivate"))
    it = item(s, "http")
    assert it.state == ItemState.Active and it.effect_attempt == 2 and it.effect is not None and it.error is None
    stale = run_decision(s, ProcessDone(actor=SYSTEM, item_id="http", attempt=1, ok=True, output={"ref": "old"}))
    assert stale.events == [] and item(stale.state, "http").state == ItemState.Active
    s = run(s, ProcessDone(actor=SYSTEM, item_id="http", attempt=2, ok=True, output={"ref": "new"}))
    assert item(s, "http").state == ItemState.Completed and s.data["ref"] == "new"


def test_a_team_member_may_reactivate_a_failed_process_task() -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS, team=[TeamMember(userId="tess")])
    s = run(s, ProcessDone(actor=SYSTEM, item_id="http", attempt=1, ok=False, error="down"))
    s = run(s, Transition(actor=TESS, item_id="http", transition="reactivate"))
    assert item(s, "http").state == ItemState.Active


def test_failed_item_holds_its_stage_open() -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS)
    s = run(s, ProcessDone(actor=SYSTEM, item_id="direct", attempt=1, ok=False, error="x"))
    refuse(s, owner("casePlan", "complete"), Conflict)


def test_case_task_gets_an_effect_with_evaluated_inputs() -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS)
    sub = item(s, "sub")
    assert sub.state == ItemState.Active
    assert sub.effect == {
        "kind": "case", "definition": "child-def", "case_id": "case1-sub",
        "inputs": {"budget": 300.0, "who": "xhttp://ledger"},  # an input that fails to evaluate is left out
    }


@pytest.mark.parametrize(
    "child_state,expected,data",
    [
        ("Completed", "Completed", {"child_result": 42}),
        ("Terminated", "Failed", {}),
        ("not started: no definition", "Failed", {}),
    ],
)
def test_child_done(child_state: str, expected: str, data: dict[str, Any]) -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS)
    s = run(s, ChildDone(actor=SYSTEM, item_id="sub", state=child_state, data={"result": 42}))
    assert item(s, "sub").state.value == expected
    for k, v in data.items():
        assert s.data[k] == v
    assert "missing" not in s.data


def test_reactivated_case_task_gets_a_new_attempt() -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS)
    s = run(s, ChildDone(actor=SYSTEM, item_id="sub", state="Terminated"))
    s = run(s, owner("sub", "reactivate"))
    assert item(s, "sub").state == ItemState.Active and item(s, "sub").effect_attempt == 2


@pytest.mark.parametrize("kind", ["process", "case"])
def test_result_that_arrives_while_suspended_is_not_lost(kind: str) -> None:
    s = start_case(PROC_DEF, OWEN, PROC_INPUTS)
    item_id = "http" if kind == "process" else "sub"
    s = run(s, owner(item_id, "suspend"))
    if kind == "process":
        s = run(s, ProcessDone(actor=SYSTEM, item_id="http", attempt=1, ok=True, output={"ref": "R-9"}))
    else:
        s = run(s, ChildDone(actor=SYSTEM, item_id="sub", state="Completed", data={"result": 7}))
    s = run(s, owner(item_id, "resume"))
    assert item(s, item_id).state == ItemState.Completed
    assert s.data["ref" if kind == "process" else "child_result"] == ("R-9" if kind == "process" else 7)


SET_FAIL_DEF = definition(
    {
        "triggers": {"compute": {"set": {"total": "price * 2"}}},
        "plan": {
            "autoComplete": False,
            "items": [
                {"id": "enter", "type": "humanTask", "name": "Enter", "assignment": {"rule": "EVALUATE", "variable": "SYS_STARTER"},
                 "output": {"note": {"type": "string"}}},
                {"id": "compute", "type": "processTask", "name": "Compute", "trigger": "compute",
                 "entry": [{"on": ["enter.complete"]}]},
            ],
        },
    }
)


def test_failing_set_trigger_faults_the_process_task_instead_of_refusing_the_user() -> None:
    s = start_case(SET_FAIL_DEF, OWEN)
    s = run(s, Complete(actor=OWEN, item_id="enter", output={"note": "n"}))
    assert item(s, "enter").state == ItemState.Completed
    assert item(s, "compute").state == ItemState.Failed
    assert item(s, "compute").error


# ------------------------------------------------------------------ routes

def _src(id_: str, route: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    d = {"id": id_, "type": "humanTask", "name": id_.upper(), "assignment": {"rule": "EVALUATE", "variable": "SYS_STARTER"},
         "output": {"v": {"type": "integer"}}, **extra}
    if route:
        d["route"] = route
    return d


def _route_def(route: dict[str, Any], targets: list[str]) -> Any:
    """`src` routes to some of `targets`; a target it does not route to waits for `never`."""
    routed = {t["task"] for t in route["to"]}
    items = [_src("src", route), {"id": "never", "type": "userEvent", "name": "Never"}]
    items += [_src(t) if t in routed else _src(t, entry=[{"on": ["never.occur"]}]) for t in targets]
    return definition({"plan": {"autoComplete": False, "items": items}})


ROUTE_TARGETS = ["x", "y", "z"]


@pytest.mark.parametrize(
    "route,v,started",
    [
        ({"type": "SEQUENTIAL", "to": [{"task": "x"}]}, 0, {"x"}),
        ({"type": "EVALUATE", "to": [{"task": "x", "if": "v > 10"}, {"task": "y", "if": "v > 5"}, {"task": "z"}]}, 20, {"x"}),
        ({"type": "EVALUATE", "to": [{"task": "x", "if": "v > 10"}, {"task": "y", "if": "v > 5"}, {"task": "z"}]}, 7, {"y"}),
        ({"type": "EVALUATE", "to": [{"task": "x", "if": "v > 10"}, {"task": "y", "if": "v > 5"}, {"task": "z"}]}, 1, {"z"}),
        ({"type": "EVALUATE", "to": [{"task": "x", "if": "v > 10"}, {"task": "y", "if": "v > 5"}]}, 1, set()),
        ({"type": "PARALLEL", "to": [{"task": "x"}, {"task": "y"}, {"task": "z"}]}, 0, {"x", "y", "z"}),
        ({"type": "PARALLEL-BY-EVALUATION", "to": [{"task": "x", "if": "v > 10"}, {"task": "y", "if": "v > 5"}, {"task": "z"}]}, 20, {"x", "y", "z"}),
        ({"type": "PARALLEL-BY-EVALUATION", "to": [{"task": "x", "if": "v > 10"}, {"task": "y", "if": "v > 5"}, {"task": "z"}]}, 7, {"y", "z"}),
        ({"type": "PARALLEL-BY-EVALUATION", "to": [{"task": "x", "if": "v > 10"}, {"task": "y", "if": "v > 5"}]}, 1, set()),
    ],
)
def test_routes(route: dict[str, Any], v: int, started: set[str]) -> None:
    s = start_case(_route_def(route, ROUTE_TARGETS), OWEN)
    assert {t for t in ROUTE_TARGETS if item(s, t).state == ItemState.Active} == set(), "targets wait for the route"
    s = run(s, Complete(actor=OWEN, item_id="src", output={"v": v}))
    assert {t for t in ROUTE_TARGETS if item(s, t).state == ItemState.Active} == started


SELECT = {"type": "SELECT", "to": [{"task": "x"}, {"task": "y"}]}


@pytest.mark.parametrize(
    "next_,expected",
    [
        ("x", {"x"}),
        ("y", {"y"}),
        (None, Invalid),
        ("z", Invalid),  # not a target of the route
        ("src", Invalid),
    ],
)
def test_select_route(next_: str | None, expected: Any) -> None:
    s = start_case(_route_def(SELECT, ROUTE_TARGETS), OWEN)
    cmd = Complete(actor=OWEN, item_id="src", output={"v": 1}, next=next_)
    if expected is Invalid:
        err = refuse(s, cmd, Invalid)
        assert [d["field"] for d in err.details] == ["next"]
        return
    s = run(s, cmd)
    assert {t for t in ROUTE_TARGETS if item(s, t).state == ItemState.Active} == expected


JOIN_DEF = definition(
    {
        "plan": {
            "autoComplete": False,
            "items": [
                _src("a", {"type": "SEQUENTIAL", "to": [{"task": "c", "join": "all"}]}),
                _src("b", {"type": "SEQUENTIAL", "to": [{"task": "c", "join": "all"}]}),
                _src("c"),
                _src("d", {"type": "SEQUENTIAL", "to": [{"task": "e"}]}),
                _src("f", {"type": "SEQUENTIAL", "to": [{"task": "e"}]}),
                _src("e"),
            ],
        },
    }
)


@pytest.mark.parametrize(
    "completed,c_state,e_state",
    [
        ([], "Available", "Available"),
        (["a"], "Available", "Available"),
        (["b"], "Available", "Available"),
        (["a", "b"], "Active", "Available"),
        (["d"], "Available", "Active"),  # without join: any incoming route starts it
        (["f"], "Available", "Active"),
    ],
)
def test_join_all_waits_for_every_incoming_route(completed: list[str], c_state: str, e_state: str) -> None:
    s = start_case(JOIN_DEF, OWEN)
    for src in completed:
        s = run(s, Complete(actor=OWEN, item_id=src))
    assert (item(s, "c").state.value, item(s, "e").state.value) == (c_state, e_state)


def test_evaluate_route_is_decided_once_when_the_source_completes() -> None:
    route = {"type": "EVALUATE", "to": [{"task": "x", "if": "v > 10"}, {"task": "z"}]}
    s = start_case(_route_def(route, ROUTE_TARGETS), OWEN)
    s = run(s, Complete(actor=OWEN, item_id="src", output={"v": 1}))
    assert item(s, "z").state == ItemState.Active
    s = run(s, MergeFile(actor=OWEN, data={"v": 50}))
    assert item(s, "x").state == ItemState.Available, "the route already went to z"


@pytest.mark.parametrize("output", [{}, {"v": None}], ids=["unset", "null"])
def test_evaluate_route_takes_the_default_when_a_condition_cannot_be_evaluated(output: dict[str, Any]) -> None:
    route = {"type": "EVALUATE", "to": [{"task": "x", "if": "v > 10"}, {"task": "z"}]}
    s = start_case(_route_def(route, ROUTE_TARGETS), OWEN)
    s = run(s, Complete(actor=OWEN, item_id="src", output=output))
    assert item(s, "z").state == ItemState.Active
