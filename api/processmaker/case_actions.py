"""The ProcessMaker face's case actions (seed `001`, "Cases"): new case, impersonate, reassign
(one and a batch), route, claim, cancel, pause, unpause, execute trigger, delete, and setting
variables. Decisions are the engine's: this module resolves ProcessMaker's names (`del_index`,
`tas_uid`, `usr_uid`) to the engine's and translates its refusals (their reasons) into the
seed's words."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import Response

from api.errors import ApiError
from api.deps import CurrentActor, IdempotencyKey, Service, Users
from api.processmaker.common import (
    bad_request,
    check_workspace,
    no_such_application,
    no_such_case,
    pm_error,
)
from api.processmaker.case_access import (
    act,
    AppUid,
    as_case,
    case_view,
    DELEGATION_GONE,
    directory_user,
    existing,
    is_open,
    MAX_BATCH,
    ok,
    pick,
    pick_row,
    PM_CASES,
    PM_REASSIGNCASE,
    PM_REASSIGNCASE_SUPERVISOR,
    require,
    required,
    snapshot,
    typed_inputs,
    unpause_at,
    variables_of,
    visible_or,
)
from api.processmaker.schemas import (
    BatchAnswer,
    BatchCase,
    BatchReassignBody,
    BatchResult,
    BatchStatus,
    DelIndexBody,
    ImpersonateBody,
    NewCaseAnswer,
    NextTask,
    RouteAnswer,
    NewCaseBody,
    PauseBody,
    ReassignBody,
    RouteBody,
)
from api.service import CaseService
from workflows.public import (
    Actor,
    CancelCase,
    Claim,
    Complete,
    Definition,
    DeleteCase,
    MergeFile,
    Pause,
    Reassign,
    reasons,
    RunTrigger,
    TaskView,
    Unpause,
    may_start,
    start_tasks,
)


router = APIRouter(prefix="/api/1.0/{workspace}", tags=["processmaker"], dependencies=[Depends(check_workspace)])
# ------------------------------------------------------------------ starting cases

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


def _next_tasks(tasks: list[TaskView]) -> list[NextTask]:
    return [
        NextTask(app_uid=t.caseInstanceId, tas_uid=t.definitionId or t.planItemId, tas_title=t.taskName,
                 del_index=t.delIndex, usr_uid=t.assignee or "")
        for t in tasks
    ]


@router.post("/cases", response_model=NewCaseAnswer, summary="Start a new case assigned to the caller")
async def new_case(
    actor: CurrentActor, svc: Service, body: Annotated[NewCaseBody | None, Body()] = None, key: IdempotencyKey = None
) -> NewCaseAnswer:
    require(actor, PM_CASES)
    body = body or NewCaseBody()
    pro_uid = required(body.pro_uid, "pro_uid")
    tas_uid = required(body.tas_uid, "tas_uid")
    return await _start(svc, actor, pro_uid, tas_uid, variables_of(body.variables), actor, key)


@router.post("/cases/impersonate", response_model=NewCaseAnswer, summary="Start a new case assigned to another user")
async def new_case_impersonate(
    actor: CurrentActor, svc: Service, users: Users,
    body: Annotated[ImpersonateBody | None, Body()] = None, key: IdempotencyKey = None,
) -> NewCaseAnswer:
    require(actor, PM_CASES)
    body = body or ImpersonateBody()
    pro_uid = required(body.pro_uid, "pro_uid")
    usr_uid = required(body.usr_uid, "usr_uid")
    tas_uid = required(body.tas_uid, "tas_uid")
    assignee = directory_user(users, usr_uid, "usr_uid")
    return await _start(svc, actor, pro_uid, tas_uid, variables_of(body.variables), assignee, key)


# ------------------------------------------------------------------ delegations

@router.put("/cases/{app_uid}/reassign-case", response_class=Response, summary="Reassign a delegation to another user")
async def reassign_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service, users: Users,
    body: Annotated[ReassignBody | None, Body()] = None, key: IdempotencyKey = None,
) -> Response:
    require(actor, PM_CASES)
    body = body or ReassignBody()
    source = required(body.usr_uid_source, "usr_uid_source")
    target_id = required(body.usr_uid_target, "usr_uid_target")
    require(actor, PM_REASSIGNCASE, PM_REASSIGNCASE_SUPERVISOR)
    target = directory_user(users, target_id, "usr_uid_target")
    # From the read model: a holder of PM_REASSIGNCASE reassigns cases it cannot see.
    record = await existing(svc, app_uid)
    if record is None:
        raise no_such_case(app_uid)
    row = pick_row(record, body.del_index, source)
    if row is None:
        await visible_or(svc, app_uid, actor, PM_REASSIGNCASE)
        raise bad_request(DELEGATION_GONE)
    await act(svc, app_uid, actor, Reassign(actor=actor, item_id=row.item_id, source=source, target=target), key)
    return ok()


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
        record = await existing(svc, case.APP_UID)
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
    require(actor, PM_CASES)
    body = body or BatchReassignBody()
    cases = required(body.cases, "cases")
    target_id = required(body.usr_uid_target, "usr_uid_target")
    if len(cases) > MAX_BATCH:
        raise bad_request(f"`cases` holds at most {MAX_BATCH} cases.")
    require(actor, PM_REASSIGNCASE, PM_REASSIGNCASE_SUPERVISOR)
    target = directory_user(users, target_id, "usr_uid_target")
    results = []
    # One after another: each is its own update, and one failing never stops the others.
    for i, case in enumerate(cases):
        status = await _reassign_one(svc, actor, target, case, f"{key}:{i}" if key else None)
        results.append(BatchResult(app_uid=case.APP_UID, del_index=case.DEL_INDEX, result=1 if status == "SUCCESS" else 0, status=status))
    return BatchAnswer(cases=results)


@router.put("/cases/{app_uid}/route-case", response_model=RouteAnswer, summary="Route the caller's delegation")
async def route_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[RouteBody | None, Body()] = None, key: IdempotencyKey = None,
) -> RouteAnswer:
    """The seed answers 200 with no body; this answers the tasks the routing made available
    to the caller (`next_tasks`), which a client reading only the status ignores."""
    require(actor, PM_CASES)
    body = body or RouteBody()
    snap = await snapshot(svc, app_uid, actor)
    task = pick(snap.tasks, body.del_index, prefer=actor.user_id)
    # The draft saved on the task is its output: completing merges it into the case data.
    result = await act(svc, app_uid, actor, Complete(actor=actor, item_id=task.planItemId, next=body.next_tas_uid), key)
    return RouteAnswer(next_tasks=_next_tasks(await svc.next_tasks(actor, result.next)))


@router.put("/cases/{app_uid}/claim", response_class=Response, summary="Claim an unassigned delegation")
async def claim_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[DelIndexBody | None, Body()] = None, key: IdempotencyKey = None,
) -> Response:
    require(actor, PM_CASES)
    body = body or DelIndexBody()
    await existing(svc, app_uid)  # a deleted case does not exist
    # The case's tasks as the caller sees them: a pool member outside the case team sees the
    # tasks offered to them (the unassigned list), not the case.
    tasks = await as_case(app_uid, svc.tasks(app_uid, actor))
    if body.del_index is not None:
        task = pick(tasks, body.del_index)
    else:
        unassigned = sorted((t for t in tasks if is_open(t) and t.taskState == "Unassigned"), key=lambda t: t.delIndex)
        if not unassigned:
            raise bad_request(DELEGATION_GONE)
        task = unassigned[-1]
    # The engine decides atomically: of two claims, the second finds the task held (400).
    await act(svc, app_uid, actor, Claim(actor=actor, item_id=task.planItemId), key)
    return ok()


# ------------------------------------------------------------------ the case as a whole


@router.put("/cases/{app_uid}/cancel", response_class=Response, summary="Cancel a case")
async def cancel_case(app_uid: AppUid, actor: CurrentActor, svc: Service, key: IdempotencyKey = None) -> Response:
    require(actor, PM_CASES)
    await existing(svc, app_uid)
    # the case decides (a second cancel: its reason already_cancelled, in the seed's words)
    await act(svc, app_uid, actor, CancelCase(actor=actor), key)
    return ok()


@router.put("/cases/{app_uid}/pause", response_class=Response, summary="Pause a case")
async def pause_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[PauseBody | None, Body()] = None, key: IdempotencyKey = None,
) -> Response:
    require(actor, PM_CASES)
    until = unpause_at((body or PauseBody()).unpaused_date)
    await existing(svc, app_uid, no_such_application)
    await act(svc, app_uid, actor, Pause(actor=actor, until=until), key, no_such_application)
    return ok()


@router.put("/cases/{app_uid}/unpause", response_class=Response, summary="Unpause a case, now or at a date")
async def unpause_case(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[PauseBody | None, Body()] = None, key: IdempotencyKey = None,
) -> Response:
    require(actor, PM_CASES)
    at = unpause_at((body or PauseBody()).unpaused_date)
    await existing(svc, app_uid, no_such_application)
    await act(svc, app_uid, actor, Unpause(actor=actor, at=at), key, no_such_application)
    return ok()


@router.put("/cases/{app_uid}/execute-trigger/{tri_uid}", response_class=Response, summary="Run one of the definition's triggers")
async def execute_trigger(
    app_uid: AppUid, tri_uid: Annotated[str, Path(max_length=200)], actor: CurrentActor, svc: Service,
    key: IdempotencyKey = None,
) -> Response:
    require(actor, PM_CASES)
    await existing(svc, app_uid, no_such_application)
    view = await case_view(svc, app_uid, actor, no_such_application)
    definition = await svc.definition(f"{view.definition}@{view.version}")
    if tri_uid not in definition.triggers:
        raise bad_request(f"The trigger with tri_uid: '{tri_uid}' does not exist in the case's process.")
    await act(svc, app_uid, actor, RunTrigger(actor=actor, name=tri_uid), key, no_such_application)
    return ok()


@router.delete("/cases/{app_uid}", response_class=Response, summary="Delete a draft case in its first task")
async def delete_case(app_uid: AppUid, actor: CurrentActor, svc: Service, key: IdempotencyKey = None) -> Response:
    require(actor, PM_CASES)
    await existing(svc, app_uid, no_such_application)
    await act(svc, app_uid, actor, DeleteCase(actor=actor), key, no_such_application)
    return ok()


# ------------------------------------------------------------------ variables


# ------------------------------------------------------------------ variables

@router.put("/cases/{app_uid}/variable", response_class=Response, summary="Set case variables (merged)")
async def put_variables(
    app_uid: AppUid, actor: CurrentActor, svc: Service,
    body: Annotated[list[dict[str, Any]] | dict[str, Any], Body()], key: IdempotencyKey = None,
) -> Response:
    require(actor, PM_CASES)
    data = variables_of(body, "body")
    if not data:
        raise bad_request("The body holds no variables.")
    await existing(svc, app_uid)
    await act(svc, app_uid, actor, MergeFile(actor=actor, data=data), key)
    return ok()
