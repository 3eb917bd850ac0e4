"""Who holds which role in a case, and who may see it. Every access rule lives here."""

from __future__ import annotations

from workflows.actor import Actor
from workflows.definition import Definition, HumanTask, UserEvent
from workflows.engine.assignment import claimable, evaluated_pool, pool_from_variable
from workflows.engine.principals import group, user
from workflows.engine.state import CaseState, HumanTaskInfo, ItemState, TeamMember

# ProcessMaker permissions (DESIGN.md 6), held by actors across all cases.
ALL_CASES = "PM_ALLCASES"
CANCEL_CASE = "PM_CANCELCASE"
DELETE_CASE = "PM_DELETECASE"
REASSIGN_CASE = "PM_REASSIGNCASE"
REASSIGN_SUPERVISED = "PM_REASSIGNCASE_SUPERVISOR"
# Commands a permission lets its holder send to any case, seen or not: ProcessMaker grants
# these over every case (its reassign and cancel lists show them all).
ACTS_BY_PERMISSION = {"cancel_case": CANCEL_CASE, "delete_case": DELETE_CASE, "reassign": REASSIGN_CASE}
# The access rules new cases are decided by (CaseState.access_rules).
RULES = 2


def member(state: CaseState, user_id: str) -> TeamMember | None:
    return next((m for m in state.team if m.userId == user_id), None)


def is_owner(state: CaseState, actor: Actor) -> bool:
    m = member(state, actor.user_id)
    return bool(m and m.isOwner)


def holds_role(state: CaseState, actor: Actor, role: str) -> bool:
    """Per-case team roles first, then the definition's users and groups for that role."""
    m = member(state, actor.user_id)
    if m and role in m.caseRoles:
        return True
    spec = state.definition.roles.get(role)
    return bool(spec and (actor.is_named_by(spec.users) or actor.in_any_group(spec.groups)))


def holds_any(state: CaseState, actor: Actor, roles: list[str]) -> bool:
    return any(holds_role(state, actor, r) for r in roles)


def is_supervisor(state: CaseState, actor: Actor) -> bool:
    names = state.definition.supervisors
    return actor.is_named_by(names) or actor.in_any_group(names)


def holds_a_task(state: CaseState, actor: Actor) -> bool:
    """Holds one of its tasks, or held one that has ended."""
    return any(
        i.task is not None and actor.user_id in (i.task.assignee, i.task.owner) for i in state.items.values()
    )


def in_a_pool_by_variable(state: CaseState, actor: Actor) -> bool:
    """Rules 1 only: named by the SELF_SERVICE_EVALUATE variable of an active, unheld task."""
    from workflows.engine.lifecycle import DefIndex  # lifecycle imports this module

    defs = DefIndex.of(state.definition)
    for i in state.items.values():
        if i.task is None or i.state != ItemState.Active or i.task.assignee:
            continue
        model = defs.items.get(i.definition_id)
        if isinstance(model, HumanTask) and pool_from_variable(model) and in_pool(state, actor, model):
            return True
    return False


def can_see(state: CaseState, actor: Actor) -> bool:
    """Who sees the case as a whole (its plan, file, team, history and every task): its team
    (owners included), whoever holds or held one of its tasks, the definition's supervisors
    and PM_ALLCASES. Everyone else is told it does not exist, a starter who left the team
    included; a pool member sees only the tasks offered to them (`sees_task`). A deleted
    case exists for nobody. The read model's participations and viewers (projection.py)
    follow the same rule, so no list shows a case its reader is refused."""
    if state.deleted:
        return False
    if (
        member(state, actor.user_id) is not None
        or holds_a_task(state, actor)
        or is_supervisor(state, actor)
        or sees_all(actor)
    ):
        return True
    # Cases whose history was decided by the first rules keep them (see CaseState.access_rules).
    return state.access_rules < 2 and (
        holds_any(state, actor, list(state.definition.roles)) or in_a_pool_by_variable(state, actor)
    )


