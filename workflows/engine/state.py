"""The state of one case: one serializable object, carried across continue-as-new."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from workflows.engine.events import CaseEvent
from pydantic import BaseModel, Field

from workflows.definition import Definition


class ItemState(str, Enum):
    Available = "Available"
    Enabled = "Enabled"
    Disabled = "Disabled"
    Active = "Active"
    Suspended = "Suspended"
    Completed = "Completed"
    Terminated = "Terminated"
    Failed = "Failed"


TERMINAL = {ItemState.Completed, ItemState.Terminated}
# States from which an item can still do something (exit criteria apply to these).
LIVE = {ItemState.Available, ItemState.Enabled, ItemState.Disabled, ItemState.Active, ItemState.Suspended, ItemState.Failed}


class TaskState(str, Enum):
    Unassigned = "Unassigned"
    Assigned = "Assigned"
    Delegated = "Delegated"
    Completed = "Completed"
    Terminated = "Terminated"
    Suspended = "Suspended"


class HumanTaskInfo(BaseModel):
    task_state: TaskState = TaskState.Unassigned
    assignee: str | None = None
    owner: str | None = None
    del_index: int = 0
    due: datetime | None = None
    overdue: bool = False
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    suspended_from: TaskState | None = None
    # ProcessMaker's delegation fields. All defaulted: states saved before them still load.
    # the user whose action activated the task (None when the shell did: a timer, an effect)
    previous_user: str | None = None
    # when the task became active (del_delegate_date), first got an assignee (del_init_date),
    # and ended (del_finish_date)
    activated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # BALANCED: unassigned until the shell picks a user of the pool and sends AutoAssign
    awaiting_pick: bool = False


class PlanItemState(BaseModel):
    id: str
    definition_id: str
    type: str
    name: str
    parent_id: str | None
    state: ItemState = ItemState.Available
    required: bool = False
    discretionary: bool = False
    created_on: datetime
    last_modified: datetime
    suspended_from: ItemState | None = None
    parent_suspended: bool = False
    task: HumanTaskInfo | None = None
    # timer items: when they occur (absolute, so it survives continue-as-new)
    fires_at: datetime | None = None
    # process and case tasks: what the shell must run, decided by the engine
    effect: dict[str, Any] | None = None
    effect_attempt: int = 0
    # an outcome that arrived while the item was suspended, applied on resume
    pending_result: dict[str, Any] | None = None
    error: str | None = None
    # SELECT routes: the target the completing user chose
    selected_next: str | None = None


class TeamMember(BaseModel):
    userId: str
    isOwner: bool = False
    caseRoles: list[str] = Field(default_factory=list)


class ParentRef(BaseModel):
    case_id: str
    item_id: str


class CaseState(BaseModel):
    case_id: str
    case_number: int
    definition: Definition
    title: str
    created_on: datetime
    created_by: str
    last_modified: datetime
    data: dict[str, Any] = Field(default_factory=dict)
    team: list[TeamMember] = Field(default_factory=list)
    items: dict[str, PlanItemState] = Field(default_factory=dict)
    # "<definitionId>.<transition>" -> how often it happened: what on-parts listen to
    occurred: dict[str, int] = Field(default_factory=dict)
    next_del_index: int = 1
    # Bumped by every accepted command: projections carry it so older ones can be ignored.
    version: int = 0
    parent: ParentRef | None = None
    # ProcessMaker's case-level states (pause, cancel, delete); defaulted so old states load.
    # paused: the case plan is suspended until unpaused (paused_until None: indefinitely)
    paused: bool = False
    paused_until: datetime | None = None
    cancelled: bool = False
    deleted: bool = False
    # Which access rules decide this case's commands (engine/access.py): 1 let every holder
    # of a definition role see and change the case; 2 keeps the case to its team, task
    # holders and supervisors. States recorded before the field load as 1, and a run keeps
    # the rules its history was decided by (the workflow's `access-by-team` patch).
    access_rules: int = 1
    # How its expressions are evaluated (engine/expressions.py RULES): states recorded before
    # expression budgets load as 0, and a run keeps what its history was decided by (the
    # workflow's `expression-budget` patch).
    expression_rules: int = 0

    @property
    def plan(self) -> PlanItemState:
        from workflows.definition import ROOT_ID

        return self.items[ROOT_ID]

    @property
    def closed(self) -> bool:
        return self.plan.state in TERMINAL


class AuditEntry(BaseModel):
    at: datetime
    user: str
    action: str
    planItemId: str | None = None
    detail: str = ""
    # what happened, typed (engine.events); None in entries recorded before events existed
    event: CaseEvent | None = None
