"""The human-task workflow (seed 000, DESIGN.md 3 "The human-task workflow"), as tables.

Every task action against every task state and every kind of caller:
- alice   holds the task (its assignee; the owner once she delegates it)
- bob     the delegate, when alice delegated the task (otherwise just another role holder)
- carol   another holder of the task's role (alice, bob and carol are not in the case team)
- owen    a case owner (the starter) without the task's role
- tess    a case-team member without the role
- sue     a supervisor of the definition
- pat     a case-team member with the planning role (plannableBy)
- xavier  an outsider: not in the team, no role; he may not see the case (NotFound)

Holders of the role outside the team see only a task offered to them (engine/access.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.unit.engine_helpers import T0, actor, definition, item, refuse, run, run_decision, start_case
from workflows.actor import SYSTEM
from workflows.engine.commands import (
    Assign,
    Claim,
    Complete,
    Delegate,
    MergeFile,
    Plan,
    Revoke,
    Save,
    TaskDue,
    Transition,
    Validate,
)
from workflows.engine.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound
from workflows.engine.state import ItemState, TaskState, TeamMember

ERRORS = {"NF": NotFound, "FB": Forbidden, "CF": Conflict, "IV": Invalid, "BR": BadRequest}

DEFN = definition(
    {
        "roles": {
            "worker": {"users": ["alice", "bob", "carol"]},
            "planner": {"users": ["pat"]},
            "requester": {},
        },
        "starterRole": "requester",
        "supervisors": ["sue"],
        "plan": {
            "autoComplete": False,
            "items": [
                {
                    "id": "task",
                    "type": "humanTask",
                    "name": "Task",
                    "role": "worker",
                    "plannableBy": ["planner"],
                    "output": {
                        "answer": {"type": "string", "required": True},
                        "note": {"type": "string"},
                    },
                },
                {"id": "go", "type": "userEvent", "name": "Go"},
                {
                    "id": "later",
                    "type": "humanTask",
                    "name": "Later",
                    "role": "worker",
                    "plannableBy": ["planner"],
                    "entry": [{"on": ["go.occur"]}],
                    "output": {"answer": {"type": "string", "required": True}},
                },
                {
                    "id": "manual",
                    "type": "humanTask",
                    "name": "Manual",
                    "role": "worker",
                    "plannableBy": ["planner"],
                    "assignment": {"rule": "MANUAL"},
                },
            ],
        },
    }
)

ALICE, BOB, CAROL, OWEN, TESS, SUE, PAT, XAVIER = (
    actor(u) for u in ("alice", "bob", "carol", "owen", "tess", "sue", "pat", "xavier")
)
CALLERS = {"alice": ALICE, "bob": BOB, "carol": CAROL, "owen": OWEN, "tess": TESS, "sue": SUE, "pat": PAT, "xavier": XAVIER}


def new_case():
    return start_case(
        DEFN, OWEN, team=[TeamMember(userId="tess", caseRoles=["requester"]), TeamMember(userId="pat", caseRoles=["planner"])]
    )


def case_with_task(task_state: str):
    """A case whose item `task` (or `later`, for NotStarted) is in the named state."""
    s = new_case()
    if task_state == "Unassigned" or task_state == "NotStarted":
        return s
    s = run(s, Claim(actor=ALICE, item_id="task"))
    if task_state == "Assigned":
        return s
    if task_state == "Delegated":
        return run(s, Delegate(actor=ALICE, item_id="task", assignee=BOB))
    if task_state == "Suspended":
        return run(s, Transition(actor=OWEN, item_id="task", transition="suspend"))
    if task_state == "Completed":
        return run(s, Complete(actor=ALICE, item_id="task", output={"answer": "done"}))
    if task_state == "Terminated":
        return run(s, Transition(actor=OWEN, item_id="task", transition="terminate"))
    raise AssertionError(task_state)


def command(action: str, who: Any, item_id: str):
    if action == "claim":
        return Claim(actor=who, item_id=item_id)
    if action == "revoke":
        return Revoke(actor=who, item_id=item_id)
    if action == "assign":
        return Assign(actor=who, item_id=item_id, assignee=CAROL)
    if action == "delegate":
        return Delegate(actor=who, item_id=item_id, assignee=CAROL)
    if action == "complete":
        return Complete(actor=who, item_id=item_id, output={"answer": "yes"})
    if action == "save":
        return Save(actor=who, item_id=item_id, output={"note": "draft"})
    if action == "validate":
        return Validate(actor=who, item_id=item_id, output={"answer": "yes"})
    raise AssertionError(action)


# Outcome codes: NF/FB/CF/IV = the error; A:x = Assigned to x (x is assignee and owner);
# D:o>a = Delegated by owner o to assignee a; U = Unassigned; C = Completed (output merged
# into case data); S = draft saved (task state kept); V = validation answered, nothing changed.
# Who sees the case (engine/access.py): the team (owen, tess, pat), holders of its tasks now
# or before, supervisors (sue). Holders of the task's role outside the team (alice, bob,
# carol before they hold it) see only a task offered to them: they may claim it, and
# anything else they send is about a case that does not exist for them (NF).
#                     alice          bob        carol      owen       tess  sue        pat        xavier
ALL_CONFLICT = "      CF             NF         NF         CF         CF    CF         CF         NF"
NOT_STARTED = "       NF             NF         NF         CF         CF    CF         CF         NF"
MATRIX: dict[str, dict[str, str]] = {
    "Unassigned": {
        "claim":    "A:alice        A:bob      A:carol    FB         FB    FB         FB         NF",
        "revoke":   "NF             NF         NF         CF         CF    CF         CF         NF",
        "assign":   "NF             NF         NF         A:carol    FB    A:carol    A:carol    NF",
        "delegate": "NF             NF         NF         CF         CF    CF         CF         NF",
        "complete": "NF             NF         NF         CF         CF    CF         CF         NF",
        "save":     "NF             NF         NF         CF         CF    CF         CF         NF",
        "validate": "NF             NF         NF         CF         CF    CF         CF         NF",
    },
    "Assigned": {
        "claim":    "CF             NF         NF         FB         FB    FB         FB         NF",
        "revoke":   "U              NF         NF         FB         FB    FB         FB         NF",
        "assign":   "FB             NF         NF         A:carol    FB    A:carol    A:carol    NF",
        "delegate": "D:alice>carol  NF         NF         FB         FB    FB         FB         NF",
        "complete": "C              NF         NF         FB         FB    FB         FB         NF",
        "save":     "S              NF         NF         FB         FB    FB         FB         NF",
        "validate": "V              NF         NF         FB         FB    FB         FB         NF",
    },
    "Delegated": {
        "claim":    "CF             CF         NF         FB         FB    FB         FB         NF",
        "revoke":   "A:alice        A:alice    NF         FB         FB    FB         FB         NF",
        "assign":   "FB             FB         NF         CF         FB    CF         CF         NF",
        "delegate": "FB             CF         NF         FB         FB    FB         FB         NF",
        "complete": "FB             C          NF         FB         FB    FB         FB         NF",
        "save":     "FB             S          NF         FB         FB    FB         FB         NF",
        "validate": "FB             V          NF         FB         FB    FB         FB         NF",
    },
    # Not active: every action is refused as a conflict (after the visibility check; alice
    # held the task, so she still sees the case).
    "Suspended": dict.fromkeys(("claim", "revoke", "assign", "delegate", "complete", "save", "validate"), ALL_CONFLICT),
    "Completed": dict.fromkeys(("claim", "revoke", "assign", "delegate", "complete", "save", "validate"), ALL_CONFLICT),
    "Terminated": dict.fromkeys(("claim", "revoke", "assign", "delegate", "complete", "save", "validate"), ALL_CONFLICT),
    "NotStarted": dict.fromkeys(("claim", "revoke", "assign", "delegate", "complete", "save", "validate"), NOT_STARTED),
}


def _rows():
    names = list(CALLERS)
    for task_state, actions in MATRIX.items():
        for action, line in actions.items():
            codes = line.split()
            assert len(codes) == len(names), (task_state, action)
            for who, code in zip(names, codes):
                yield pytest.param(task_state, action, who, code, id=f"{task_state}-{action}-{who}-{code}")


# The task state each setup leaves `task` in, to compare "nothing else changed" against.
SETUP_TASK = {
    "Unassigned": (TaskState.Unassigned, None, None),
    "Assigned": (TaskState.Assigned, "alice", "alice"),
    "Delegated": (TaskState.Delegated, "bob", "alice"),
}


@pytest.mark.parametrize("task_state,action,who,expected", list(_rows()))
def test_task_action_matrix(task_state: str, action: str, who: str, expected: str) -> None:
    s = case_with_task(task_state)
    item_id = "later" if task_state == "NotStarted" else "task"
    cmd = command(action, CALLERS[who], item_id)
    if expected in ERRORS:
        refuse(s, cmd, ERRORS[expected])
        return
    decision = run_decision(s, cmd)
    after = decision.state
    it = item(after, item_id)
    task = it.task
    assert task is not None
    if expected.startswith("A:"):
        user = expected[2:]
        assert (it.state, task.task_state, task.assignee, task.owner) == (ItemState.Active, TaskState.Assigned, user, user)
    elif expected.startswith("D:"):
        owner, assignee = expected[2:].split(">")
        assert (it.state, task.task_state, task.assignee, task.owner) == (ItemState.Active, TaskState.Delegated, assignee, owner)
    elif expected == "U":
        assert (it.state, task.task_state, task.assignee, task.owner) == (ItemState.Active, TaskState.Unassigned, None, None)
    elif expected == "C":
        assert (it.state, task.task_state) == (ItemState.Completed, TaskState.Completed)
        assert after.data["answer"] == "yes"
    elif expected == "S":
        assert (task.task_state, task.assignee, task.owner) == SETUP_TASK[task_state]
        assert task.output == {"note": "draft"}
        assert "note" not in after.data, "a saved draft is not case data until the task completes"
    elif expected == "V":
        assert decision.problems == []
        assert after.model_dump() == s.model_dump()
        return
    else:
        raise AssertionError(expected)
    assert after.version == s.version + 1
    assert decision.events, "an accepted action leaves an audit entry"


# ------------------------------------------------------------------ the seed's sequence


def test_seed_sequence_assign_delegate_revoke_revoke_claim() -> None:
    s = new_case()
    s = run(s, Assign(actor=PAT, item_id="task", assignee=ALICE))
    s = run(s, Delegate(actor=ALICE, item_id="task", assignee=BOB))
    t = item(s, "task").task
    assert (t.task_state, t.assignee, t.owner) == (TaskState.Delegated, "bob", "alice")
    # the delegate revokes: back to the previous user
    s = run(s, Revoke(actor=BOB, item_id="task"))
    t = item(s, "task").task
    assert (t.task_state, t.assignee, t.owner) == (TaskState.Assigned, "alice", "alice")
    # the original user also revokes: it can again be assigned or claimed
    s = run(s, Revoke(actor=ALICE, item_id="task"))
    t = item(s, "task").task
    assert (t.task_state, t.assignee, t.owner) == (TaskState.Unassigned, None, None)
    s = run(s, Claim(actor=CAROL, item_id="task"))
    t = item(s, "task").task
    assert (t.task_state, t.assignee, t.owner) == (TaskState.Assigned, "carol", "carol")


def test_delegate_to_yourself_is_invalid() -> None:
    s = case_with_task("Assigned")
    err = refuse(s, Delegate(actor=ALICE, item_id="task", assignee=ALICE), Invalid)
    assert err.details and err.details[0]["field"] == "assignee"


def test_suspended_task_keeps_its_holder_and_gets_it_back_on_resume() -> None:
    s = case_with_task("Delegated")
    s = run(s, Transition(actor=OWEN, item_id="task", transition="suspend"))
    t = item(s, "task").task
    assert (item(s, "task").state, t.task_state) == (ItemState.Suspended, TaskState.Suspended)
    s = run(s, Transition(actor=OWEN, item_id="task", transition="resume"))
    t = item(s, "task").task
    assert (t.task_state, t.assignee, t.owner) == (TaskState.Delegated, "bob", "alice")
    s = run(s, Complete(actor=BOB, item_id="task", output={"answer": "ok"}))
    assert item(s, "task").task.task_state == TaskState.Completed


# ------------------------------------------------------------------ MANUAL tasks


@pytest.mark.parametrize("who,error", [("alice", NotFound), ("carol", NotFound), ("owen", Conflict), ("pat", Conflict)])
def test_manual_task_cannot_be_claimed(who: str, error: type) -> None:
    # not offered to anyone: a role holder outside the team is not even told of it
    refuse(new_case(), Claim(actor=CALLERS[who], item_id="manual"), error)


@pytest.mark.parametrize(
    "assigner,expected",
    [("owen", "assigned"), ("sue", "assigned"), ("pat", "assigned"), ("alice", NotFound), ("tess", Forbidden), ("xavier", NotFound)],
)
def test_manual_task_is_assigned_by_owner_or_planner(assigner: str, expected: Any) -> None:
    s = new_case()
    cmd = Assign(actor=CALLERS[assigner], item_id="manual", assignee=CAROL)
    if expected != "assigned":
        refuse(s, cmd, expected)
        return
    s = run(s, cmd)
    t = item(s, "manual").task
    assert (t.task_state, t.assignee, t.owner) == (TaskState.Assigned, "carol", "carol")
    # revoked, it goes back to the pool, and still cannot be claimed: by the owner (who is
    # told so), nor by carol, who no longer holds a task of the case and so no longer sees it
    s = run(s, Revoke(actor=CAROL, item_id="manual"))
    assert item(s, "manual").task.task_state == TaskState.Unassigned
    refuse(s, Claim(actor=OWEN, item_id="manual"), Conflict)
    refuse(s, Claim(actor=CAROL, item_id="manual"), NotFound)


# ------------------------------------------------------------------ assign outside the role


@pytest.mark.parametrize(
    "assignee,team_roles_after",
    [
        # not in the team at all: joins it with the task's role
        ("dan", ["worker"]),
        # in the team with another role: gets the task's role too
        ("tess", ["requester", "worker"]),
        # already holds the role through the definition: the team is unchanged
        ("carol", None),
        # the case owner without the role gets it, and stays owner
        ("owen", ["requester", "worker"]),
    ],
)
def test_assign_outside_the_role_adds_to_team_with_role(assignee: str, team_roles_after: list[str] | None) -> None:
    s = new_case()
    s = run(s, Assign(actor=OWEN, item_id="task", assignee=actor(assignee)))
    t = item(s, "task").task
    assert (t.task_state, t.assignee, t.owner) == (TaskState.Assigned, assignee, assignee)
    member = next((m for m in s.team if m.userId == assignee), None)
    if team_roles_after is None:
        assert member is None
    else:
        assert member is not None and sorted(member.caseRoles) == team_roles_after
        if assignee == "owen":
            assert member.isOwner
    # the assignee now may work the task
    s = run(s, Complete(actor=actor(assignee), item_id="task", output={"answer": "a"}))
    assert item(s, "task").state == ItemState.Completed


def test_assignee_from_outside_can_then_claim_after_revoke() -> None:
    s = run(new_case(), Assign(actor=OWEN, item_id="task", assignee=actor("dan")))
    s = run(s, Revoke(actor=actor("dan"), item_id="task"))
    s = run(s, Claim(actor=actor("dan"), item_id="task"))
    assert item(s, "task").task.assignee == "dan"


# ------------------------------------------------------------------ output


@pytest.mark.parametrize(
    "output,fields",
    [
        ({}, ["output.answer"]),
        ({"note": "n"}, ["output.answer"]),
        ({"answer": None}, ["output.answer"]),
        ({"answer": 5}, ["output.answer"]),
        ({"answer": True}, ["output.answer"]),
        ({"answer": ["a"]}, ["output.answer"]),
        ({"answer": "a", "note": 3}, ["output.note"]),
        ({"answer": "a", "bogus": 1}, ["output.bogus"]),
        ({"bogus": 1}, ["output.bogus", "output.answer"]),
    ],
)
def test_complete_with_bad_output_is_invalid(output: dict[str, Any], fields: list[str]) -> None:
    s = case_with_task("Assigned")
    err = refuse(s, Complete(actor=ALICE, item_id="task", output=output), Invalid)
    assert sorted(d["field"] for d in err.details) == sorted(fields)


@pytest.mark.parametrize(
    "output,fields",
    [
        ({}, ["output.answer"]),
        ({"answer": 5}, ["output.answer"]),
        ({"answer": "a", "bogus": 1}, ["output.bogus"]),
        ({"answer": "a"}, []),
    ],
)
def test_validate_answers_problems_without_changing_anything(output: dict[str, Any], fields: list[str]) -> None:
    s = case_with_task("Assigned")
    decision = run_decision(s, Validate(actor=ALICE, item_id="task", output=output))
    assert sorted(p["field"] for p in decision.problems) == fields
    assert decision.state.model_dump() == s.model_dump()
    assert decision.events == []


@pytest.mark.parametrize(
    "draft,error",
    [
        ({}, None),
        ({"note": "only a note"}, None),  # required fields may be missing in a draft
        ({"answer": 5}, Invalid),
        ({"bogus": "x"}, Invalid),
    ],
)
def test_save_checks_types_but_not_required(draft: dict[str, Any], error: Any) -> None:
    s = case_with_task("Assigned")
    cmd = Save(actor=ALICE, item_id="task", output=draft)
    if error:
        refuse(s, cmd, error)
        return
    s2 = run(s, cmd)
    assert item(s2, "task").task.output == draft
    assert item(s2, "task").task.task_state == TaskState.Assigned
    assert item(s2, "task").state == ItemState.Active


def test_output_merges_into_case_data() -> None:
    s = run(case_with_task("Assigned"), Transition(actor=OWEN, item_id="go", transition="occur"))
    before = dict(s.data)
    s = run(s, Complete(actor=ALICE, item_id="task", output={"answer": "yes", "note": "n"}))
    assert s.data == {**before, "answer": "yes", "note": "n"}
    assert item(s, "task").task.output == {"answer": "yes", "note": "n"}


@pytest.mark.parametrize(
    "draft,body,merged",
    [
        ({"note": "from draft"}, {"answer": "from body"}, {"note": "from draft", "answer": "from body"}),
        ({"answer": "draft", "note": "n"}, {"answer": "final"}, {"answer": "final", "note": "n"}),
        ({"answer": "draft only"}, {}, {"answer": "draft only"}),
    ],
)
def test_complete_merges_saved_draft_and_body(draft: dict[str, Any], body: dict[str, Any], merged: dict[str, Any]) -> None:
    s = run(case_with_task("Assigned"), Save(actor=ALICE, item_id="task", output=draft))
    s = run(s, Complete(actor=ALICE, item_id="task", output=body))
    assert item(s, "task").task.output == merged
    for key, value in merged.items():
        assert s.data[key] == value


def test_complete_by_transition_uses_the_saved_draft() -> None:
    s = case_with_task("Assigned")
    refuse(s, Transition(actor=ALICE, item_id="task", transition="complete"), Invalid)
    s = run(s, Save(actor=ALICE, item_id="task", output={"answer": "saved"}))
    s = run(s, Transition(actor=ALICE, item_id="task", transition="complete"))
    assert item(s, "task").state == ItemState.Completed
    assert s.data["answer"] == "saved"


# ------------------------------------------------------------------ activation: del_index, due, assignment

SEQ = definition(
    {
        "roles": {"worker": {"users": ["alice"]}, "planner": {"users": ["pat"]}},
        "plan": {
            "autoComplete": False,
            "items": [
                {"id": "first", "type": "humanTask", "name": "First", "role": "worker", "due": "PT4H",
                 "assignment": {"rule": "EVALUATE", "variable": "SYS_STARTER"},
                 "route": {"type": "SEQUENTIAL", "to": [{"task": "second"}]}},
                {"id": "second", "type": "humanTask", "name": "Second", "role": "worker", "due": "P2D",
                 "assignment": {"rule": "EVALUATE", "variable": "reviewer"}},
                {"id": "other", "type": "humanTask", "name": "Other", "role": "worker"},
            ],
            "planning": [
                {"id": "extra", "type": "humanTask", "name": "Extra", "role": "worker", "plannableBy": ["planner"],
                 "due": "PT30M"},
            ],
        },
        "inputs": {"reviewer": {"type": "string"}},
    }
)


def test_del_index_increments_per_activation_and_due_follows_activation() -> None:
    s = start_case(SEQ, OWEN, {"reviewer": "alice"}, team=[TeamMember(userId="pat", caseRoles=["planner"])])
    assert item(s, "first").task.del_index == 1
    assert item(s, "other").task.del_index == 2
    assert item(s, "first").task.due == T0 + timedelta(hours=4)
    assert item(s, "other").task.due is None
    later = T0 + timedelta(hours=1)
    s = run(s, Complete(actor=OWEN, item_id="first"), later)
    assert item(s, "second").task.del_index == 3
    assert item(s, "second").task.due == later + timedelta(days=2)
    even_later = later + timedelta(minutes=5)
    d = run_decision(s, Plan(actor=PAT, definition_id="extra"), even_later)
    d2 = run_decision(d.state, Plan(actor=PAT, definition_id="extra"), even_later + timedelta(minutes=1))
    planned1, planned2 = item(d2.state, d.plan_item_id), item(d2.state, d2.plan_item_id)
    assert (planned1.task.del_index, planned2.task.del_index) == (4, 5)
    assert planned1.task.due == even_later + timedelta(minutes=30)
    assert planned2.task.due == even_later + timedelta(minutes=31)


@pytest.mark.parametrize(
    "inputs,expected",
    [
        ({"reviewer": "carol"}, ("Assigned", "carol")),
        ({"reviewer": "alice"}, ("Assigned", "alice")),
        ({}, ("Unassigned", None)),
        ({"reviewer": ""}, ("Unassigned", None)),
        ({"reviewer": None}, ("Unassigned", None)),
    ],
)
def test_evaluate_assignment_from_a_case_variable(inputs: dict[str, Any], expected: tuple[str, str | None]) -> None:
    s = start_case(SEQ, OWEN, inputs)
    # SYS_STARTER: the first task goes to the starter
    first = item(s, "first").task
    assert (first.task_state, first.assignee, first.owner) == (TaskState.Assigned, "owen", "owen")
    s = run(s, Complete(actor=OWEN, item_id="first"))
    second = item(s, "second").task
    assert (second.task_state.value, second.assignee) == expected
    assert second.owner == expected[1]


def test_evaluate_assignment_reads_the_variable_when_the_task_starts() -> None:
    s = start_case(SEQ, OWEN, {"reviewer": "alice"})
    s = run(s, MergeFile(actor=OWEN, data={"reviewer": "carol"}))
    s = run(s, Complete(actor=OWEN, item_id="first"))
    assert item(s, "second").task.assignee == "carol"


def test_task_due_marks_overdue_only_when_due() -> None:
    s = start_case(SEQ, OWEN)
    early = run_decision(s, TaskDue(actor=SYSTEM, item_id="first"), T0 + timedelta(hours=3))
    assert early.events == [] and early.state.model_dump() == s.model_dump()
    s = run(s, TaskDue(actor=SYSTEM, item_id="first"), T0 + timedelta(hours=4))
    assert item(s, "first").task.overdue is True
    # again: nothing more happens
    again = run_decision(s, TaskDue(actor=SYSTEM, item_id="first"), T0 + timedelta(hours=5))
    assert again.events == []
    # a task without a due date never becomes overdue
    s2 = run(s, TaskDue(actor=SYSTEM, item_id="other"), T0 + timedelta(days=30))
    assert item(s2, "other").task.overdue is False


@pytest.mark.parametrize("how", ["delegate", "evaluate"])
def test_holder_without_the_role_may_complete_through_the_transition(how: str) -> None:
    if how == "delegate":
        s = run(case_with_task("Assigned"), Delegate(actor=ALICE, item_id="task", assignee=actor("dan")))
        s = run(s, Save(actor=actor("dan"), item_id="task", output={"answer": "x"}))
        holder, item_id = actor("dan"), "task"
    else:
        s = start_case(SEQ, OWEN, {"reviewer": "carol"})  # carol does not hold `worker` in SEQ
        s = run(s, Complete(actor=OWEN, item_id="first"))
        holder, item_id = CAROL, "second"
    assert item(s, item_id).task.assignee == holder.user_id
    s = run(s, Transition(actor=holder, item_id=item_id, transition="complete"))
    assert item(s, item_id).state == ItemState.Completed
