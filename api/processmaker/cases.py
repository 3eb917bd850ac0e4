"""The ProcessMaker face's case endpoints (seed `001`, "Cases"): case information, current
tasks, all tasks, starting tasks, new case, impersonate, reassign (one and a batch), route,
claim, cancel, pause, unpause, execute trigger, delete, and the case variables.

Reads of one case are workflow queries (exact, and they check who may see the case, and give
the ProcessMaker status); the delegation dates come from the read model's rows of that case,
which every update writes before it answers. Decisions are the engine's: this module
resolves ProcessMaker's names (`del_index`, `tas_uid`, `usr_uid`) to the engine's and
translates answers into the seed's shapes and messages.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.errors import ApiError
from api.deps import CurrentActor, IdempotencyKey, Service, Users
from api.processmaker.common import (
    Missing,
    bad_request,
    check_workspace,
    full_name,
    no_such_application,
    no_such_case,
    parse_pm_date,
    pm_date,
    pm_error,
    pm_value,
    unavailable_case,
    user_fields,
)
from api.service import CaseRecord, CaseService
from store.directory import Directory
from store.tables import DelegationRow
from workflows.public import (
    Actor,
    CancelCase,
    CaseTask,
    CaseView,
    Claim,
    Complete,
    Definition,
    DeleteCase,
    HumanTask,
    MergeFile,
    Pause,
    Reassign,
    reasons,
    RunTrigger,
    TaskView,
    Unpause,
    may_start,
    start_tasks,
    walk,
)

router = APIRouter(prefix="/api/1.0/{workspace}", tags=["processmaker"], dependencies=[Depends(check_workspace)])

PM_CASES = "PM_CASES"
PM_CANCELCASE = "PM_CANCELCASE"
PM_REASSIGNCASE = "PM_REASSIGNCASE"
PM_REASSIGNCASE_SUPERVISOR = "PM_REASSIGNCASE_SUPERVISOR"
# A batch reassign is one request doing this many updates at most.
MAX_BATCH = 100
CLOSED_TASK_STATES = {"Completed", "Terminated"}
# What the seed's current-task refuses to answer for.
NO_CURRENT_TASK = {"COMPLETED", "PAUSED", "CANCELLED", "DELETED"}
DELEGATION_GONE = "This case delegation is already closed or does not exist"
# The seed's rule for variable names: a letter or underscore, then letters, digits, underscores.
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

AppUid = Annotated[str, Path(max_length=200)]


# ------------------------------------------------------------------ bodies and answers


class _Body(BaseModel):
    # ProcessMaker clients send more than we read (executeTriggersBeforeAssignment, ...).
    model_config = ConfigDict(extra="ignore")


Variables = list[dict[str, Any]] | dict[str, Any] | None


class NewCaseBody(_Body):
    pro_uid: str | None = Field(default=None, max_length=200)
    tas_uid: str | None = Field(default=None, max_length=200)
    variables: Variables = Field(default=None, description="One object of case variables inside an array (the seed's format); a bare object is accepted too.")


class ImpersonateBody(NewCaseBody):
    usr_uid: str | None = Field(default=None, max_length=200)


class NewCaseAnswer(BaseModel):
    app_uid: str
    app_number: int


class CurrentTaskOfCase(BaseModel):
    usr_uid: str
    usr_name: str
    tas_uid: str
    tas_title: str
    del_index: int
    del_thread: int
    del_thread_status: Literal["OPEN", "CLOSED"]


class CaseInfo(BaseModel):
    app_uid: str
    app_number: str
    app_name: str
    app_status: str
    app_init_usr_uid: str
    app_init_usr_username: str
    pro_uid: str
    pro_name: str
    app_create_date: str | None
    app_update_date: str | None
    current_task: list[CurrentTaskOfCase]


class CurrentTask(BaseModel):
    tas_uid: str
    tas_title: str
    del_index: str


class RouteTo(BaseModel):
    rou_number: int
    rou_condition: str
    # -1: the end of the process (the seed's value for a task with nowhere to go)
    tas_uid: str | int


class RouteInfo(BaseModel):
    type: str
    to: list[RouteTo]


class DelegationInfo(BaseModel):
    del_index: int
    del_init_date: str
    del_task_due_date: str
    del_finish_date: str
    del_duration: str
    usr_uid: str
    usr_username: str
    usr_firstname: str
    usr_lastname: str


class TaskOfCase(BaseModel):
    tas_uid: str
    tas_title: str
    tas_description: str
    tas_start: int
    tas_type: Literal["NORMAL", "ADHOC", "SUBPROCESS"]
    tas_derivation: Literal["NORMAL"] = "NORMAL"
    tas_assign_type: str
    usr_uid: str
    usr_username: str
    usr_firstname: str
    usr_lastname: str
    route: RouteInfo
    delegations: list[DelegationInfo]
    status: Literal["TASK_IN_PROGRESS", "TASK_COMPLETED", "TASK_PENDING_NOT_EXECUTED", "TASK_PARALLEL"]


class StartingTask(BaseModel):
    tas_uid: str
    pro_title: str
    pro_uid: str


class DelIndexBody(_Body):
    del_index: int | None = Field(default=None, ge=1)


class RouteBody(DelIndexBody):
    next_tas_uid: str | None = Field(
        default=None, max_length=200,
        description="Extension for SELECT routes: the task to route to (one of the route's targets).",
    )


class ReassignBody(DelIndexBody):
    usr_uid_source: str | None = Field(default=None, max_length=200)
    usr_uid_target: str | None = Field(default=None, max_length=200)


class BatchCase(_Body):
    APP_UID: str = Field(max_length=200)
    DEL_INDEX: int = Field(ge=1)


class BatchReassignBody(_Body):
    cases: list[BatchCase] | None = None
    usr_uid_target: str | None = Field(default=None, max_length=200)


BatchStatus = Literal[
    "SUCCESS", "DELEGATION_NOT_EXISTS", "DELEGATION_NOT_ASSIGNED", "USER_NOT_ASSIGNED_TO_TASK",
    "REASSIGNMENT_TO_THE_SAME_USER", "CASE_PAUSED", "NOT_ALLOWED", "ERROR",
]


class BatchResult(BaseModel):
    app_uid: str
    del_index: int
    result: Literal[0, 1]
    status: BatchStatus


class BatchAnswer(BaseModel):
    cases: list[BatchResult]


class PauseBody(_Body):
    unpaused_date: str | None = Field(default=None, max_length=40)


def _ok() -> Response:
    """ProcessMaker's "200 and no return value"."""
    return Response(status_code=200)


