"""What the engine's decisions did, as typed events (one class per kind, named in the past
tense), recorded beside the human-readable audit text of each entry.

Readers that need to know what happened (the IBM face's task dates, the audit trail in the
read model, clients of `GET /cases/{id}/history`) read these fields, never the audit text,
which is for people and may be reworded. Each class names its audit `action` once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, Field


class Event(BaseModel):
    action: ClassVar[str]


class ItemTransitioned(Event):
    """A plan item moved by a CMMN transition (create, start, complete, exit, ...)."""

    kind: Literal["ItemTransitioned"] = "ItemTransitioned"
    transition: str
    to_state: str

    @property
    def audit_action(self) -> str:  # the transition is the audit action, as it always was
        return self.transition


class TaskClaimed(Event):
    action = "claim"
    kind: Literal["TaskClaimed"] = "TaskClaimed"
    user_id: str


class TaskAssigned(Event):
    """Assigned by a user, by an assignment rule (`rule`), or at the start of a case."""

    action = "assign"
    kind: Literal["TaskAssigned"] = "TaskAssigned"
    assignee: str
    rule: str | None = None


class TaskLeftToPool(Event):
    """An assignment rule found nobody: the task waits in its pool."""

    action = "assign"
    kind: Literal["TaskLeftToPool"] = "TaskLeftToPool"
    rule: str


class TaskRevoked(Event):
    action = "revoke"
    kind: Literal["TaskRevoked"] = "TaskRevoked"
    back_to: str | None  # None: back to the pool


class TaskDelegated(Event):
    action = "delegate"
    kind: Literal["TaskDelegated"] = "TaskDelegated"
    delegate: str
    owner: str | None


class TaskReassigned(Event):
    action = "reassign"
    kind: Literal["TaskReassigned"] = "TaskReassigned"
    source: str
    target: str


class DraftSaved(Event):
    action = "save"
    kind: Literal["DraftSaved"] = "DraftSaved"
    fields: list[str]


class TaskOverdue(Event):
    action = "overdue"
    kind: Literal["TaskOverdue"] = "TaskOverdue"
    due: datetime


class ItemPlanned(Event):
    action = "plan"
    kind: Literal["ItemPlanned"] = "ItemPlanned"
    definition_id: str


class TimerScheduled(Event):
    action = "timer"
    kind: Literal["TimerScheduled"] = "TimerScheduled"
    fires_at: datetime


class TeamMemberAdded(Event):
    action = "team"
    kind: Literal["TeamMemberAdded"] = "TeamMemberAdded"
    user_id: str
    roles: list[str]
    owner: bool = False


class TeamMemberRemoved(Event):
    action = "team"
    kind: Literal["TeamMemberRemoved"] = "TeamMemberRemoved"
    user_id: str


class CaseFileChanged(Event):
    action = "casefile"
    kind: Literal["CaseFileChanged"] = "CaseFileChanged"
    fields: list[str]


class VariablesSet(Event):
    """A `set` trigger wrote case variables."""

    action = "set"
    kind: Literal["VariablesSet"] = "VariablesSet"
    fields: list[str]


class ExpressionsFailed(Event):
    """Expressions of a task's input, a sub-case's inputs or a sub-case's output could not be
    evaluated (`what`: input, inputs, output); the item goes on without those values."""

    kind: Literal["ExpressionsFailed"] = "ExpressionsFailed"
    what: Literal["input", "inputs", "output"]
    errors: list[str]

    @property
    def audit_action(self) -> str:
        return self.what


class CasePaused(Event):
    action = "pause"
    kind: Literal["CasePaused"] = "CasePaused"
    until: datetime | None


class CaseUnpaused(Event):
    action = "unpause"
    kind: Literal["CaseUnpaused"] = "CaseUnpaused"


class CaseClosed(Event):
    """The case plan ended: completed, terminated, cancelled or deleted (`how`)."""

    kind: Literal["CaseClosed"] = "CaseClosed"
    how: Literal["completed", "terminated", "cancelled", "deleted"]
    reason: str = ""

    @property
    def audit_action(self) -> str:
        return f"case {self.how}"


class TriggerRan(Event):
    """A trigger ran on request (`ok`: None while an http trigger's call is under way)."""

    kind: Literal["TriggerRan"] = "TriggerRan"
    name: str
    ok: bool | None = True
    fields: list[str] = Field(default_factory=list)
    error: str | None = None

    @property
    def audit_action(self) -> str:
        return "trigger failed" if self.ok is False else "trigger"


class CommandRejected(Event):
    """A signal (fire-and-forget) that the engine refused: kept, never raised."""

    kind: Literal["CommandRejected"] = "CommandRejected"
    command: str
    error: str

    @property
    def audit_action(self) -> str:
        return f"rejected {self.command}"


CaseEvent = Annotated[
    Union[
        ItemTransitioned, TaskClaimed, TaskAssigned, TaskLeftToPool, TaskRevoked, TaskDelegated, TaskReassigned,
        DraftSaved, TaskOverdue, ItemPlanned, TimerScheduled, TeamMemberAdded, TeamMemberRemoved, CaseFileChanged,
        VariablesSet, ExpressionsFailed, CasePaused, CaseUnpaused, CaseClosed, TriggerRan, CommandRejected,
    ],
    Field(discriminator="kind"),
]


def audit_action(event: Any) -> str:
    """The audit entry's `action` for an event: its class's, or one its fields decide."""
    return getattr(event, "audit_action", None) or type(event).action


def transition_of(entry: Any) -> str | None:
    """The CMMN transition an audit entry records, or None. Entries recorded before typed
    events existed (cases that ran on earlier versions) carry the transition as their action."""
    event = entry.event
    if event is None:
        return entry.action
    return event.transition if isinstance(event, ItemTransitioned) else None
