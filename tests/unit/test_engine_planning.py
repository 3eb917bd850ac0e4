"""Discretionary items and planning, the case team, the case file, visibility, closed cases
and starting a case (DESIGN.md 3 and 6; seed 000 "Planning Discretionary tasks")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.engine_helpers import (
    T0,
    actor,
    by_def,
    definition,
    item,
    refuse,
    run,
    run_decision,
    start_case,
)
from workflows.actor import SYSTEM
from workflows.engine import views
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
from workflows.engine.decide import start
from workflows.engine.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from workflows.engine.state import ItemState, TeamMember

OWEN = actor("owen")  # the starter: case owner with role requester
PAT = actor("pat")  # holds planner (plannableBy) through the definition, and is in the team
ALICE = actor("alice")  # holds worker through the definition, not in the team
TESS = actor("tess")  # a team member without roles
SUE = actor("sue")  # a supervisor
ALLCASES = actor("ally", permissions=("PM_ALLCASES",))
XAVIER = actor("xavier")  # an outsider
GINA = actor("gina", "planners")  # holds planner through a group, not in the team

DEFN = definition(
    {
        "roles": {
            "planner": {"users": ["pat"], "groups": ["planners"]},
            "worker": {"users": ["alice"]},
            "requester": {},
        },
        "starterRole": "requester",
        "supervisors": ["sue"],
        "inputs": {
            "amount": {"type": "number", "required": True},
            "title": {"type": "string"},
            "count": {"type": "integer"},
            "flag": {"type": "boolean"},
            "tags": {"type": "array"},
            "meta": {"type": "object"},
        },
        "plan": {
            "autoComplete": False,
            "items": [
                {"id": "go", "type": "userEvent", "name": "Go"},
                {"id": "review", "type": "humanTask", "name": "Review", "role": "worker",
                 "planning": [
                     {"id": "opinion", "type": "humanTask", "name": "Second opinion", "role": "worker",
                      "discretionary": True, "plannableBy": ["planner"]},
                 ]},
                {"id": "st", "type": "stage", "name": "Stage", "autoComplete": False,
                 "entry": [{"on": ["go.occur"]}],
                 "items": [{"id": "inside", "type": "userEvent", "name": "Inside"}],
                 "planning": [
                     {"id": "extra", "type": "humanTask", "name": "Extra", "role": "worker", "plannableBy": ["planner"]},
                     {"id": "big", "type": "humanTask", "name": "Big", "role": "worker", "plannableBy": ["planner"],
                      "if": "amount > 100"},
                     {"id": "sub", "type": "stage", "name": "Sub", "plannableBy": ["planner"], "autoComplete": False,
                      "items": [
                          {"id": "sub-task", "type": "humanTask", "name": "Sub task", "role": "worker",
                           "planning": [{"id": "tip", "type": "humanTask", "name": "Tip", "plannableBy": ["planner"]}]},
                      ]},
                 ]},
            ],
            "planning": [
                {"id": "note", "type": "humanTask", "name": "Note"},
            ],
        },
    }
)


def new_case(amount: float = 50, **more: Any):
    return start_case(DEFN, OWEN, {"amount": amount, **more}, team=[TeamMember(userId="tess"), TeamMember(userId="pat")])


def listed(state, who) -> set[tuple[str, str]]:
    return {(d.definitionId, d.parentId) for d in views.discretionary(state, who, T0)}


# ------------------------------------------------------------------ discretionary items

ROOT_ONES = {("opinion", "review"), ("note", "casePlan")}
STAGE_ONES = {("extra", "st"), ("sub", "st")}


@pytest.mark.parametrize(
    "stage_active,amount,who,expected",
    [
        # the stage is not active yet: only the items of active parents
        (False, 50, PAT, {("opinion", "review"), ("note", "casePlan")}),
        (False, 500, PAT, {("opinion", "review"), ("note", "casePlan")}),
        # the stage is active: its items; `big` only while amount > 100
        (True, 50, PAT, {("opinion", "review"), ("note", "casePlan")} | STAGE_ONES),
        (True, 500, PAT, {("opinion", "review"), ("big", "st"), ("note", "casePlan")} | STAGE_ONES),
        # case owners and supervisors may plan everything
        (True, 500, OWEN, ROOT_ONES | STAGE_ONES | {("big", "st")}),
        (True, 500, SUE, ROOT_ONES | STAGE_ONES | {("big", "st")}),
        # a team member without a planning role: only what names no planning role
        (True, 500, TESS, {("note", "casePlan")}),
        # a holder of another role, not in the team: nothing
        (True, 500, ALICE, set()),
    ],
)
def test_discretionary_items_listed(stage_active: bool, amount: float, who: Any, expected: set[tuple[str, str]]) -> None:
    s = new_case(amount)
    if stage_active:
        s = run(s, Transition(actor=OWEN, item_id="go", transition="occur"))
    # `note` names no planning role: team members (pat too) and owners may plan it
    assert listed(s, who) == expected


def test_discretionary_items_of_a_task_are_listed_only_while_it_is_active() -> None:
    s = new_case()
    assert ("opinion", "review") in listed(s, PAT)
    s = run(s, Claim(actor=ALICE, item_id="review"))
    s = run(s, Complete(actor=ALICE, item_id="review"))
    assert ("opinion", "review") not in listed(s, PAT)
    refuse(s, Plan(actor=PAT, definition_id="opinion"), Conflict)


def test_discretionary_view_fields() -> None:
    s = run(new_case(), Transition(actor=OWEN, item_id="go", transition="occur"))
    extra = next(d for d in views.discretionary(s, PAT, T0) if d.definitionId == "extra")
    assert extra.model_dump() == {
        "name": "Extra", "definitionId": "extra", "type": "humanTask", "parentName": "Stage",
        "parentType": "stage", "parentId": "st",
    }


@pytest.mark.parametrize(
    "definition_id,parent_id,who,stage",
    [
        ("extra", None, PAT, "st"),
        ("extra", "st", PAT, "st"),
        ("extra", None, OWEN, "st"),
        ("extra", None, SUE, "st"),
        ("opinion", "review", PAT, "casePlan"),  # planned from a task's table into the task's stage
        ("note", None, TESS, "casePlan"),
        ("sub", None, PAT, "st"),
    ],
)
def test_planning_creates_the_item_in_its_stage(definition_id: str, parent_id: str | None, who: Any, stage: str) -> None:
    s = run(new_case(), Transition(actor=OWEN, item_id="go", transition="occur"))
    d = run_decision(s, Plan(actor=who, definition_id=definition_id, parent_id=parent_id))
    assert d.plan_item_id is not None
    planned = item(d.state, d.plan_item_id)
    assert (planned.definition_id, planned.parent_id, planned.discretionary) == (definition_id, stage, True)
    assert planned.state == ItemState.Active
    assert d.state.version == s.version + 1
    assert any(e.action == "plan" and e.planItemId == d.plan_item_id for e in d.events)


def test_planning_by_name() -> None:
    s = run(new_case(), Transition(actor=OWEN, item_id="go", transition="occur"))
    d = run_decision(s, Plan(actor=PAT, definition_id="", name="Extra"))
    assert item(d.state, d.plan_item_id).definition_id == "extra"


def test_planned_stage_starts_with_its_items() -> None:
    s = run(new_case(), Transition(actor=OWEN, item_id="go", transition="occur"))
    d = run_decision(s, Plan(actor=PAT, definition_id="sub"))
    children = [i for i in d.state.items.values() if i.parent_id == d.plan_item_id]
    assert [(c.definition_id, c.state) for c in children] == [("sub-task", ItemState.Active)]


def test_planning_twice_gives_distinct_items() -> None:
    s = run(new_case(), Transition(actor=OWEN, item_id="go", transition="occur"))
    d1 = run_decision(s, Plan(actor=PAT, definition_id="extra"))
    d2 = run_decision(d1.state, Plan(actor=PAT, definition_id="extra"))
    assert d1.plan_item_id != d2.plan_item_id
    assert [i.state for i in by_def(d2.state, "extra")] == [ItemState.Active, ItemState.Active]
    assert item(d2.state, d1.plan_item_id).task.del_index != item(d2.state, d2.plan_item_id).task.del_index


@pytest.mark.parametrize(
    "go,amount,cmd,error",
    [
        (True, 50, Plan(actor=TESS, definition_id="extra"), Forbidden),
        (True, 50, Plan(actor=ALICE, definition_id="extra"), NotFound),  # outside the team
        (True, 50, Plan(actor=GINA, definition_id="extra"), NotFound),  # a planning role, outside the team
        (True, 50, Plan(actor=ALLCASES, definition_id="extra"), Forbidden),
        (True, 50, Plan(actor=XAVIER, definition_id="extra"), NotFound),
        (True, 50, Plan(actor=PAT, definition_id="nope"), NotFound),
        (True, 50, Plan(actor=PAT, definition_id="inside"), NotFound),  # planned, not discretionary
        (True, 50, Plan(actor=PAT, definition_id="review"), NotFound),
        (True, 50, Plan(actor=PAT, definition_id="extra", parent_id="casePlan"), NotFound),  # not its parent
        (True, 50, Plan(actor=PAT, definition_id="extra", parent_id="nope"), NotFound),
        (False, 50, Plan(actor=PAT, definition_id="extra"), Conflict),  # its stage is not active
        (False, 500, Plan(actor=TESS, definition_id="extra"), Conflict),
        (True, 50, Plan(actor=PAT, definition_id="big"), Conflict),  # its `if` does not hold
        (True, 50, Plan(actor=PAT, definition_id="tip"), Conflict),  # its task does not exist yet
    ],
)
def test_planning_refused(go: bool, amount: float, cmd: Plan, error: type[DomainError]) -> None:
    s = new_case(amount)
    if go:
        s = run(s, Transition(actor=OWEN, item_id="go", transition="occur"))
    refuse(s, cmd, error)


@pytest.mark.parametrize("end", ["complete", "terminate"])
def test_planning_into_an_ended_stage_is_a_conflict(end: str) -> None:
    s = run(new_case(), Transition(actor=OWEN, item_id="go", transition="occur"))
    s = run(s, Transition(actor=OWEN, item_id="st", transition=end))
    refuse(s, Plan(actor=PAT, definition_id="extra"), Conflict)
    assert ("extra", "st") not in listed(s, PAT)


def test_item_planned_from_a_task_goes_into_that_tasks_stage_instance() -> None:
    s = run(new_case(), Transition(actor=OWEN, item_id="go", transition="occur"))
    d1 = run_decision(s, Plan(actor=PAT, definition_id="sub"))
    d2 = run_decision(d1.state, Plan(actor=PAT, definition_id="sub"))
    s = d2.state
    task_in_second = next(i for i in s.items.values() if i.definition_id == "sub-task" and i.parent_id == d2.plan_item_id)
    d = run_decision(s, Plan(actor=PAT, definition_id="tip", parent_id=task_in_second.id))
    assert item(d.state, d.plan_item_id).parent_id == d2.plan_item_id


# ------------------------------------------------------------------ the case team


def test_starter_is_owner_with_the_starter_role() -> None:
    s = new_case()
    assert s.team[0] == TeamMember(userId="owen", isOwner=True, caseRoles=["requester"])
    assert s.created_by == "owen"


def test_starter_keeps_roles_given_in_the_start_team() -> None:
    s = start_case(DEFN, OWEN, {"amount": 1}, team=[TeamMember(userId="owen", caseRoles=["planner"])])
    me = next(m for m in s.team if m.userId == "owen")
    assert me.isOwner and sorted(me.caseRoles) == ["planner", "requester"]


@pytest.mark.parametrize(
    "who,member,expected",
    [
        (OWEN, TeamMember(userId="dan", caseRoles=["worker"]), "ok"),
        (OWEN, TeamMember(userId="dan", isOwner=True), "ok"),
        (OWEN, TeamMember(userId="tess", caseRoles=["planner", "worker"]), "ok"),  # change a member's roles
        (SUE, TeamMember(userId="dan", caseRoles=["worker"]), "ok"),
        (TESS, TeamMember(userId="dan", caseRoles=["worker"]), Forbidden),
        (PAT, TeamMember(userId="dan", caseRoles=["worker"]), Forbidden),
        (ALICE, TeamMember(userId="dan", caseRoles=["worker"]), NotFound),
        (ALLCASES, TeamMember(userId="dan", caseRoles=["worker"]), Forbidden),
        (XAVIER, TeamMember(userId="dan", caseRoles=["worker"]), NotFound),
        (OWEN, TeamMember(userId="dan", caseRoles=["nope"]), Invalid),
        (OWEN, TeamMember(userId="dan", caseRoles=["worker", "nope"]), Invalid),
        (OWEN, TeamMember(userId="owen", isOwner=False, caseRoles=["requester"]), Conflict),  # the last owner
    ],
)
def test_team_add(who: Any, member: TeamMember, expected: Any) -> None:
    s = new_case()
    cmd = TeamAdd(actor=who, member=member)
    if expected != "ok":
        err = refuse(s, cmd, expected)
        if expected is Invalid:
            assert err.details and all(d["field"] == "caseRoles" for d in err.details)
        return
    s = run(s, cmd)
    assert [m for m in s.team if m.userId == member.userId] == [member]


@pytest.mark.parametrize(
    "who,user_id,expected",
    [
        (OWEN, "tess", "ok"),
        (SUE, "tess", "ok"),
        (TESS, "tess", Forbidden),
        (PAT, "tess", Forbidden),
        (XAVIER, "tess", NotFound),
        (OWEN, "nobody", NotFound),
        (OWEN, "owen", Conflict),  # the last owner stays
    ],
)
def test_team_remove(who: Any, user_id: str, expected: Any) -> None:
    s = new_case()
    cmd = TeamRemove(actor=who, user_id=user_id)
    if expected != "ok":
        refuse(s, cmd, expected)
        return
    s = run(s, cmd)
    assert user_id not in {m.userId for m in s.team}


def test_an_owner_can_leave_once_there_is_another() -> None:
    s = run(new_case(), TeamAdd(actor=OWEN, member=TeamMember(userId="dan", isOwner=True)))
    s = run(s, TeamRemove(actor=OWEN, user_id="owen"))
    assert [m.userId for m in s.team if m.isOwner] == ["dan"]
    # owen, no longer in the team and holding no role, may not see the case any more
    refuse(s, MergeFile(actor=OWEN, data={"x": 1}), NotFound)
    s = run(s, TeamRemove(actor=actor("dan"), user_id="tess"))
    refuse(s, TeamRemove(actor=actor("dan"), user_id="dan"), Conflict)


def test_team_roles_give_the_task_role() -> None:
    s = run(new_case(), TeamAdd(actor=OWEN, member=TeamMember(userId="tess", caseRoles=["worker"])))
    s = run(s, Claim(actor=TESS, item_id="review"))
    assert item(s, "review").task.assignee == "tess"


# ------------------------------------------------------------------ the case file


@pytest.mark.parametrize(
    "who,expected",
    [(OWEN, "ok"), (TESS, "ok"), (PAT, "ok"), (SUE, "ok"), ("alice holding review", "ok"),
     (ALICE, NotFound), (ALLCASES, Forbidden), (XAVIER, NotFound)],
)
def test_case_file_merge(who: Any, expected: Any) -> None:
    """The team, owners, supervisors and the holder of an active task change the file; a
    role holder outside the team sees no case to change; PM_ALLCASES only reads."""
    s = new_case(amount=10, title="t")
    if who == "alice holding review":
        s, who = run(s, Claim(actor=ALICE, item_id="review")), ALICE
    cmd = MergeFile(actor=who, data={"amount": 20, "extra": {"a": [1, 2]}})
    if expected != "ok":
        refuse(s, cmd, expected)
        return
    s = run(s, cmd)
    assert s.data == {"amount": 20, "title": "t", "extra": {"a": [1, 2]}}


# ------------------------------------------------------------------ visibility and closed cases


def user_commands(who: Any) -> list[Any]:
    return [
        Claim(actor=who, item_id="review"),
        Revoke(actor=who, item_id="review"),
        Assign(actor=who, item_id="review", assignee=ALICE),
        Delegate(actor=who, item_id="review", assignee=ALICE),
        Complete(actor=who, item_id="review"),
        Save(actor=who, item_id="review"),
        Validate(actor=who, item_id="review"),
        Transition(actor=who, item_id="go", transition="occur"),
        Transition(actor=who, item_id="casePlan", transition="terminate"),
        Transition(actor=who, item_id="nope", transition="suspend"),
        Transition(actor=who, item_id="go", transition="explode"),
        Plan(actor=who, definition_id="opinion"),
        Plan(actor=who, definition_id="nope"),
        TeamAdd(actor=who, member=TeamMember(userId="dan")),
        TeamRemove(actor=who, user_id="tess"),
        MergeFile(actor=who, data={"x": 1}),
    ]


def _ids(cmds: list[Any]) -> list[str]:
    return [f"{c.kind}-{getattr(c, 'item_id', '') or getattr(c, 'definition_id', '')}-{getattr(c, 'transition', '')}" for c in cmds]


@pytest.mark.parametrize("cmd", user_commands(XAVIER), ids=_ids(user_commands(XAVIER)))
def test_an_outsider_gets_not_found_for_every_user_command(cmd: Any) -> None:
    refuse(new_case(), cmd, NotFound)


@pytest.mark.parametrize(
    "outsider",
    [
        actor("xavier", "managers", permissions=("PM_CASES", "PM_REASSIGNCASE")),
        actor("", permissions=()),
        actor("alicex"),  # a name close to a role holder's
    ],
)
def test_other_outsiders_get_not_found(outsider: Any) -> None:
    refuse(new_case(), MergeFile(actor=outsider, data={}), NotFound)


@pytest.mark.parametrize("who", [ALLCASES, SUE], ids=["PM_ALLCASES", "supervisor"])
@pytest.mark.parametrize("index", range(len(user_commands(SUE))))
def test_visible_to_allcases_and_supervisors(who: Any, index: int) -> None:
    cmd = user_commands(who)[index]
    try:
        run(new_case(), cmd)
    except DomainError as exc:
        assert not isinstance(exc, NotFound) or "no plan item" in exc.message or "no discretionary" in exc.message, exc


@pytest.mark.parametrize("who", [GINA, ALICE], ids=["group-role", "user-role"])
@pytest.mark.parametrize("index", range(len(user_commands(SUE))))
def test_role_holders_outside_the_team_reach_only_the_task_offered_to_them(who: Any, index: int) -> None:
    """The definition's role holders are a task's pool, not the case's team: alice may claim
    `review` (her role's task, unassigned); every other command of hers, and every command of
    gina's (no task of the planner role is open), is about a case that does not exist for them."""
    cmd = user_commands(who)[index]
    if who is ALICE and cmd.kind == "claim":
        s = run(new_case(), cmd)
        assert item(s, "review").task.assignee == "alice"
        return
    refuse(new_case(), cmd, NotFound)


def closed_case(how: str):
    s = new_case()
    if how == "complete":
        # nothing may be active for the case plan to complete
        s = run(s, Transition(actor=OWEN, item_id="review", transition="terminate"))
    return run(s, Transition(actor=OWEN, item_id="casePlan", transition=how))


@pytest.mark.parametrize("how", ["complete", "terminate"])
@pytest.mark.parametrize("index", range(len(user_commands(OWEN))))
def test_every_user_command_on_a_closed_case_is_a_conflict(how: str, index: int) -> None:
    s = closed_case(how)
    assert s.closed
    refuse(s, user_commands(OWEN)[index], Conflict)
    # an outsider is still told there is no such case
    refuse(s, user_commands(XAVIER)[index], NotFound)


@pytest.mark.parametrize(
    "cmd",
    [
        TimerFired(actor=SYSTEM, item_id="go"),
        TaskDue(actor=SYSTEM, item_id="review"),
        ProcessDone(actor=SYSTEM, item_id="review", attempt=1, ok=True),
        ChildDone(actor=SYSTEM, item_id="review", state="Completed"),
    ],
    ids=lambda c: c.kind,
)
def test_shell_messages_on_a_closed_case_change_nothing(cmd: Any) -> None:
    s = closed_case("terminate")
    d = run_decision(s, cmd)
    assert d.events == [] and d.state.model_dump() == s.model_dump()


# ------------------------------------------------------------------ starting


@pytest.mark.parametrize(
    "inputs,fields",
    [
        ({}, ["inputs.amount"]),
        ({"amount": None}, ["inputs.amount"]),
        ({"amount": "12"}, ["inputs.amount"]),
        ({"amount": True}, ["inputs.amount"]),
        ({"amount": 1, "title": 5}, ["inputs.title"]),
        ({"amount": 1, "count": 1.5}, ["inputs.count"]),
        ({"amount": 1, "flag": "yes"}, ["inputs.flag"]),
        ({"amount": 1, "tags": "a"}, ["inputs.tags"]),
        ({"amount": 1, "meta": []}, ["inputs.meta"]),
        ({"amount": 1, "bogus": 1}, ["inputs.bogus"]),
        ({"bogus": 1}, ["inputs.amount", "inputs.bogus"]),
    ],
)
def test_start_with_bad_inputs_is_invalid(inputs: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(Invalid) as info:
        start(DEFN, case_id="c", case_number=1, actor=OWEN, inputs=inputs, team=[], at=T0)
    assert sorted(d["field"] for d in info.value.details) == sorted(fields)


@pytest.mark.parametrize(
    "inputs",
    [
        {"amount": 1},
        {"amount": 1.5},
        {"amount": 1, "title": "t", "count": 3, "flag": False, "tags": ["a"], "meta": {"k": "v"}},
    ],
)
def test_start_with_good_inputs(inputs: dict[str, Any]) -> None:
    d = start(DEFN, case_id="c", case_number=7, actor=OWEN, inputs=inputs, team=[], at=T0)
    assert d.state.data == inputs and d.state.version == 1 and d.state.plan.state == ItemState.Active
    assert d.events


def test_start_with_an_unknown_team_role_is_invalid() -> None:
    with pytest.raises(Invalid) as info:
        start(DEFN, case_id="c", case_number=1, actor=OWEN, inputs={"amount": 1},
              team=[TeamMember(userId="dan", caseRoles=["nope"])], at=T0)
    assert [d["field"] for d in info.value.details] == ["caseTeam.users[0].caseRoles"]
