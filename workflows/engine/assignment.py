"""Who a human task goes to when it starts (the assignment rules of DESIGN.md section 3).

MANUAL and SELF_SERVICE leave the task to its pool (MANUAL: only an owner or planner may
assign it); EVALUATE takes the user named by a case variable (SYS_STARTER: the starter).
BALANCED, REPORT_TO and SELF_SERVICE_EVALUATE need the read model and the directory; until
they come with the ProcessMaker face they leave the task to its pool, like SELF_SERVICE.
"""

from __future__ import annotations

from typing import Any

from workflows.definition import AssignmentRule, HumanTask
from workflows.engine.state import CaseState

SYSTEM_VARIABLES = {"SYS_STARTER"}


def variable(state: CaseState, name: str, data: dict[str, Any]) -> Any:
    if name == "SYS_STARTER":
        return state.created_by
    return data.get(name)


def initial_assignee(state: CaseState, task: HumanTask, data: dict[str, Any]) -> str | None:
    if task.assignment.rule == AssignmentRule.EVALUATE and task.assignment.variable:
        value = variable(state, task.assignment.variable, data)
        return value if isinstance(value, str) and value else None
    return None


def claimable(task: HumanTask) -> bool:
    return task.assignment.rule != AssignmentRule.MANUAL