# ------------------------------------------------------------------ small rules


def _require(actor: Actor, *permissions: str) -> None:
    """Any one of `permissions` (ProcessMaker's role permissions, DESIGN.md 6)."""
    if not any(p in actor.permissions for p in permissions):
        raise pm_error(403, f"This action needs the permission {' or '.join(permissions)}.")


def _required(value: Any, name: str) -> Any:
    if value is None or value == "":
        raise bad_request(f"`{name}` is required but missing.")
    return value


def _variables(raw: Variables, name: str = "variables") -> dict[str, Any]:
    """The seed's `[{...}]` (objects merged in order) or a bare object."""
    if raw is None:
        return {}
    objects = [raw] if isinstance(raw, dict) else raw
    merged: dict[str, Any] = {}
    for obj in objects:
        merged.update(obj)
    if any(not VARIABLE_NAME.match(key) for key in merged):
        raise bad_request(
            f"`{name}` holds a name that is not a variable name: a letter or underscore, then letters, digits or underscores."
        )
    return merged


def _is_open(task: TaskView) -> bool:
    return task.taskState not in CLOSED_TASK_STATES


def _directory_user(users: Directory, user_id: str, name: str) -> Actor:
    found = users.find(user_id)
    if found is None:
        raise bad_request(f"The user with {name}: '{user_id}' does not exist.")
    return found.to_actor()


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "Not finished"
    seconds = max(int((end - start).total_seconds()), 0)
    return f"{seconds // 3600} Hours {seconds % 3600 // 60} Minutes {seconds % 60} Seconds"


