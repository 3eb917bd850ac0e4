"""The native face (DESIGN.md section 8), in the style of CaseFabric: paths and field names only;
meaning lives in the service layer and the engine."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.consistency import Fresh, etag, none_match
from api.deps import CurrentActor, IdempotencyKey, IfMatch, Service
from api.errors import bad_request, not_found
from api.service import CaseService
from store import native_lists
from workflows.definition import SLUG
from workflows.public import (
    Actor,
    Assign,
    AuditEntry,
    CaseSummary,
    CaseView,
    Claim,
    Complete,
    Definition,
    Delegate,
    DiscretionaryItemView,
    MergeFile,
    Plan,
    PlanItemView,
    Revoke,
    principals_of,
    sees_all,
    task_view,
    ItemState,
    TaskState,
    Save,
    TaskView,
    TeamAdd,
    TeamMember,
    TeamRemove,
    Transition,
    Validate,
)

router = APIRouter(tags=["native"])
T = TypeVar("T")
MAX_PAGE = 1000
Output = Annotated[dict[str, Any], Body(description="The task's output fields.")]


# ------------------------------------------------------------------ bodies and answers


class DeployResponse(BaseModel):
    id: str
    version: int


class DefinitionSummary(BaseModel):
    id: str
    name: str
    category: str
    description: str
    version: int


class TeamBody(BaseModel):
    users: list[TeamMember] = Field(default_factory=list)


class StartCaseBody(BaseModel):
    definition: str = Field(description="'<id>' for the latest version or '<id>@<version>'")
    inputs: dict[str, Any] = Field(default_factory=dict)
    caseTeam: TeamBody | None = None
    caseInstanceId: str | None = Field(default=None, pattern=SLUG)


class StartCaseResponse(BaseModel):
    caseInstanceId: str
    caseNumber: int
    name: str
    nextTasks: list[TaskView] = Field(
        default_factory=list, description="The tasks the new case (and sub-cases it started) offer or assign to the caller."
    )


class CompletedTask(TaskView):
    nextTasks: list[TaskView] = Field(
        default_factory=list,
        description="The tasks this completion made available to the caller (claimable or assigned), in this case and in "
                    "sub-cases it started.",
    )


class DiscretionaryItems(BaseModel):
    caseInstanceId: str
    name: str
    discretionaryItems: list[DiscretionaryItemView]


class PlanBody(BaseModel):
    name: str | None = None
    definitionId: str | None = None
    parentId: str | None = None


class PlanResponse(BaseModel):
    planItemId: str


class AssigneeBody(BaseModel):
    assignee: str = Field(min_length=1, max_length=200)


class ValidationAnswer(BaseModel):
    valid: bool
    errors: list[dict[str, Any]]


class TaskCounts(BaseModel):
    claimed: int
    unclaimed: int


# ------------------------------------------------------------------ definitions

_DEFINITION_BODY = {
    "requestBody": {
        "required": True,
        "description": "A case definition (DESIGN.md section 3) as YAML or JSON.",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/Definition"}},
        },
    }
}


@router.post("/definitions", status_code=201, response_model=DeployResponse, openapi_extra=_DEFINITION_BODY)
async def deploy_definition(request: Request, actor: CurrentActor, svc: Service) -> DeployResponse:
    raw_bytes = await request.body()  # its size was checked on the way in (api/limits.py)
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8 text") from None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            raw = json.loads(text)
        except ValueError:
            raise bad_request("the body is not valid JSON") from None
    else:
        raw = svc.parse_document(text)
    definition, version, _ = await svc.deploy_as(actor, raw)
    return DeployResponse(id=definition.id, version=version)


@router.get("/definitions", response_model=list[DefinitionSummary])
async def list_definitions(actor: CurrentActor, svc: Service) -> list[DefinitionSummary]:
    return [
        DefinitionSummary(id=d.id, name=d.name, category=d.category, description=d.description, version=d.version)
        for d in await svc.definitions()
    ]


@router.get("/definitions/{definitionId}", response_model=Definition, response_model_by_alias=True)
async def get_definition(definitionId: str, actor: CurrentActor, svc: Service) -> Definition:
    return await svc.definition(definitionId)


# ------------------------------------------------------------------ cases

# reads of one case that answer 304 to an If-None-Match naming the case's version
NOT_MODIFIED = {304: {"description": "Not Modified: the case is still at the version (ETag) that If-None-Match names"}}


def _not_modified(request: Request, response: Response, version: int) -> Response | None:
    """A read of one case carries the case version as its ETag; a client whose copy is that
    version (If-None-Match) is answered 304 with no body."""
    tag = etag(version)
    if none_match(request.headers.get("if-none-match"), version):
        return Response(status_code=304, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return None


async def _case_read(svc: CaseService, case_id: str, actor: Actor, request: Request, response: Response) -> tuple[CaseView, Response | None]:
    view = await svc.case(case_id, actor)
    return view, _not_modified(request, response, view.caseVersion)

CaseId = Annotated[str, Path(max_length=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"at most {MAX_PAGE}")]
SortOrder = Annotated[str, Query(pattern="(?i)^(asc|desc)$", description="ASC or DESC (default DESC)")]


def _page(offset: int, size: int, sort_by: str | None, sort_order: str) -> native_lists.Page:
    return native_lists.Page(offset=offset, size=size, sort_by=sort_by, descending=sort_order.lower() == "desc")


async def _listed(query: Awaitable[T]) -> T:
    try:
        return await query
    except native_lists.UnknownSort as exc:
        raise bad_request(str(exc)) from None


@router.get("/cases", response_model=list[CaseSummary])
async def list_cases(
    actor: CurrentActor, svc: Service, _fresh: Fresh,
    state: Annotated[ItemState | None, Query(description="the case plan's CMMN state")] = None,
    definition: Annotated[str | None, Query(max_length=200)] = None,
    offset: Offset = 0, numberOfResults: PageSize = 100,
    sortBy: Annotated[str | None, Query(description=f"one of {', '.join(native_lists.CASE_SORTS)}")] = None,
    sortOrder: SortOrder = "DESC",
) -> list[CaseSummary]:
    """Cases the caller belongs to (every case with PM_ALLCASES), newest first."""
    rows = await _listed(native_lists.cases(
        svc.db, principals_of(actor), sees_all(actor), state=state.value if state else None, definition=definition,
        page=_page(offset, numberOfResults, sortBy, sortOrder),
    ))
    return [
        CaseSummary(id=r.case_id, caseNumber=r.case_number, name=r.title, definition=r.definition_id,
                    version=r.definition_version, state=r.state, createdOn=r.created_on, createdBy=r.created_by,
                    lastModified=r.last_modified)
        for r in rows
    ]


@router.post("/cases", status_code=201, response_model=StartCaseResponse)
async def start_case(body: StartCaseBody, actor: CurrentActor, svc: Service, key: IdempotencyKey = None) -> StartCaseResponse:
    started = await svc.start_case(
        actor, body.definition, body.inputs, body.caseTeam.users if body.caseTeam else [], body.caseInstanceId, key
    )
    return StartCaseResponse(caseInstanceId=started.case_id, caseNumber=started.case_number, name=started.name, nextTasks=started.next)


@router.get("/cases/{caseId}", response_model=CaseView, responses=NOT_MODIFIED)
async def get_case(caseId: CaseId, actor: CurrentActor, svc: Service, request: Request, response: Response) -> Any:
    view, unchanged = await _case_read(svc, caseId, actor, request, response)
    return unchanged or view


@router.get("/cases/{caseId}/planitems", response_model=list[PlanItemView], responses=NOT_MODIFIED)
async def get_plan_items(caseId: CaseId, actor: CurrentActor, svc: Service, request: Request, response: Response) -> Any:
    view, unchanged = await _case_read(svc, caseId, actor, request, response)
    return unchanged or view.planitems


@router.post("/cases/{caseId}/planitems/{planItemId}/{transition}", response_model=PlanItemView)
async def transition_plan_item(
    caseId: CaseId, planItemId: str, transition: str, actor: CurrentActor, svc: Service, key: IdempotencyKey = None,
    cond: IfMatch = None,
) -> PlanItemView:
    result = await svc.act(caseId, actor, Transition(actor=actor, item_id=planItemId, transition=transition), key, cond)
    assert result.item is not None
    return result.item


@router.get("/cases/{caseId}/discretionaryitems", response_model=DiscretionaryItems)
async def get_discretionary_items(caseId: CaseId, actor: CurrentActor, svc: Service) -> DiscretionaryItems:
    options = await svc.discretionary(caseId, actor)
    return DiscretionaryItems(caseInstanceId=caseId, name=options.caseName, discretionaryItems=options.items)


@router.post("/cases/{caseId}/discretionaryitems/plan", response_model=PlanResponse)
async def plan_discretionary_item(
    caseId: CaseId, body: PlanBody, actor: CurrentActor, svc: Service, key: IdempotencyKey = None, cond: IfMatch = None,
) -> PlanResponse:
    if not body.definitionId and not body.name:
        raise bad_request("name the discretionary item by definitionId or name")
    cmd = Plan(actor=actor, definition_id=body.definitionId or "", parent_id=body.parentId, name=body.name)
    result = await svc.act(caseId, actor, cmd, key, cond)
    assert result.planItemId is not None
    return PlanResponse(planItemId=result.planItemId)


async def _team_answer(svc: CaseService, case_id: str, actor: Actor, result: Any) -> TeamBody:
    """The team as the case recorded it right after the change (kept with the key, so a
    retry gets its first answer); answers kept from before the team was part of them fall
    back to today's team."""
    users = result.team if result.team is not None else (await svc.case(case_id, actor)).team.users
    return TeamBody(users=users)


