"""What reads of one case return: built from the state, in the native face's field names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Callable

from pydantic import BaseModel

from workflows.actor import Actor
from workflows.definition import ROOT_ID, HumanTask
from workflows.engine import access, planning, projection, status
from workflows.engine.lifecycle import Ctx, DefIndex
from workflows.engine.state import CaseState, ItemState, PlanItemState, TeamMember


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
    # the task's id in the definition (ProcessMaker's tas_uid); "" in answers recorded before
    definitionId: str = ""


class CaseTasks(BaseModel):
    """A case's tasks as one caller may see them, and the case version they were read at
    (the ETag of task reads)."""

    caseVersion: int
    tasks: list[TaskView]


class NextWork(BaseModel):
    """What a caller can work on: tasks of the case open to them, and the sub-cases running
    for it (each has tasks of its own, read from that case)."""

    tasks: list[TaskView] = []
    cases: list[str] = []


class TeamView(BaseModel):
    users: list[TeamMember]


class CaseSummary(BaseModel):
    """A case in a list: what the read model holds of it."""

    id: str
    caseNumber: int
    name: str
    definition: str
    version: int
    state: str
    createdOn: datetime
    createdBy: str
    lastModified: datetime


class CaseView(CaseSummary):
    # ProcessMaker's APP_STATUS (TO_DO, DRAFT, PAUSED, COMPLETED, CANCELLED), by status.app_status
    appStatus: str = ""
    planitems: list[PlanItemView]
    team: TeamView
    file: dict[str, Any]
    caseVersion: int
    parentCase: str | None = None


class DiscretionaryOptions(BaseModel):
    caseName: str
    items: list["DiscretionaryItemView"]


class OpsView(BaseModel):
    """What ops see of a case in the Temporal UI: details text and search attribute values."""

    details: str
    status: str
    case_number: int
    definition: str
    assignees: list[str]
    candidates: list[str]
    open_tasks: list[str]
    due: datetime | None


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


def task_view(case_id: str, case_name: str, d: Any) -> TaskView:
    """The one builder of a task as the faces show it. `d` is a delegation: the read model's
    row (lists) or the engine's DelegationDoc (reads of one case); both have these fields, so
    a task listed and the same task read from its case agree field by field."""
    return TaskView(
        id=task_id(case_id, d.item_id), caseInstanceId=case_id, caseName=case_name, taskName=d.task_name,
        planItemId=d.item_id, taskState=d.task_state, role=d.role, assignee=d.assignee, owner=d.owner,
        dueDate=d.due, overdue=bool(d.overdue), delIndex=d.del_index, createdOn=d.delegated_at,
        lastModified=d.last_modified, input=d.input, output=d.output, definitionId=d.task_def_id,
    )


def task(state: CaseState, item: PlanItemState, defs: DefIndex | None = None) -> TaskView:
    assert item.task is not None
    return task_view(state.case_id, state.title[:projection.TITLE_MAX], projection.delegation(state, item, defs))


def tasks(state: CaseState, only: Callable[[str], bool] | None = None) -> list[TaskView]:
    """The case's tasks; `only`: those whose item id it accepts."""
    defs = DefIndex.of(state.definition)
    return [task(state, i, defs) for i in state.items.values() if i.task is not None and (only is None or only(i.id))]


def _work_keys(state: CaseState, actor: Actor) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """(tasks, sub-cases) open to the actor now, keyed by item and activation, so that a task
    activated again (a loop back) counts as new."""
    tasks = {
        (i.id, i.task.del_index) for i in state.items.values()
        if i.task is not None and access.available_to(state, actor, i.id)
    }
    cases = {
        (i.id, i.effect_attempt) for i in state.items.values()
        if i.state == ItemState.Active and i.effect is not None and i.effect.get("kind") == "case"
    }
    return tasks, cases


def next_work(before: CaseState | None, after: CaseState, actor: Actor) -> NextWork:
    """What the actor can work on in `after` that they could not in `before` (everything,
    when `before` is None): the answer of a completion or a start, so a front end can open
    the next form at once. Bounded by the case's items."""
    tasks_after, cases_after = _work_keys(after, actor)
    tasks_before, cases_before = _work_keys(before, actor) if before is not None else (set(), set())
    new_tasks = {item_id for item_id, n in tasks_after - tasks_before}
    # sub-cases only for those who see the case (a pool member is shown the task alone)
    new_cases = {item_id for item_id, n in cases_after - cases_before} if access.can_see(after, actor) else set()
    return NextWork(
        tasks=tasks(after, lambda item_id: item_id in new_tasks) if new_tasks else [],
        cases=[str(after.items[i].effect["case_id"]) for i in after.items if i in new_cases],  # type: ignore[index]
    )


def case(state: CaseState) -> CaseView:
    return CaseView(
        id=state.case_id, caseNumber=state.case_number, name=state.title, definition=state.definition.id,
        version=state.definition.version, state=state.plan.state.value, createdOn=state.created_on,
        createdBy=state.created_by, lastModified=state.last_modified, appStatus=status.app_status(state),
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


def discretionary_options(state: CaseState, actor: Actor, at: datetime) -> DiscretionaryOptions:
    return DiscretionaryOptions(caseName=state.title, items=discretionary(state, actor, at))


def ops(state: CaseState, names: dict[str, str] | None = None) -> OpsView:
    """What the Temporal UI shows of a case: a details list of its open tasks and the search
    attributes, with people by username where `names` knows them (directory ids otherwise)."""
    names = names or {}
    defs = DefIndex.of(state.definition)
    open_tasks = [i for i in state.items.values() if i.task is not None and i.state == ItemState.Active]
    # A list, not a table: the UI renders markdown tables without cell spacing, so their
    # cells ran together ("Review documentAssignedrev1").
    lines = [f"**{state.title}** — {state.plan.state.value}", ""]
    lines.append("Open tasks:" if open_tasks else "No open tasks.")
    if open_tasks:
        lines.append("")
    candidates: set[str] = set()
    for i in open_tasks:
        t = i.task
        assert t is not None
        holder = f"held by **{names.get(t.assignee, t.assignee)}**" if t.assignee else "not claimed yet"
        due = f", due {_ops_time(t.due, t.overdue)}" if t.due else ""
        lines.append(f"- **{i.name}**: {t.task_state.value}, {holder}{due}")
        model = defs.items.get(i.definition_id)
        if not t.assignee and isinstance(model, HumanTask):
            candidates |= access.claimants(state, model)
    dues = [i.task.due for i in open_tasks if i.task and i.task.due]
    return OpsView(
        details="\n".join(lines),
        status=state.plan.state.value,
        case_number=state.case_number,
        definition=state.definition.id,
        assignees=sorted({names.get(i.task.assignee, i.task.assignee) for i in open_tasks if i.task and i.task.assignee}),
        candidates=sorted(candidates),
        open_tasks=sorted({i.name for i in open_tasks}),
        due=min(dues) if dues else None,
    )


def _ops_time(due: datetime, overdue: bool) -> str:
    text = due.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"**{text} (overdue)**" if overdue else text


DiscretionaryOptions.model_rebuild()
