"""The IBM Case Manager face (CASEREST v1, seed 002): the list of task instances of a case,
grouped Required / Optional / Disabled, in IBM's field names and numeric codes.

`GET /CaseManager/CASEREST/v1/case/{case folder id}/tasks?TargetObjectStore=...&Grouping=ROD`

Meaning comes from the case itself (one query for its plan items, one for its audit trail)
and from the deployed definition (which items wait for a manual start); this module only
translates CMMN into IBM's vocabulary. Errors under `/CaseManager/` are rendered in IBM's
envelope (`userMessage`, and `UserMessage` alike), never as problem details; their texts are
written here or in the service layer, never copied from a request. A failed task's
FailureReason is a sentence written here for the kind of failure the engine recorded, never
the engine's own error text.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import CurrentActor, Service
from api.errors import ApiError, bad_request, not_found, register_envelope
from api.service import CaseService
from workflows.public import Actor, AuditEntry, CaseView, PlanItemView, transition_of, walk

PREFIX = "/CaseManager/"
router = APIRouter(prefix="/CaseManager/CASEREST/v1", tags=["ibm"])

# --- IBM's codes ---------------------------------------------------------------------------
# The names are IBM's: the enums TaskRequiredState, TaskDisabledState and TaskLaunchMode of
# the IBM Case Manager Java API (com.ibm.casemgmt.api.constants, the choice lists
# CmAcmRequiredStateChoiceList, CmAcmDisabledStateChoiceList, CmAcmLaunchModeChoiceList) and
# FileNet's com.filenet.api.constants.TaskState. IBM publishes the names but no table of
# their integers; each value below says where it comes from (README: "The IBM Case Manager
# face" has the same tables).

# RequiredState (CmAcmRequiredState). Values from the seed's example: its Optional task has 0,
# its Required task 1.
OPTIONAL = 0  # an optional task: CMMN `required: false`
REQUIRED_BY_USER = 1  # marked required by its designer: CMMN `required: true`
REQUIRED_BY_INCLUSIVE = 2  # required as a member of an inclusive set; Casework has none (inferred value, never sent)
REQUIRED_STATES = frozenset({REQUIRED_BY_USER, REQUIRED_BY_INCLUSIVE})

# TaskState (FileNet CmTask TaskState). From the seed's example: its Required task, which
# starts by itself (LaunchMode 4) and has not started, is 1, so WAITING_PRECONDITION (the
# state every new task starts in, waiting for its precondition) is 1; its Optional task,
# enabled and waiting for a user (LaunchMode 0), is READY = 3. FAILED = 6 is what IBM's
# technote on restarting failed activities searches for ("Task State equals 6",
# LastFailureReason "CmAcmError Launch Failed"); WORKING = 4 is the state of the automatic
# task's change-state event in IBM's case-history example, and COMPLETE = 5 lies between
# them in the state machine's order. WAITING_PREDECESSORS takes the one value left below
# READY; IBM's WAITING_ALL has no value here (the known values leave it no place below READY
# and none is documented), and neither waiting state is sent: Casework's only preconditions
# are sentries, it has no predecessor relations.
WAITING_PRECONDITION = 1  # CMMN Available: waiting for its entry criteria or its stage
WAITING_PREDECESSORS = 2  # inferred, never sent
READY = 3  # CMMN Enabled (manual activation: waiting for a user to start it), and Disabled
WORKING = 4  # CMMN Active, and Suspended (started, not finished)
COMPLETE = 5  # CMMN Completed
FAILED = 6  # CMMN Failed (with FailureReason), and Terminated (with DisabledState DISABLED_ABORTED)
# every CMMN state a task can be in, and its TaskState
TASK_STATES = {
    "Available": WAITING_PRECONDITION,
    "Enabled": READY,
    "Disabled": READY,
    "Active": WORKING,
    "Suspended": WORKING,
    "Completed": COMPLETE,
    "Failed": FAILED,
    "Terminated": FAILED,
}

# DisabledState (CmAcmDisabledState). ENABLED = 0 from the seed's example; the others follow
# the order IBM's documentation lists them in.
ENABLED = 0
DISABLED_BY_USER = 1  # CMMN Disabled: a user disabled the (manually activated) task
DISABLED_BY_EXCLUSIVE = 2  # the unchosen task of an exclusive set; Casework has none (never sent)
DISABLED_ABORTED = 3  # CMMN Terminated: the task was stopped (the seed spells it DISABLED_BY_ABORTED)

# LaunchMode (CmAcmLaunchMode). The seed's Ready optional task (which a user must start) has
# 0 and its waiting required task 4; USER_AUTOMATIC's value is Casework's choice. The
# repeatable modes are not sent: Casework has no repetition rule.
SYSTEM_MANUAL = 0  # `manualActivation: true`: enabled, then started by a user (manualStart)
USER_AUTOMATIC = 2  # a discretionary item a user planned into the case; it starts by its sentries
SYSTEM_AUTOMATIC = 4  # every other task: starts when its entry criteria hold

# CMMN plan item types that are IBM tasks; milestones, timers and user events are not.
TASK_TYPES = frozenset({"humanTask", "processTask", "caseTask", "stage"})
GROUPING = "ROD"
# TaskId: a name-based UUID (version 5) of the native task id `<caseId>.<planItemId>`, so the
# same plan item always has the same GUID. Derived, not reversible: a resource that takes a
# TaskId finds it among the case's items.
TASK_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:casework:ibm:task")
# ProcessInstanceId: IBM's form is 32 hex digits in upper case, without braces or dashes. Each
# task has its own, the name-based UUID of the same native task id in a namespace of its own
# (so it never repeats the task's TaskId): the same on every read, for every kind of task.
PROCESS_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:casework:ibm:process")
# A case folder id in GUID form: 8-4-4-4-12 hex digits (or 32 in a row), maybe in braces.
_GUID = re.compile(r"^\{?([0-9A-Fa-f]{8})-?([0-9A-Fa-f]{4})-?([0-9A-Fa-f]{4})-?([0-9A-Fa-f]{4})-?([0-9A-Fa-f]{12})\}?$")
# What a case id may look like at all (sub-case ids are longer than definition slugs).
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# the transitions whose dates and order the task fields come from
_DATED = frozenset({"create", "reactivate", "terminate", "exit"})

CASE_NOT_FOUND = "The case folder that was specified in the request URI was not found."


# --- the answer ----------------------------------------------------------------------------


class IbmTask(BaseModel):
    RequiredState: int
    TaskState: int
    DisabledState: int
    LaunchMode: int
    DateCreated: str
    TaskId: str
    TaskName: str
    DateLastModified: str
    IsHidden: bool
    IsContainer: bool
    ProcessInstanceId: str
    LastRestartDate: str | None
    RestartCount: str
    RosterName: str
    FailureReason: str | None = None  # only for tasks in the FAILED state


class IbmTaskGroups(BaseModel):
    """Empty groups are left out of the answer."""

    Required: list[IbmTask] | None = None
    Optional: list[IbmTask] | None = None
    Disabled: list[IbmTask] | None = None


class IbmUserMessage(BaseModel):
    UniqueId: str
    Text: str
    Severity: str


class IbmUnderlyingDetails(BaseModel):
    Causes: list[str]


class IbmError(BaseModel):
    """IBM's error envelope. The message is sent twice, under both spellings of its element:
    the task list's own page sends a client to `userMessage` for the error text, while IBM's
    page on error responses of the same REST protocol (and the clients written to it) reads
    `UserMessage`; JSON names are case-sensitive, so one spelling alone would leave one of
    them without the text."""

    userMessage: IbmUserMessage
    UserMessage: IbmUserMessage
    UnderlyingDetails: IbmUnderlyingDetails


# --- errors in IBM's envelope ----------------------------------------------------------------


def message_id(status: int) -> str:
    """IBM-style message ids (prefix, number, severity letter): one per status."""
    return f"CWKCR{status:04d}E"


def render_error(exc: ApiError) -> JSONResponse:
    # IBM's REST protocol knows no 422: an invalid parameter is a 400 there.
    status = 400 if exc.status == 422 else exc.status
    code = message_id(status)
    causes = [
        f"{e.get('field') or e.get('path') or ''}: {e.get('message', '')}".lstrip(": ")
        for e in (exc.extra.get("errors") or [])
        if isinstance(e, dict)
    ]
    message = IbmUserMessage(UniqueId=code, Text=f"{code} {exc.detail or exc.title}", Severity="ERROR")
    body = IbmError(userMessage=message, UserMessage=message, UnderlyingDetails=IbmUnderlyingDetails(Causes=causes))
    return JSONResponse(body.model_dump(), status_code=status, headers=exc.headers or None)


register_envelope(PREFIX, render_error)


# --- translation -------------------------------------------------------------------------------


def ibm_time(value: datetime) -> str:
    """IBM's timestamps: UTC, whole seconds, `Z`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ibm_task_id(case_id: str, item_id: str) -> str:
    return "{" + str(uuid.uuid5(TASK_ID_NAMESPACE, f"{case_id}.{item_id}")).upper() + "}"