@router.get("/cases/{caseId}/caseteam", response_model=TeamBody, responses=NOT_MODIFIED)
async def get_case_team(caseId: CaseId, actor: CurrentActor, svc: Service, request: Request, response: Response) -> Any:
    view, unchanged = await _case_read(svc, caseId, actor, request, response)
    return unchanged or TeamBody(users=view.team.users)


@router.post("/cases/{caseId}/caseteam/users", response_model=TeamBody)
async def add_team_member(
    caseId: CaseId, body: TeamMember, actor: CurrentActor, svc: Service, key: IdempotencyKey = None, cond: IfMatch = None,
) -> TeamBody:
    svc.user(body.userId, "userId")
    return await _team_answer(svc, caseId, actor, await svc.act(caseId, actor, TeamAdd(actor=actor, member=body), key, cond))


@router.delete("/cases/{caseId}/caseteam/users/{userId}", response_model=TeamBody)
async def remove_team_member(
    caseId: CaseId, userId: str, actor: CurrentActor, svc: Service, key: IdempotencyKey = None, cond: IfMatch = None,
) -> TeamBody:
    return await _team_answer(svc, caseId, actor, await svc.act(caseId, actor, TeamRemove(actor=actor, user_id=userId), key, cond))


@router.get("/cases/{caseId}/casefile", response_model=dict[str, Any], responses=NOT_MODIFIED)
async def get_case_file(caseId: CaseId, actor: CurrentActor, svc: Service, request: Request, response: Response) -> Any:
    view, unchanged = await _case_read(svc, caseId, actor, request, response)
    return unchanged or view.file


