"""Who a human task goes to when it starts (the assignment rules of DESIGN.md section 3).

- MANUAL: nobody; only an owner or planner may assign it (it cannot be claimed).
- SELF_SERVICE: nobody; its pool (the role's holders) claims it.
- EVALUATE: the user a case variable names (SYS_STARTER: the starter).
- REPORT_TO: the manager (`reportsTo`) of the user whose action started it; with none
  (the shell's own action, nobody above) it is left to its pool.
- SELF_SERVICE_EVALUATE: nobody; the pool is what a case variable names (users, usernames,
  `group:<id>`), not the role.
- BALANCED: nobody yet; the shell picks a user of the pool round-robin across cases (that
  needs the read model, so it is not the engine's to do) and sends AutoAssign.
"""

from __future__ import annotations

from typing import Any

from workflows.actor import Actor
from workflows.definition import AssignmentRule, HumanTask
from workflows.engine.state import CaseState

SYSTEM_VARIABLES = {"SYS_STARTER"}
GROUP_PREFIX = "group:"
USER_PREFIX = "user:"


def variable(state: CaseState, name: str, data: dict[str, Any]) -> Any:
    if name == "SYS_STARTER":
        return state.created_by
    return data.get(name)


def initial_assignee(state: CaseState, task: HumanTask, data: dict[str, Any], actor: Actor) -> str | None:
    rule = task.assignment.rule
    if rule == AssignmentRule.EVALUATE and task.assignment.variable:
        value = variable(state, task.assignment.variable, data)
        return value if isinstance(value, str) and value else None
    if rule == AssignmentRule.REPORT_TO and not actor.is_system:
        return actor.reports_to or None
    return None


def claimable(task: HumanTask) -> bool:
    return task.assignment.rule != AssignmentRule.MANUAL


def awaits_pick(task: HumanTask) -> bool:
    return task.assignment.rule == AssignmentRule.BALANCED


def pool_from_variable(task: HumanTask) -> bool:
    return task.assignment.rule == AssignmentRule.SELF_SERVICE_EVALUATE and bool(task.assignment.variable)


def evaluated_pool(state: CaseState, task: HumanTask) -> tuple[list[str], list[str]]:
    """SELF_SERVICE_EVALUATE: (users, groups) the variable names now. A string or a list of
    strings; anything else names nobody, so the task waits for an owner to assign it."""
    value = variable(state, task.assignment.variable or "", state.data)
    entries = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    users: list[str] = []
    groups: list[str] = []
    for entry in entries:
        if not isinstance(entry, str) or not entry:
            continue
        if entry.startswith(GROUP_PREFIX):
            groups.append(entry.removeprefix(GROUP_PREFIX))
        else:
            users.append(entry.removeprefix(USER_PREFIX))
    return users, groups