def ibm_process_id(case_id: str, item_id: str) -> str:
    return uuid.uuid5(PROCESS_ID_NAMESPACE, f"{case_id}.{item_id}").hex.upper()


def case_id_candidates(folder_id: str) -> list[str]:
    """The case ids a case folder id may stand for: a GUID (any case, dashes, braces) names the
    case whose id is its 32 lowercase hex digits; any id may also be a case id as it is."""
    out: list[str] = []
    guid = _GUID.match(folder_id)
    if guid:
        out.append("".join(guid.groups()).lower())
    if _CASE_ID.match(folder_id) and folder_id not in out:
        out.append(folder_id)
    return out


def task_state(item: PlanItemView) -> int:
    return TASK_STATES.get(item.currentState, WAITING_PRECONDITION)


def disabled_state(item: PlanItemView) -> int:
    if item.currentState == "Disabled":
        return DISABLED_BY_USER
    if item.currentState == "Terminated":
        return DISABLED_ABORTED
    return ENABLED


def launch_mode(item: PlanItemView, model: Any) -> int:
    # Without the model (a definition no longer in the store), only an item waiting for its
    # manual start shows it was manual.
    manual = model.manualActivation if model is not None else item.currentState in ("Enabled", "Disabled")
    if manual:
        return SYSTEM_MANUAL
    return USER_AUTOMATIC if item.isDiscretionary else SYSTEM_AUTOMATIC