@router.put("/cases/{caseId}/casefile", response_model=dict[str, Any])
async def merge_case_file(
    caseId: CaseId, body: Output, actor: CurrentActor, svc: Service, key: IdempotencyKey = None, cond: IfMatch = None,
) -> dict[str, Any]:
    # the file as the case recorded it right after this change: kept with the key, so a
    # retry gets this first answer, not the file as it is by then (likewise the team)
    result = await svc.act(caseId, actor, MergeFile(actor=actor, data=body), key, cond)
    # answers kept from before the file was part of them: today's file is all there is
    return result.file if result.file is not None else (await svc.case(caseId, actor)).file


@router.get("/cases/{caseId}/history", response_model=list[AuditEntry])
async def get_history(
    caseId: CaseId, actor: CurrentActor, svc: Service, offset: Offset = 0,
    numberOfResults: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"at most {MAX_PAGE}")] = MAX_PAGE,
) -> list[AuditEntry]:
    """The audit trail, oldest first, in pages (`offset`, `numberOfResults`)."""
    return await svc.history(caseId, actor, offset, numberOfResults)


# ------------------------------------------------------------------ tasks


@router.get("/tasks", response_model=list[TaskView])
async def list_tasks(
    actor: CurrentActor, svc: Service, _fresh: Fresh,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    taskState: Annotated[TaskState | None, Query()] = None,
    caseName: Annotated[str | None, Query(max_length=1000)] = None,
    taskName: Annotated[str | None, Query(max_length=500)] = None,
    dueBefore: Annotated[datetime | None, Query(description="ISO 8601 with a time zone")] = None,
    dueAfter: Annotated[datetime | None, Query(description="ISO 8601 with a time zone")] = None,
    offset: Offset = 0, numberOfResults: PageSize = 100,
    sortBy: Annotated[str | None, Query(description=f"one of {', '.join(native_lists.TASK_SORTS)}")] = None,
    sortOrder: SortOrder = "DESC",
) -> list[TaskView]:
    """Tasks of the caller's roles in cases they belong to; every task of cases they own."""
    for name, value in (("dueBefore", dueBefore), ("dueAfter", dueAfter)):
        if value is not None and value.tzinfo is None:
            raise bad_request(f"{name} needs a time zone (for example 2026-01-31T17:00:00Z)")
    filters = native_lists.TaskFilter(
        assignee=assignee, owner=owner, task_state=taskState.value if taskState else None, case_name=caseName,
        task_name=taskName, due_before=dueBefore, due_after=dueAfter,
    )
    rows = await _listed(native_lists.tasks(svc.db, principals_of(actor), filters, _page(offset, numberOfResults, sortBy, sortOrder)))
    return [task_view(r.case_id, r.case_title, r) for r in rows]


