"""Who holds which role in a case, and who may see it. Every access rule lives here."""

from __future__ import annotations

from workflows.actor import Actor
from workflows.definition import Definition, HumanTask, UserEvent
from workflows.engine.state import CaseState, TeamMember

ALL_CASES = "PM_ALLCASES"


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
    return any(
        i.task is not None and actor.user_id in (i.task.assignee, i.task.owner) for i in state.items.values()
    )


def can_see(state: CaseState, actor: Actor) -> bool:
    """Team members, role holders, task holders, supervisors and PM_ALLCASES see a case;
    everyone else is told it does not exist."""
    return (
        member(state, actor.user_id) is not None
        or holds_any(state, actor, list(state.definition.roles))
        or holds_a_task(state, actor)
        or is_supervisor(state, actor)
        or ALL_CASES in actor.permissions
    )


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