def offered_to(state: CaseState, actor: Actor, item_id: str) -> bool:
    """The task is offered to the actor: active, held by nobody, claimable, and the actor is
    in its pool. That shows them the task (with its input) and lets them claim it."""
    from workflows.engine.lifecycle import DefIndex  # lifecycle imports this module

    item = state.items.get(item_id)
    if item is None or item.task is None or item.state != ItemState.Active or item.task.assignee:
        return False
    model = DefIndex.of(state.definition).items.get(item.definition_id)
    return isinstance(model, HumanTask) and claimable(model) and in_pool(state, actor, model)


def available_to(state: CaseState, actor: Actor, item_id: str) -> bool:
    """A task the actor can work on now: active and held by them, or offered to them (what
    an inbox shows as theirs to do)."""
    item = state.items.get(item_id)
    if item is None or item.task is None or item.state != ItemState.Active:
        return False
    return item.task.assignee == actor.user_id or offered_to(state, actor, item_id)


def sees_task(state: CaseState, actor: Actor, item_id: str) -> bool:
    return can_see(state, actor) or (not state.deleted and offered_to(state, actor, item_id))


def sees_all(actor: Actor) -> bool:
    """PM_ALLCASES: every case, in every list that lists cases."""
    return ALL_CASES in actor.permissions


# Commands that a pool member who does not see the case may send about a task offered to them.
OFFERED_COMMANDS = frozenset({"claim"})


def can_address(state: CaseState, actor: Actor, kind: str, item_id: str | None = None) -> bool:
    """Whether a command reaches the case at all (otherwise: 404, it does not exist): the
    caller sees the case, holds a permission that reaches every case for this command, or
    claims a task offered to them."""
    if state.deleted:
        return False
    needed = ACTS_BY_PERMISSION.get(kind)
    return (
        can_see(state, actor)
        or (needed is not None and needed in actor.permissions)
        or (kind in OFFERED_COMMANDS and item_id is not None and offered_to(state, actor, item_id))
    )


def may_change_file(state: CaseState, actor: Actor) -> bool:
    """The case file is changed by the case team (owners included), supervisors and the
    holder of an active task; under rules 1 also by every holder of a definition role."""
    if member(state, actor.user_id) is not None or is_supervisor(state, actor) or holds_open_task(state, actor):
        return True
    return state.access_rules < 2 and holds_any(state, actor, list(state.definition.roles))


def can_manage(state: CaseState, actor: Actor) -> bool:
    """Case owners and supervisors steer the case: team, lifecycle of stages, assignment."""
    return is_owner(state, actor) or is_supervisor(state, actor)


def claimants(state: CaseState, task: HumanTask) -> set[str]:
    """Who may claim the task, as `role:`, `group:` and `user:` names (what ops filter on)."""
    if not task.role:
        return set()
    spec = state.definition.roles.get(task.role)
    names = {f"role:{task.role}"}
    if spec:
        names.update(f"group:{g}" for g in spec.groups)
        names.update(f"user:{u}" for u in spec.users)
    return names


def may_perform(state: CaseState, actor: Actor, task: HumanTask) -> bool:
    """Holding the task's role (its pool); a task without a role is open to the team."""
    if task.role:
        return holds_role(state, actor, task.role)
    return member(state, actor.user_id) is not None


# ---------------------------------------------------------------- the pool of a human task


def role_principals(state: CaseState, role: str | None) -> set[str]:
    """Who holds a role, as principals: the definition's users and groups, and team members
    given it. A task without a role is open to the case team."""
    if not role:
        return {user(m.userId) for m in state.team}
    out = {user(m.userId) for m in state.team if role in m.caseRoles}
    spec = state.definition.roles.get(role)
    if spec:
        out |= {user(u) for u in spec.users} | {group(g) for g in spec.groups}
    return out


def team_principals(state: CaseState, role: str | None) -> set[str]:
    """The team members a task of `role` is for (the whole team for a task without a role)."""
    return {user(m.userId) for m in state.team if not role or role in m.caseRoles}