@router.get("/tasks/user/count", response_model=TaskCounts)
async def count_my_tasks(actor: CurrentActor, svc: Service, _fresh: Fresh) -> TaskCounts:
    """Open tasks the caller holds, and open tasks in pools they may claim."""
    return TaskCounts(**await native_lists.task_counts(svc.db, actor.user_id, principals_of(actor)))


@router.get("/tasks/case/{caseId}", response_model=list[TaskView], responses=NOT_MODIFIED)
async def get_case_tasks(caseId: CaseId, actor: CurrentActor, svc: Service, request: Request, response: Response) -> Any:
    found = await svc.case_tasks(caseId, actor)
    return _not_modified(request, response, found.caseVersion) or found.tasks


@router.get("/tasks/{taskId}", response_model=TaskView, responses=NOT_MODIFIED)
async def get_task(taskId: str, actor: CurrentActor, svc: Service, request: Request, response: Response) -> Any:
    task, version = await svc.task(taskId, actor)
    return _not_modified(request, response, version) or task


async def _task_action(
    svc: CaseService, task_id: str, actor: Actor, command: Any, key: str | None, cond: list[int] | None
) -> TaskView:
    return (await _task_result(svc, task_id, actor, command, key, cond))[0]


async def _task_result(
    svc: CaseService, task_id: str, actor: Actor, command: Any, key: str | None, cond: list[int] | None
) -> tuple[TaskView, Any]:
    case_id, _ = svc.split_task(task_id)
    result = await svc.act(case_id, actor, command, key, cond)
    if result.task is None:
        raise not_found(f"no task '{task_id}'")
    return result.task, result


@router.put("/tasks/{taskId}/claim", response_model=TaskView)
async def claim_task(taskId: str, actor: CurrentActor, svc: Service, key: IdempotencyKey = None, cond: IfMatch = None) -> TaskView:
    return await _task_action(svc, taskId, actor, Claim(actor=actor, item_id=svc.split_task(taskId)[1]), key, cond)


@router.put("/tasks/{taskId}/revoke", response_model=TaskView)
async def revoke_task(taskId: str, actor: CurrentActor, svc: Service, key: IdempotencyKey = None, cond: IfMatch = None) -> TaskView:
    return await _task_action(svc, taskId, actor, Revoke(actor=actor, item_id=svc.split_task(taskId)[1]), key, cond)


@router.put("/tasks/{taskId}/assign", response_model=TaskView)
async def assign_task(
    taskId: str, body: AssigneeBody, actor: CurrentActor, svc: Service, key: IdempotencyKey = None, cond: IfMatch = None,
) -> TaskView:
    cmd = Assign(actor=actor, item_id=svc.split_task(taskId)[1], assignee=svc.user(body.assignee))
    return await _task_action(svc, taskId, actor, cmd, key, cond)


@router.put("/tasks/{taskId}/delegate", response_model=TaskView)
async def delegate_task(
    taskId: str, body: AssigneeBody, actor: CurrentActor, svc: Service, key: IdempotencyKey = None, cond: IfMatch = None,
) -> TaskView:
    cmd = Delegate(actor=actor, item_id=svc.split_task(taskId)[1], assignee=svc.user(body.assignee))
    return await _task_action(svc, taskId, actor, cmd, key, cond)


@router.post("/tasks/{taskId}/complete", response_model=CompletedTask)
async def complete_task(
    taskId: str,
    actor: CurrentActor,
    svc: Service,
    body: Output = None,  # type: ignore[assignment]
    next: Annotated[str | None, Query(description="SELECT routes: the plan item to go to next")] = None,
    key: IdempotencyKey = None,
    cond: IfMatch = None,
) -> CompletedTask:
    cmd = Complete(actor=actor, item_id=svc.split_task(taskId)[1], output=body or {}, next=next)
    task, result = await _task_result(svc, taskId, actor, cmd, key, cond)
    return CompletedTask(**task.model_dump(), nextTasks=await svc.next_tasks(actor, result.next))


@router.put("/tasks/{taskId}", response_model=TaskView)
async def save_task(
    taskId: str, body: Output, actor: CurrentActor, svc: Service, key: IdempotencyKey = None, cond: IfMatch = None,
) -> TaskView:
    return await _task_action(svc, taskId, actor, Save(actor=actor, item_id=svc.split_task(taskId)[1], output=body), key, cond)


@router.post("/tasks/{taskId}/validate", response_model=ValidationAnswer)
async def validate_task(taskId: str, body: Output, actor: CurrentActor, svc: Service) -> ValidationAnswer:
    case_id, item_id = svc.split_task(taskId)
    result = await svc.act(case_id, actor, Validate(actor=actor, item_id=item_id, output=body), None)
    return ValidationAnswer(valid=bool(result.valid), errors=result.errors)