# ------------------------------------------------------------------ reading a case


@dataclass
class Snapshot:
    """One case as the caller may see it: the workflow's answers and the read model's rows."""

    app_uid: str
    view: CaseView
    tasks: list[TaskView]
    record: CaseRecord | None
    status: str

    def task_definition(self, task: TaskView) -> str:
        """The definition id of a task (ProcessMaker's `tas_uid`)."""
        return next((p.definitionId for p in self.view.planitems if p.id == task.planItemId), task.planItemId)

    def row(self, task: TaskView) -> DelegationRow | None:
        return self.record.delegation(task.delIndex) if self.record else None

    def open_tasks(self) -> list[TaskView]:
        return sorted((t for t in self.tasks if _is_open(t)), key=lambda t: t.delIndex)


async def _existing(svc: CaseService, app_uid: str, missing: Missing = no_such_case) -> CaseRecord | None:
    """The read model's record; a deleted case does not exist (for every endpoint)."""
    record = await svc.case_record(app_uid)
    if record is not None and record.case.app_status == "DELETED":
        raise missing(app_uid)
    return record


T = TypeVar("T")


async def _as_case(app_uid: str, read: Awaitable[T], missing: Missing = no_such_case) -> T:
    """A read of one case; its 404 in ProcessMaker's words (the endpoint's, `missing`)."""
    try:
        return await read
    except ApiError as exc:
        if exc.status == 404:
            raise missing(app_uid) from None
        raise


async def _view(svc: CaseService, app_uid: str, actor: Actor, missing: Missing = no_such_case) -> CaseView:
    return await _as_case(app_uid, svc.case(app_uid, actor), missing)


async def _snapshot(svc: CaseService, app_uid: str, actor: Actor, missing: Missing = no_such_case) -> Snapshot:
    record = await _existing(svc, app_uid, missing)
    # two workflow queries at once, not one after the other
    view, tasks = await asyncio.gather(
        _view(svc, app_uid, actor, missing), _as_case(app_uid, svc.tasks(app_uid, actor), missing)
    )
    # the workflow's own answer: exact even before the read model has the case
    return Snapshot(app_uid, view, tasks, record, view.appStatus)


async def _act(
    svc: CaseService, app_uid: str, actor: Actor, command: Any, key: str | None, missing: Missing = no_such_case
) -> None:
    try:
        await svc.act(app_uid, actor, command, key)
    except ApiError as exc:
        # Every command names a plan item the face resolved itself, so a 404 is the case.
        if exc.status == 404:
            raise missing(app_uid) from None
        words = _WORDS.get(exc.extra.get("reason") or "")
        if words is not None:
            raise bad_request(words.format(app_uid=app_uid)) from None
        raise


# The engine's refusals (their reason codes) that the seed words its own way.
_WORDS = {
    reasons.ALREADY_CANCELLED: "The case '{app_uid}' is already canceled",
    reasons.PAST_DATE: "`unpaused_date` must be in the future.",
}


async def _visible_or(svc: CaseService, app_uid: str, actor: Actor, permission: str) -> None:
    """Before saying anything about a case: the caller sees it, or holds a permission that
    reaches every case (so the answer tells nothing to a caller who may not know of it)."""
    if permission not in actor.permissions:
        await _view(svc, app_uid, actor)


# ------------------------------------------------------------------ case information


@router.get("/cases/{app_uid}", response_model=CaseInfo, summary="Get case information")
async def case_information(app_uid: AppUid, actor: CurrentActor, svc: Service, users: Users) -> CaseInfo:
    snap = await _snapshot(svc, app_uid, actor)
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
    snap = await _snapshot(svc, app_uid, actor, unavailable_case)
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
    closed = not _is_open(task)
    init_at = row.init_at if row else (task.createdOn if task.assignee else None)
    finished_at = (row.finished_at if row else None) or (task.lastModified if closed else None)
    activated = row.delegated_at if row else task.createdOn
    return DelegationInfo(
        del_index=task.delIndex,
        del_init_date=pm_date(init_at) or "Case not started yet",
        del_task_due_date=pm_date(task.dueDate) or "",
        del_finish_date=pm_date(finished_at) if closed and finished_at else "Not finished",
        del_duration=_duration(init_at or activated, finished_at) if closed else "Not finished",
        **user_fields(users, task.assignee or (row.assignee if row else None)),
    )


