"""What reads of one case return: built from the state, in the native face's field names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from workflows.actor import Actor
from workflows.definition import ROOT_ID, HumanTask
from workflows.engine import planning
from workflows.engine.lifecycle import Ctx, DefIndex
from workflows.engine.state import CaseState, PlanItemState, TeamMember


class PlanItemView(BaseModel):
    id: str
    name: str
    definitionId: str
    type: str
    stageId: str | None
    currentState: str
    isRequired: bool
    isDiscretionary: bool = False
    lastModified: datetime
    taskState: str | None = None
    assignee: str | None = None
    owner: str | None = None
    dueDate: datetime | None = None
    occursAt: datetime | None = None
    error: str | None = None


class TaskView(BaseModel):
    id: str
    caseInstanceId: str
    caseName: str
    taskName: str
    planItemId: str
    taskState: str
    role: str | None
    assignee: str | None
    owner: str | None
    dueDate: datetime | None
    overdue: bool
    delIndex: int
    createdOn: datetime
    lastModified: datetime
    input: dict[str, Any]
    output: dict[str, Any]


class TeamView(BaseModel):
    users: list[TeamMember]


class CaseView(BaseModel):
    id: str
    caseNumber: int
    name: str
    definition: str
    version: int
    state: str
    createdOn: datetime
    createdBy: str
    lastModified: datetime
    planitems: list[PlanItemView]
    team: TeamView
    file: dict[str, Any]
    caseVersion: int
    parentCase: str | None = None


class DiscretionaryItemView(BaseModel):
    name: str
    definitionId: str
    type: str
    parentName: str
    parentType: str
    parentId: str


def task_id(case_id: str, item_id: str) -> str:
    """A task's global id: case ids never contain a dot, so the first dot splits it."""
    return f"{case_id}.{item_id}"


def split_task_id(value: str) -> tuple[str, str] | None:
    case_id, dot, item_id = value.partition(".")
    return (case_id, item_id) if dot and case_id and item_id else None


def plan_item(item: PlanItemState) -> PlanItemView:
    t = item.task
    return PlanItemView(
        id=item.id, name=item.name, definitionId=item.definition_id, type=item.type, stageId=item.parent_id,
        currentState=item.state.value, isRequired=item.required, isDiscretionary=item.discretionary,
        lastModified=item.last_modified, taskState=t.task_state.value if t else None,
        assignee=t.assignee if t else None, owner=t.owner if t else None, dueDate=t.due if t else None,
        occursAt=item.fires_at, error=item.error,
    )


def task(state: CaseState, item: PlanItemState) -> TaskView:
    assert item.task is not None
    model = DefIndex.of(state.definition).items.get(item.definition_id)
    return TaskView(
        id=task_id(state.case_id, item.id), caseInstanceId=state.case_id, caseName=state.title, taskName=item.name,
        planItemId=item.id, taskState=item.task.task_state.value,
        role=model.role if isinstance(model, HumanTask) else None, assignee=item.task.assignee,
        owner=item.task.owner, dueDate=item.task.due, overdue=item.task.overdue, delIndex=item.task.del_index,
        createdOn=item.created_on, lastModified=item.last_modified, input=item.task.input, output=item.task.output,
    )


def tasks(state: CaseState) -> list[TaskView]:
    return [task(state, i) for i in state.items.values() if i.task is not None]


def case(state: CaseState) -> CaseView:
    return CaseView(
        id=state.case_id, caseNumber=state.case_number, name=state.title, definition=state.definition.id,
        version=state.definition.version, state=state.plan.state.value, createdOn=state.created_on,
        createdBy=state.created_by, lastModified=state.last_modified,
        planitems=[plan_item(i) for i in state.items.values() if i.id != ROOT_ID],
        team=TeamView(users=state.team), file=state.data, caseVersion=state.version,
        parentCase=state.parent.case_id if state.parent else None,
    )


def discretionary(state: CaseState, actor: Actor, at: datetime) -> list[DiscretionaryItemView]:
    ctx = Ctx(state, at, actor, DefIndex.of(state.definition))
    return [
        DiscretionaryItemView(
            name=model.name, definitionId=model.id, type=model.type, parentName=parent.name,
            parentType=parent.type, parentId=parent.id,
        )
        for model, parent in planning.options(ctx, actor)
    ]