def in_pool(state: CaseState, actor: Actor, task: HumanTask) -> bool:
    """Whether a user may hold the task: named by its SELF_SERVICE_EVALUATE variable (the
    variable, not the role, is the pool then), else `may_perform`. Claim, reassign and the
    starting task's user all go by this."""
    if pool_from_variable(task):
        users, groups = evaluated_pool(state, task)
        return actor.is_named_by(users) or actor.in_any_group(groups)
    return may_perform(state, actor, task)


def candidate_principals(state: CaseState, task: HumanTask) -> set[str]:
    """Who may claim the task while it is unassigned, as principals (`user:`, `group:`).
    MANUAL tasks are claimed by nobody: an owner or planner assigns them."""
    if not claimable(task):
        return set()
    if pool_from_variable(task):
        users, groups = evaluated_pool(state, task)
        return {user(u) for u in users} | {group(g) for g in groups}
    return role_principals(state, task.role)


def pool_users(state: CaseState, task: HumanTask) -> tuple[list[str], list[str]]:
    """(user ids or usernames, group ids) that make up the task's pool, sorted; the shell
    expands the groups through the directory (BALANCED picks from the result)."""
    if pool_from_variable(task):
        users, groups = evaluated_pool(state, task)
        return sorted(set(users)), sorted(set(groups))
    if not task.role:
        return sorted({m.userId for m in state.team}), []
    names = {m.userId for m in state.team if task.role in m.caseRoles}
    groups: set[str] = set()
    spec = state.definition.roles.get(task.role)
    if spec:
        names |= set(spec.users)
        groups |= set(spec.groups)
    return sorted(names), sorted(groups)


# ---------------------------------------------------------------- case-level actions (ProcessMaker)


def is_open(task_item_state: ItemState) -> bool:
    """An open delegation: its task is active, or suspended with its case (paused)."""
    return task_item_state in (ItemState.Active, ItemState.Suspended)


def holds_open_task(state: CaseState, actor: Actor) -> bool:
    """ProcessMaker's "currently assigned user of the case"."""
    return any(
        i.task is not None and is_open(i.state) and i.task.assignee == actor.user_id for i in state.items.values()
    )


def may_pause(state: CaseState, actor: Actor) -> bool:
    """Pause and unpause: the user working on the case, or a process supervisor."""
    return holds_open_task(state, actor) or is_supervisor(state, actor)


def may_cancel(state: CaseState, actor: Actor) -> bool:
    return CANCEL_CASE in actor.permissions or holds_open_task(state, actor)


def may_delete(actor: Actor, first: HumanTaskInfo) -> bool:
    """Only the user assigned to the first task, or PM_DELETECASE."""
    return DELETE_CASE in actor.permissions or (first.assignee is not None and first.assignee == actor.user_id)


def may_reassign(state: CaseState, actor: Actor) -> bool:
    if REASSIGN_CASE in actor.permissions:
        return True
    return REASSIGN_SUPERVISED in actor.permissions and is_supervisor(state, actor)


def may_run_trigger(state: CaseState, actor: Actor) -> bool:
    """ProcessMaker's rule: only the user assigned to the case (the holder of an open task).
    Under rules 1 case owners and supervisors could too."""
    if holds_open_task(state, actor):
        return True
    return state.access_rules < 2 and (is_owner(state, actor) or is_supervisor(state, actor))


def may_plan(state: CaseState, actor: Actor, plannable_by: list[str]) -> bool:
    """A planning role (plannableBy) or, where none is named, any team member or owner."""
    if can_manage(state, actor):
        return True
    if plannable_by:
        return holds_any(state, actor, plannable_by)
    return member(state, actor.user_id) is not None


def may_raise(state: CaseState, actor: Actor, event: UserEvent) -> bool:
    if event.roles:
        return holds_any(state, actor, event.roles) or can_manage(state, actor)
    return member(state, actor.user_id) is not None or can_manage(state, actor)


def may_start(definition: Definition, actor: Actor) -> bool:
    """`startedBy` names users or groups; an empty list lets anyone authenticated start."""
    names = definition.startedBy
    return not names or actor.is_named_by(names) or actor.in_any_group(names)