@router.get("/cases/{app_uid}/tasks", response_model=list[TaskOfCase], summary="Get all tasks of the case")
async def case_tasks(app_uid: AppUid, actor: CurrentActor, svc: Service, users: Users) -> list[TaskOfCase]:
    snap = await _snapshot(svc, app_uid, actor, unavailable_case)
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
            elif _is_open(latest):
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


_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BOOLEANS = {"1": True, "true": True, "0": False, "false": False, "": False}


def typed_inputs(definition: Definition, inputs: dict[str, Any]) -> dict[str, Any]:
    """ProcessMaker's variables are strings (a PHP form sends nothing else): a declared
    number, integer or boolean given as a string is read as one (`"23456.99"`, `"1"`); a
    string that reads as none of them is left for the type check to refuse."""
    out = dict(inputs)
    for name, spec in definition.inputs.items():
        value = out.get(name)
        if not isinstance(value, str):
            continue
        text = value.strip()
        if spec.type.value == "integer" and _INTEGER.match(text):
            out[name] = int(text)
        elif spec.type.value == "number" and _NUMBER.match(text):
            number = float(text)
            out[name] = int(number) if _INTEGER.match(text) else number
        elif spec.type.value == "boolean" and text.lower() in _BOOLEANS:
            out[name] = _BOOLEANS[text.lower()]
    return out


async def _start(
    svc: CaseService, actor: Actor, pro_uid: str, tas_uid: str, inputs: dict[str, Any], assignee: Actor, key: str | None
) -> NewCaseAnswer:
    try:
        definition: Definition = await svc.definition(pro_uid)
    except ApiError as exc:
        if exc.status in (404, 422):
            raise bad_request(f"The process with pro_uid: '{pro_uid}' does not exist.") from None
        raise
    if tas_uid not in {t.id for t in start_tasks(definition)}:
        raise bad_request(f"The task with tas_uid: '{tas_uid}' is not a starting task of the process '{pro_uid}'.")
    inputs = typed_inputs(definition, inputs)
    try:
        svc.check_start_task(definition, actor, inputs, tas_uid, assignee, undeclared_inputs=True)
    except ApiError as exc:
        if exc.status == 403:  # the engine's refusal of a user outside the task's pool
            raise bad_request(f"The user '{assignee.user_id}' is not in the pool of users of the starting task '{tas_uid}'.") from None
        raise
    # ProcessMaker asks the caller only for PM_CASES: whoever works the starting task must be
    # allowed to start the process (the caller, or the user an impersonation names)
    if not may_start(definition, assignee):
        raise pm_error(403, f"The user may not start cases of the process '{pro_uid}'.")
    started = await svc.start_case(
        actor, f"{definition.id}@{definition.version}", inputs, [], idempotency_key=key,
        start_task=tas_uid, start_user=assignee, starts_as=assignee,
        # ProcessMaker stores any variable (DynaForm fields and the like): declared ones are
        # still checked by type, and a definition with `strictInputs` refuses the others
        undeclared_inputs=True,
    )
    return NewCaseAnswer(app_uid=started.case_id, app_number=started.case_number)


@router.post("/cases", response_model=NewCaseAnswer, summary="Start a new case assigned to the caller")
async def new_case(
    actor: CurrentActor, svc: Service, body: Annotated[NewCaseBody | None, Body()] = None, key: IdempotencyKey = None
) -> NewCaseAnswer:
    _require(actor, PM_CASES)
    body = body or NewCaseBody()
    pro_uid = _required(body.pro_uid, "pro_uid")
    tas_uid = _required(body.tas_uid, "tas_uid")
    return await _start(svc, actor, pro_uid, tas_uid, _variables(body.variables), actor, key)