def group_of(task: IbmTask) -> str:
    if task.DisabledState != ENABLED:
        return "Disabled"
    return "Required" if task.RequiredState in REQUIRED_STATES else "Optional"


# --- FailureReason ------------------------------------------------------------------------
# The engine records why an item failed in its own words (PlanItemView.error): an HTTP step's
# error is `<exception type>: <message>` as Temporal renders the activity's failure
# (activities/http_calls.py raises them), a sub-case's is `sub-case ended <how>`, an effect's
# outcome that would not fit the case says `too large` (workflows/engine/budget.py). Those
# texts name exception classes, addresses, sometimes parts of a response; none of them is
# sent. The kind of failure is read from them and answered as a sentence written here.

_HTTP_CALL = "The call to the external service"
_HTTP_FAILED = f"{_HTTP_CALL} failed: "
_HTTP_NOT_MADE = f"{_HTTP_CALL} was not made: "
FAILURE_FALLBACK = "The task failed because of an unexpected error."
_ERROR_TYPE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): ?(.*)$", re.DOTALL)
_ANSWERED = re.compile(r"\banswered (\d{3})\b")
_TIMEOUT_TYPES = frozenset({"TimeoutException", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutError"})
_CONNECTION_TYPES = frozenset({"ConnectError", "NetworkError", "TransportError", "ProxyError"})
_BROKEN_TYPES = frozenset({"ReadError", "WriteError", "CloseError", "RemoteProtocolError", "ProtocolError", "LocalProtocolError"})


def _status_phrase(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _answered(status: int) -> str:
    said = f"(it answered {_status_phrase(status)})"
    if status == 401:
        return f"{_HTTP_FAILED}the service did not accept the request's credentials {said}."
    if status == 403:
        return f"{_HTTP_FAILED}the service does not allow this request {said}."
    if status in (404, 410):
        return f"{_HTTP_FAILED}the service has nothing at the address that was called {said}."
    if status == 408:
        return f"{_HTTP_FAILED}the service did not get the request in time {said}."
    if status == 429:
        return f"{_HTTP_FAILED}the service is receiving too many requests {said}."
    if 400 <= status < 500:
        return f"{_HTTP_FAILED}the service rejected the request {said}."
    if status >= 500:
        return f"{_HTTP_FAILED}the service answered with a server error, also on every retry {said}."
    return f"{_HTTP_FAILED}the service gave an answer that could not be used {said}."


def _sub_case_reason(how: str) -> str:
    if "too large" in how:
        return "The sub-case completed, but its result is too large to be kept in this case."
    if how.startswith("not started"):
        if "no deployed definition" in how:
            return "The sub-case could not be started: its case definition is not deployed."
        if "inputs" in how:
            return "The sub-case could not be started: the inputs given to it are not valid."
        return "The sub-case could not be started."
    if how == "Terminated":
        return "The sub-case was stopped before it completed."
    return "The sub-case ended without completing."


def readable_failure(error: str | None) -> str:
    """The FailureReason of a failed item: what failed and why, in a sentence, from the kind
    of failure its recorded error shows (its words are never copied)."""
    text = (error or "").strip()
    found = _ERROR_TYPE.match(text)
    kind, message = (found.group(1), found.group(2)) if found else ("", text)
    lower = text.lower()
    if lower.startswith("sub-case ended"):
        return _sub_case_reason(text[len("sub-case ended"):].strip())
    if "too large" in lower:
        return f"{_HTTP_CALL} succeeded, but its answer is too large to be kept in the case."
    if lower.startswith("trigger could not be evaluated"):
        return "The task's trigger could not be evaluated, so the case data was not changed."
    if kind == "HttpRefused" or "outbound call refused" in lower:
        return f"{_HTTP_NOT_MADE}this server is not allowed to call that address."
    if kind == "HttpBadUrl" or message.lower().startswith("bad url"):
        return f"{_HTTP_NOT_MADE}its URL is not valid."
    if kind == "HttpBadResponse" or "not json" in lower:
        return f"{_HTTP_FAILED}the service's answer is not JSON, so the task's output could not be read from it."
    status = _ANSWERED.search(text)
    if status and kind in ("", "HttpClientError", "RuntimeError"):
        return _answered(int(status.group(1)))
    if kind in _TIMEOUT_TYPES or "timeout" in lower or "timed out" in lower:
        return f"{_HTTP_FAILED}the service did not answer in time."
    if "cannot resolve the host" in lower or "has no address" in lower:
        return f"{_HTTP_FAILED}the service's host name could not be found."
    if kind in _CONNECTION_TYPES:
        return f"{_HTTP_FAILED}the service could not be reached."
    if kind in _BROKEN_TYPES:
        return f"{_HTTP_FAILED}the connection to the service broke before it answered."
    return FAILURE_FALLBACK


def failure_reason(item: PlanItemView, events: list[AuditEntry]) -> str:
    if item.currentState == "Failed":
        return readable_failure(item.error)
    ended = next((t for t in map(transition_of, reversed(events)) if t in ("terminate", "exit")), None)
    if ended == "terminate":
        return "The task was terminated by a user."
    if ended == "exit":
        return "The task was stopped by an exit criterion or by the end of its stage."
    return "The task was terminated."


def translate(view: CaseView, history: list[AuditEntry], models: dict[str, Any]) -> IbmTaskGroups:
    by_item: dict[str, list[AuditEntry]] = {}
    for entry in history:
        if entry.planItemId:
            by_item.setdefault(entry.planItemId, []).append(entry)
    groups: dict[str, list[IbmTask]] = {}
    for item in view.planitems:
        if item.type not in TASK_TYPES:
            continue
        events = by_item.get(item.id, [])
        created = next((e.at for e in events if transition_of(e) == "create"), None)
        restarts = [e.at for e in events if transition_of(e) == "reactivate"]
        state = task_state(item)
        fields: dict[str, Any] = {
            "RequiredState": REQUIRED_BY_USER if item.isRequired else OPTIONAL,
            "TaskState": state,
            "DisabledState": disabled_state(item),
            "LaunchMode": launch_mode(item, models.get(item.definitionId)),
            # the audit trail keeps the latest 5000 entries; past that, the item's last change
            "DateCreated": ibm_time(created or item.lastModified),
            "TaskId": ibm_task_id(view.id, item.id),
            "TaskName": item.name,
            "DateLastModified": ibm_time(item.lastModified),
            "IsHidden": False,
            "IsContainer": item.type == "stage",
            "ProcessInstanceId": ibm_process_id(view.id, item.id),
            "LastRestartDate": ibm_time(restarts[-1]) if restarts else None,
            "RestartCount": str(len(restarts)),
            "RosterName": view.definition,
        }
        if state == FAILED:
            fields["FailureReason"] = failure_reason(item, events)
        task = IbmTask(**fields)
        groups.setdefault(group_of(task), []).append(task)
    for tasks in groups.values():
        tasks.sort(key=lambda t: (t.TaskState, t.TaskName.casefold(), t.TaskName, t.TaskId))
    return IbmTaskGroups(**groups)


# --- the resource ------------------------------------------------------------------------------


async def _read_case(svc: CaseService, folder_id: str, actor: Actor) -> tuple[CaseView, list[AuditEntry]]:
    for case_id in case_id_candidates(folder_id):
        try:
            view, history = await asyncio.gather(svc.case(case_id, actor), svc.history(case_id, actor, transitions=_DATED))
        except ApiError as exc:
            if exc.status == 404:  # no such case, or one the caller may not see
                continue
            raise
        return view, history
    raise not_found(CASE_NOT_FOUND)


async def _models(svc: CaseService, view: CaseView) -> dict[str, Any]:
    try:
        definition = await svc.definition(f"{view.definition}@{view.version}")
    except ApiError as exc:
        if exc.status == 404:
            return {}
        raise
    return {item.id: item for _, item, _ in walk(definition.plan)}


@router.get(
    "/case/{caseFolderId}/tasks",
    response_model=IbmTaskGroups,
    response_model_exclude_unset=True,
    summary="List the task instances of a case (IBM Case Manager)",
    responses={
        400: {"model": IbmError, "description": "TargetObjectStore or Grouping missing or invalid."},
        401: {"model": IbmError, "description": "No valid bearer token."},
        404: {"model": IbmError, "description": "No such case, or one the caller may not see."},
        500: {"model": IbmError, "description": "A server error; see userMessage."},
    },
)
async def list_task_instances(
    request: Request,
    caseFolderId: Annotated[str, Path(max_length=200, description="the case's GUID (with or without braces) or its case id")],
    actor: CurrentActor,
    svc: Service,
    TargetObjectStore: Annotated[str | None, Query(max_length=200, description="the object store's symbolic name")] = None,
    Grouping: Annotated[str | None, Query(max_length=20, description="must be ROD")] = None,
) -> IbmTaskGroups:
    """The case's tasks (human, process and case tasks, and stages) in the groups Required,
    Optional and Disabled; empty groups are left out; each group is ordered by TaskState,
    then TaskName."""
    store = request.app.state.settings.ibm_object_store
    if not TargetObjectStore:
        raise bad_request("The required TargetObjectStore parameter was not specified.")
    if TargetObjectStore.casefold() != store.casefold():
        raise bad_request("The TargetObjectStore parameter does not name an object store of this server.")
    if not Grouping:
        raise bad_request("The required Grouping parameter was not specified.")
    if Grouping != GROUPING:
        raise bad_request("The Grouping parameter must be ROD.")
    view, history = await _read_case(svc, caseFolderId, actor)
    return translate(view, history, await _models(svc, view))
