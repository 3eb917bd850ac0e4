"""The ProcessMaker face's reads of one case (seed `001`, "Cases"): case information, current
tasks, all tasks, starting tasks, and the case variables.

Reads of one case are workflow queries (exact, and they check who may see the case, and give
the ProcessMaker status); the delegation dates come from the read model's rows of that case."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from api.deps import CurrentActor, Service, Users
from api.processmaker.common import (
    check_workspace,
    full_name,
    pm_date,
    pm_value,
    unavailable_case,
    user_fields,
)
from api.processmaker.case_access import (
    AppUid,
    case_view,
    duration,
    existing,
    is_open,
    NO_CURRENT_TASK,
    snapshot,
)
from api.processmaker.schemas import (
    CaseInfo,
    CurrentTask,
    CurrentTaskOfCase,
    DelegationInfo,
    RouteInfo,
    RouteTo,
    StartingTask,
    TaskOfCase,
)
from store.directory import Directory
from store.tables import DelegationRow
from workflows.public import (
    CaseTask,
    HumanTask,
    TaskView,
    may_start,
    start_tasks,
    walk,
)


router = APIRouter(prefix="/api/1.0/{workspace}", tags=["processmaker"], dependencies=[Depends(check_workspace)])
# ------------------------------------------------------------------ case information


@router.get("/cases/{app_uid}", response_model=CaseInfo, summary="Get case information")
async def case_information(app_uid: AppUid, actor: CurrentActor, svc: Service, users: Users) -> CaseInfo:
    snap = await snapshot(svc, app_uid, actor)
    view = snap.view
    pro_name = snap.record.case.definition_name if snap.record else (await svc.definition(f"{view.definition}@{view.version}")).name
    return CaseInfo(
        app_uid=view.id,
        app_number=str(view.caseNumber),
        app_name=view.name,
        app_status=snap.status,
        app_init_usr_uid=view.createdBy,
        # the seed shows the starter's name here ("Administrator" for the user `admin`)
        app_init_usr_username=full_name(users, view.createdBy),
        pro_uid=view.definition,
        pro_name=pro_name,
        app_create_date=pm_date(view.createdOn),
        app_update_date=pm_date(view.lastModified),
        current_task=[
            CurrentTaskOfCase(
                usr_uid=t.assignee or "", usr_name=full_name(users, t.assignee), tas_uid=snap.task_definition(t),
                tas_title=t.taskName, del_index=t.delIndex, del_thread=t.delIndex, del_thread_status="OPEN",
            )
            for t in snap.open_tasks()
        ],
    )


@router.get("/cases/{app_uid}/current-task", response_model=list[CurrentTask], summary="Get the case's current tasks")
async def current_tasks(app_uid: AppUid, actor: CurrentActor, svc: Service) -> list[CurrentTask]:
    snap = await snapshot(svc, app_uid, actor, unavailable_case)
    open_tasks = snap.open_tasks()
    if snap.status in NO_CURRENT_TASK or not open_tasks:
        raise unavailable_case(app_uid)
    return [CurrentTask(tas_uid=snap.task_definition(t), tas_title=t.taskName, del_index=str(t.delIndex)) for t in open_tasks]


def _route(model: HumanTask | CaseTask) -> RouteInfo:
    """The task's `route`, in ProcessMaker's terms: a route into a `join: all` target is a
    SEC-JOIN; a task with no route goes to the end of the process (`tas_uid` -1)."""
    route = model.route
    if route is None:
        return RouteInfo(type="SEQUENTIAL", to=[RouteTo(rou_number=1, rou_condition="", tas_uid=-1)])
    kind = "SEC-JOIN" if any(t.join == "all" for t in route.to) else route.type.value
    return RouteInfo(
        type=kind,
        to=[RouteTo(rou_number=i, rou_condition=t.if_ or "", tas_uid=t.task) for i, t in enumerate(route.to, start=1)],
    )


def _delegation(users: Directory, task: TaskView, row: DelegationRow | None) -> DelegationInfo:
    closed = not is_open(task)
    init_at = row.init_at if row else (task.createdOn if task.assignee else None)
    finished_at = (row.finished_at if row else None) or (task.lastModified if closed else None)
    activated = row.delegated_at if row else task.createdOn
    return DelegationInfo(
        del_index=task.delIndex,
        del_init_date=pm_date(init_at) or "Case not started yet",
        del_task_due_date=pm_date(task.dueDate) or "",
        del_finish_date=pm_date(finished_at) if closed and finished_at else "Not finished",
        del_duration=duration(init_at or activated, finished_at) if closed else "Not finished",
        **user_fields(users, task.assignee or (row.assignee if row else None)),
    )


@router.get("/cases/{app_uid}/tasks", response_model=list[TaskOfCase], summary="Get all tasks of the case")
async def case_tasks(app_uid: AppUid, actor: CurrentActor, svc: Service, users: Users) -> list[TaskOfCase]:
    snap = await snapshot(svc, app_uid, actor, unavailable_case)
    definition = await svc.definition(f"{snap.view.definition}@{snap.view.version}")
    by_definition: dict[str, list[TaskView]] = {}
    for t in sorted(snap.tasks, key=lambda t: t.delIndex):
        by_definition.setdefault(snap.task_definition(t), []).append(t)
    open_definitions = {snap.task_definition(t) for t in snap.open_tasks()}
    out: list[TaskOfCase] = []
    for _, model, _ in walk(definition.plan):
        if isinstance(model, HumanTask):
            delegations = by_definition.get(model.id, [])
            latest = delegations[-1] if delegations else None
            if latest is None:
                status = "TASK_PENDING_NOT_EXECUTED"
            elif is_open(latest):
                status = "TASK_PARALLEL" if len(open_definitions) > 1 else "TASK_IN_PROGRESS"
            else:
                status = "TASK_COMPLETED"
            started = any(t.assignee or ((r := snap.row(t)) is not None and r.init_at) for t in delegations)
            out.append(TaskOfCase(
                tas_uid=model.id, tas_title=model.name, tas_description="", tas_start=1 if started else 0,
                tas_type="NORMAL", tas_assign_type=model.assignment.rule.value,
                **user_fields(users, latest.assignee if latest else None),
                route=_route(model), delegations=[_delegation(users, t, snap.row(t)) for t in delegations], status=status,
            ))
        elif isinstance(model, CaseTask):
            states = [p.currentState for p in snap.view.planitems if p.definitionId == model.id]
            if not states:
                status = "TASK_PENDING_NOT_EXECUTED"
            elif states[-1] in ("Completed", "Terminated", "Failed"):
                status = "TASK_COMPLETED"
            else:
                status = "TASK_IN_PROGRESS"
            out.append(TaskOfCase(
                tas_uid=model.id, tas_title=model.name, tas_description="", tas_start=1 if states else 0,
                # a sub-case has no assignee; BALANCED is ProcessMaker's default assignment rule
                tas_type="SUBPROCESS", tas_assign_type="BALANCED", **user_fields(users, None),
                route=_route(model), delegations=[], status=status,
            ))
    return out


# ------------------------------------------------------------------ starting cases


@router.get("/case/start-cases", response_model=list[StartingTask], summary="Get the starting tasks the caller may start cases with")
async def start_cases(actor: CurrentActor, svc: Service) -> list[StartingTask]:
    return [
        StartingTask(tas_uid=task.id, pro_title=f"{definition.name} ({task.name})", pro_uid=definition.id)
        for definition in await svc.definitions()
        if may_start(definition, actor)
        for task in start_tasks(definition)
    ]


@router.get("/cases/{app_uid}/variables", response_model=dict[str, Any], summary="Get the case variables")
async def get_variables(app_uid: AppUid, actor: CurrentActor, svc: Service) -> dict[str, Any]:
    await existing(svc, app_uid)
    return pm_value((await case_view(svc, app_uid, actor)).file)