@router.post("/cases/impersonate", response_model=NewCaseAnswer, summary="Start a new case assigned to another user")
async def new_case_impersonate(
    actor: CurrentActor, svc: Service, users: Users,
    body: Annotated[ImpersonateBody | None, Body()] = None, key: IdempotencyKey = None,
) -> NewCaseAnswer:
    _require(actor, PM_CASES)
    body = body or ImpersonateBody()
    pro_uid = _required(body.pro_uid, "pro_uid")
    usr_uid = _required(body.usr_uid, "usr_uid")
    tas_uid = _required(body.tas_uid, "tas_uid")
    assignee = _directory_user(users, usr_uid, "usr_uid")
    return await _start(svc, actor, pro_uid, tas_uid, _variables(body.variables), assignee, key)


# ------------------------------------------------------------------ delegations


D = TypeVar("D", TaskView, DelegationRow)


def _choose(open_ones: list[D], del_index: int | None, prefer: str | None) -> D | None:
    """The one rule for which delegation an action means: `del_index` when given, else the
    most recent open one (of `prefer`, the user it should belong to, when that user holds
    one). Works on the case's task views and on the read model's rows alike."""

    def index(d: D) -> int:
        return d.delIndex if isinstance(d, TaskView) else d.del_index

    ordered = sorted(open_ones, key=index)
    if del_index is not None:
        return next((d for d in ordered if index(d) == del_index), None)
    mine = [d for d in ordered if prefer and d.assignee == prefer]
    return (mine or ordered or [None])[-1]


def _pick(tasks: list[TaskView], del_index: int | None, prefer: str | None = None) -> TaskView:
    found = _choose([t for t in tasks if _is_open(t)], del_index, prefer)
    if found is None:
        raise bad_request(DELEGATION_GONE)
    return found


def _pick_row(record: CaseRecord | None, del_index: int | None, prefer: str | None) -> DelegationRow | None:
    return _choose([d for d in (record.delegations if record else []) if d.open], del_index, prefer)


@router.put("/cases/{app_uid}/reassign-case", response_class=Response, summary="Reassign a delegation to another user")
async def reassign_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service, users: Users,
    body: Annotated[ReassignBody | None, Body()] = None, key: IdempotencyKey = None,
) -> Response:
    _require(actor, PM_CASES)
    body = body or ReassignBody()
    source = _required(body.usr_uid_source, "usr_uid_source")
    target_id = _required(body.usr_uid_target, "usr_uid_target")
    _require(actor, PM_REASSIGNCASE, PM_REASSIGNCASE_SUPERVISOR)
    target = _directory_user(users, target_id, "usr_uid_target")
    # From the read model: a holder of PM_REASSIGNCASE reassigns cases it cannot see.
    record = await _existing(svc, app_uid)
    if record is None:
        raise no_such_case(app_uid)
    row = _pick_row(record, body.del_index, source)
    if row is None:
        await _visible_or(svc, app_uid, actor, PM_REASSIGNCASE)
        raise bad_request(DELEGATION_GONE)
    await _act(svc, app_uid, actor, Reassign(actor=actor, item_id=row.item_id, source=source, target=target), key)
    return _ok()


# The engine's refusals of one reassignment, by reason, in the batch's statuses; any other
# refusal by status (403 NOT_ALLOWED, 404 no such case or one the caller may not see).
_BATCH_STATUS_BY_REASON: dict[str, BatchStatus] = {
    reasons.CASE_PAUSED: "CASE_PAUSED",
    reasons.NOT_HELD: "DELEGATION_NOT_ASSIGNED",
    reasons.SAME_ASSIGNEE: "REASSIGNMENT_TO_THE_SAME_USER",
    reasons.NOT_IN_POOL: "USER_NOT_ASSIGNED_TO_TASK",
    reasons.TASK_NOT_ACTIVE: "DELEGATION_NOT_EXISTS",
    reasons.NOT_SOURCE: "DELEGATION_NOT_EXISTS",
    reasons.CASE_CLOSED: "DELEGATION_NOT_EXISTS",
    reasons.ALREADY_CANCELLED: "DELEGATION_NOT_EXISTS",
}
_BATCH_STATUS_BY_HTTP: dict[int, BatchStatus] = {404: "DELEGATION_NOT_EXISTS", 403: "NOT_ALLOWED"}


