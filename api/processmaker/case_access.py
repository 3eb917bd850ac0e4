"""What the ProcessMaker case endpoints share: the permissions they ask for, reading one case
(the workflow's answers, the read model's rows, a missing case in the endpoint's words), sending
a command (its refusals in the seed's words), which delegation an action means, and the seed's
small rules for bodies and values."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Path
from fastapi.responses import Response

from api.errors import ApiError
from api.processmaker.common import (
    Missing,
    bad_request,
    no_such_case,
    parse_pm_date,
    pm_error,
)
from api.processmaker.schemas import Variables
from api.service import CaseRecord, CaseService
from store.directory import Directory
from store.tables import DelegationRow
from workflows.public import (
    ActionResult,
    Actor,
    CaseView,
    Definition,
    reasons,
    TaskView,
)


PM_CASES = "PM_CASES"
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


def ok() -> Response:
    """ProcessMaker's "200 and no return value"."""
    return Response(status_code=200)


# ------------------------------------------------------------------ small rules


def require(actor: Actor, *permissions: str) -> None:
    """Any one of `permissions` (ProcessMaker's role permissions, DESIGN.md 6)."""
    if not any(p in actor.permissions for p in permissions):
        raise pm_error(403, f"This action needs the permission {' or '.join(permissions)}.")


def required(value: Any, name: str) -> Any:
    if value is None or value == "":
        raise bad_request(f"`{name}` is required but missing.")
    return value


def variables_of(raw: Variables, name: str = "variables") -> dict[str, Any]:
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


def is_open(task: TaskView) -> bool:
    return task.taskState not in CLOSED_TASK_STATES


def directory_user(users: Directory, user_id: str, name: str) -> Actor:
    found = users.find(user_id)
    if found is None:
        raise bad_request(f"The user with {name}: '{user_id}' does not exist.")
    return found.to_actor()


def duration(start: datetime | None, end: datetime | None) -> str:
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
        return sorted((t for t in self.tasks if is_open(t)), key=lambda t: t.delIndex)


async def existing(svc: CaseService, app_uid: str, missing: Missing = no_such_case) -> CaseRecord | None:
    """The read model's record; a deleted case does not exist (for every endpoint)."""
    record = await svc.case_record(app_uid)
    if record is not None and record.case.app_status == "DELETED":
        raise missing(app_uid)
    return record


T = TypeVar("T")


async def as_case(app_uid: str, read: Awaitable[T], missing: Missing = no_such_case) -> T:
    """A read of one case; its 404 in ProcessMaker's words (the endpoint's, `missing`)."""
    try:
        return await read
    except ApiError as exc:
        if exc.status == 404:
            raise missing(app_uid) from None
        raise


async def case_view(svc: CaseService, app_uid: str, actor: Actor, missing: Missing = no_such_case) -> CaseView:
    return await as_case(app_uid, svc.case(app_uid, actor), missing)


async def snapshot(svc: CaseService, app_uid: str, actor: Actor, missing: Missing = no_such_case) -> Snapshot:
    record = await existing(svc, app_uid, missing)
    # two workflow queries at once, not one after the other
    view, tasks = await asyncio.gather(
        case_view(svc, app_uid, actor, missing), as_case(app_uid, svc.tasks(app_uid, actor), missing)
    )
    # the workflow's own answer: exact even before the read model has the case
    return Snapshot(app_uid, view, tasks, record, view.appStatus)


async def act(
    svc: CaseService, app_uid: str, actor: Actor, command: Any, key: str | None, missing: Missing = no_such_case
) -> ActionResult:
    try:
        return await svc.act(app_uid, actor, command, key)
    except ApiError as exc:
        # Every command names a plan item the face resolved itself, so a 404 is the case.
        if exc.status == 404:
            raise missing(app_uid) from None
        words = WORDS.get(exc.extra.get("reason") or "")
        if words is not None:
            raise bad_request(words.format(app_uid=app_uid)) from None
        raise


# The engine's refusals (their reason codes) that the seed words its own way.
WORDS = {
    reasons.ALREADY_CANCELLED: "The case '{app_uid}' is already canceled",
    reasons.PAST_DATE: "`unpaused_date` must be in the future.",
}


async def visible_or(svc: CaseService, app_uid: str, actor: Actor, permission: str) -> None:
    """Before saying anything about a case: the caller sees it, or holds a permission that
    reaches every case (so the answer tells nothing to a caller who may not know of it)."""
    if permission not in actor.permissions:
        await case_view(svc, app_uid, actor)


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


# ------------------------------------------------------------------ delegations


D = TypeVar("D", TaskView, DelegationRow)


def choose(open_ones: list[D], del_index: int | None, prefer: str | None) -> D | None:
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


def pick(tasks: list[TaskView], del_index: int | None, prefer: str | None = None) -> TaskView:
    found = choose([t for t in tasks if is_open(t)], del_index, prefer)
    if found is None:
        raise bad_request(DELEGATION_GONE)
    return found


def pick_row(record: CaseRecord | None, del_index: int | None, prefer: str | None) -> DelegationRow | None:
    return choose([d for d in (record.delegations if record else []) if d.open], del_index, prefer)


def unpause_at(raw: str | None) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    return parse_pm_date(raw, "unpaused_date")