async def _reassign_one(
    svc: CaseService, actor: Actor, target: Actor, case: BatchCase, key: str | None
) -> BatchStatus:
    """The read model only turns the delegation's number into its task and holder; the case
    decides (and a caller who may not see it learns nothing: a missing delegation and a
    case it may not see both answer DELEGATION_NOT_EXISTS)."""
    try:
        record = await _existing(svc, case.APP_UID)
    except ApiError:
        return "DELEGATION_NOT_EXISTS"
    row = record.delegation(case.DEL_INDEX) if record else None
    if row is None:
        return "DELEGATION_NOT_EXISTS"
    command = Reassign(actor=actor, item_id=row.item_id, source=row.assignee or "", target=target)
    try:
        # With an Idempotency-Key a retried batch gets the case's first answer (SUCCESS).
        await svc.act(case.APP_UID, actor, command, key)
    except ApiError as exc:
        by_reason = _BATCH_STATUS_BY_REASON.get(exc.extra.get("reason") or "")
        return by_reason or _BATCH_STATUS_BY_HTTP.get(exc.status, "ERROR")
    return "SUCCESS"


@router.post("/cases/reassign", response_model=BatchAnswer, summary="Reassign many delegations to one user")
async def batch_reassign(
    actor: CurrentActor, svc: Service, users: Users,
    body: Annotated[BatchReassignBody | None, Body()] = None, key: IdempotencyKey = None,
) -> BatchAnswer:
    _require(actor, PM_CASES)
    body = body or BatchReassignBody()
    cases = _required(body.cases, "cases")
    target_id = _required(body.usr_uid_target, "usr_uid_target")
    if len(cases) > MAX_BATCH:
        raise bad_request(f"`cases` holds at most {MAX_BATCH} cases.")
    _require(actor, PM_REASSIGNCASE, PM_REASSIGNCASE_SUPERVISOR)
    target = _directory_user(users, target_id, "usr_uid_target")
    results = []
    # One after another: each is its own update, and one failing never stops the others.
    for i, case in enumerate(cases):
        status = await _reassign_one(svc, actor, target, case, f"{key}:{i}" if key else None)
        results.append(BatchResult(app_uid=case.APP_UID, del_index=case.DEL_INDEX, result=1 if status == "SUCCESS" else 0, status=status))
    return BatchAnswer(cases=results)


@router.put("/cases/{app_uid}/route-case", response_class=Response, summary="Route the caller's delegation")
async def route_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[RouteBody | None, Body()] = None, key: IdempotencyKey = None,
) -> Response:
    _require(actor, PM_CASES)
    body = body or RouteBody()
    snap = await _snapshot(svc, app_uid, actor)
    task = _pick(snap.tasks, body.del_index, prefer=actor.user_id)
    # The draft saved on the task is its output: completing merges it into the case data.
    await _act(svc, app_uid, actor, Complete(actor=actor, item_id=task.planItemId, next=body.next_tas_uid), key)
    return _ok()


@router.put("/cases/{app_uid}/claim", response_class=Response, summary="Claim an unassigned delegation")
async def claim_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[DelIndexBody | None, Body()] = None, key: IdempotencyKey = None,
) -> Response:
    _require(actor, PM_CASES)
    body = body or DelIndexBody()
    await _existing(svc, app_uid)  # a deleted case does not exist
    # The case's tasks as the caller sees them: a pool member outside the case team sees the
    # tasks offered to them (the unassigned list), not the case.
    tasks = await _as_case(app_uid, svc.tasks(app_uid, actor))
    if body.del_index is not None:
        task = _pick(tasks, body.del_index)
    else:
        unassigned = sorted((t for t in tasks if _is_open(t) and t.taskState == "Unassigned"), key=lambda t: t.delIndex)
        if not unassigned:
            raise bad_request(DELEGATION_GONE)
        task = unassigned[-1]
    # The engine decides atomically: of two claims, the second finds the task held (400).
    await _act(svc, app_uid, actor, Claim(actor=actor, item_id=task.planItemId), key)
    return _ok()


# ------------------------------------------------------------------ the case as a whole


@router.put("/cases/{app_uid}/cancel", response_class=Response, summary="Cancel a case")
async def cancel_case(app_uid: AppUid, actor: CurrentActor, svc: Service, key: IdempotencyKey = None) -> Response:
    _require(actor, PM_CASES)
    await _existing(svc, app_uid)
    # the case decides (a second cancel: its reason already_cancelled, in the seed's words)
    await _act(svc, app_uid, actor, CancelCase(actor=actor), key)
    return _ok()


def _unpause_at(raw: str | None) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    return parse_pm_date(raw, "unpaused_date")


@router.put("/cases/{app_uid}/pause", response_class=Response, summary="Pause a case")
async def pause_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[PauseBody | None, Body()] = None, key: IdempotencyKey = None,
) -> Response:
    _require(actor, PM_CASES)
    until = _unpause_at((body or PauseBody()).unpaused_date)
    await _existing(svc, app_uid, no_such_application)
    await _act(svc, app_uid, actor, Pause(actor=actor, until=until), key, no_such_application)
    return _ok()


@router.put("/cases/{app_uid}/unpause", response_class=Response, summary="Unpause a case, now or at a date")
async def unpause_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[PauseBody | None, Body()] = None, key: IdempotencyKey = None,
) -> Response:
    _require(actor, PM_CASES)
    at = _unpause_at((body or PauseBody()).unpaused_date)
    await _existing(svc, app_uid, no_such_application)
    await _act(svc, app_uid, actor, Unpause(actor=actor, at=at), key, no_such_application)
    return _ok()


@router.put("/cases/{app_uid}/execute-trigger/{tri_uid}", response_class=Response, summary="Run one of the definition's triggers")
async def execute_trigger(
    app_uid: AppUid, tri_uid: Annotated[str, Path(max_length=200)], actor: CurrentActor, svc: Service,
    key: IdempotencyKey = None,
) -> Response:
    _require(actor, PM_CASES)
    await _existing(svc, app_uid, no_such_application)
    view = await _view(svc, app_uid, actor, no_such_application)
    definition = await svc.definition(f"{view.definition}@{view.version}")
    if tri_uid not in definition.triggers:
        raise bad_request(f"The trigger with tri_uid: '{tri_uid}' does not exist in the case's process.")
    await _act(svc, app_uid, actor, RunTrigger(actor=actor, name=tri_uid), key, no_such_application)
    return _ok()


@router.delete("/cases/{app_uid}", response_class=Response, summary="Delete a draft case in its first task")
async def delete_case(app_uid: AppUid, actor: CurrentActor, svc: Service, key: IdempotencyKey = None) -> Response:
    _require(actor, PM_CASES)
    await _existing(svc, app_uid, no_such_application)
    await _act(svc, app_uid, actor, DeleteCase(actor=actor), key, no_such_application)
    return _ok()


# ------------------------------------------------------------------ variables


@router.get("/cases/{app_uid}/variables", response_model=dict[str, Any], summary="Get the case variables")
async def get_variables(app_uid: AppUid, actor: CurrentActor, svc: Service) -> dict[str, Any]:
    await _existing(svc, app_uid)
    return pm_value((await _view(svc, app_uid, actor)).file)


@router.put("/cases/{app_uid}/variable", response_class=Response, summary="Set case variables (merged)")
async def put_variables(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[list[dict[str, Any]] | dict[str, Any], Body()], key: IdempotencyKey = None,
) -> Response:
    _require(actor, PM_CASES)
    data = _variables(body, "body")
    if not data:
        raise bad_request("The body holds no variables.")
    await _existing(svc, app_uid)
    await _act(svc, app_uid, actor, MergeFile(actor=actor, data=data), key)
    return _ok()
