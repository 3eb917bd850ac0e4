"""What may be asked of a case. Every command names its actor; time comes from the shell."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field

from workflows.actor import Actor
from workflows.engine.state import TeamMember


class Cmd(BaseModel):
    actor: Actor
    # A conditional action (HTTP If-Match): the case versions the sender's copy may be at.
    # None: unconditional; [] matches nothing. The engine refuses the command, changing
    # nothing, when the case is at another version (errors.PreconditionFailed).
    if_version: list[int] | None = None


class Claim(Cmd):
    kind: Literal["claim"] = "claim"
    item_id: str


class Revoke(Cmd):
    kind: Literal["revoke"] = "revoke"
    item_id: str


class Assign(Cmd):
    kind: Literal["assign"] = "assign"
    item_id: str
    # the gateway resolves the user from the directory, so the engine can check roles
    assignee: Actor


class Delegate(Cmd):
    kind: Literal["delegate"] = "delegate"
    item_id: str
    assignee: Actor


class Complete(Cmd):
    kind: Literal["complete"] = "complete"
    item_id: str
    output: dict[str, Any] = Field(default_factory=dict)
    # SELECT routes: the target the completing user picks
    next: str | None = None


class Save(Cmd):
    kind: Literal["save"] = "save"
    item_id: str
    output: dict[str, Any] = Field(default_factory=dict)


class Validate(Cmd):
    kind: Literal["validate"] = "validate"
    item_id: str
    output: dict[str, Any] = Field(default_factory=dict)


class Transition(Cmd):
    kind: Literal["transition"] = "transition"
    item_id: str
    transition: str


class Plan(Cmd):
    kind: Literal["plan"] = "plan"
    definition_id: str
    parent_id: str | None = None
    name: str | None = None


class TeamAdd(Cmd):
    kind: Literal["team_add"] = "team_add"
    member: TeamMember


class TeamRemove(Cmd):
    kind: Literal["team_remove"] = "team_remove"
    user_id: str


class MergeFile(Cmd):
    kind: Literal["merge_file"] = "merge_file"
    data: dict[str, Any]


# ---- case-level actions of the ProcessMaker face (workflows/engine/admin.py)


class Pause(Cmd):
    kind: Literal["pause"] = "pause"
    # when the case unpauses by itself; None: paused until someone unpauses it
    until: datetime | None = None


class Unpause(Cmd):
    kind: Literal["unpause"] = "unpause"
    # None or not in the future: now; later: the case stays paused until then
    at: datetime | None = None


class CancelCase(Cmd):
    kind: Literal["cancel_case"] = "cancel_case"
    reason: str = ""


class DeleteCase(Cmd):
    kind: Literal["delete_case"] = "delete_case"


class Reassign(Cmd):
    kind: Literal["reassign"] = "reassign"
    item_id: str
    # the user it is assigned to now (ProcessMaker's usr_uid_source), and the one to take it
    source: str
    target: Actor


class RunTrigger(Cmd):
    kind: Literal["run_trigger"] = "run_trigger"
    name: str


# ---- sent by the shell, never by users


class TimerFired(Cmd):
    kind: Literal["timer_fired"] = "timer_fired"
    item_id: str


class TaskDue(Cmd):
    kind: Literal["task_due"] = "task_due"
    item_id: str


class ProcessDone(Cmd):
    kind: Literal["process_done"] = "process_done"
    item_id: str
    attempt: int
    ok: bool
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class ChildDone(Cmd):
    kind: Literal["child_done"] = "child_done"
    item_id: str
    state: str
    data: dict[str, Any] = Field(default_factory=dict)


class CaseCancelled(Cmd):
    """Temporal asked the case to stop: its parent task ended, or an operator cancelled it."""

    kind: Literal["case_cancelled"] = "case_cancelled"
    reason: str = ""


class AutoAssign(Cmd):
    """BALANCED: the user the shell picked from the task's pool."""

    kind: Literal["auto_assign"] = "auto_assign"
    item_id: str
    # None: the pool had nobody in it; the task is left to its pool, like SELF_SERVICE
    user_id: str | None = None


class PauseEnded(Cmd):
    """The time a paused case was to unpause has come."""

    kind: Literal["pause_ended"] = "pause_ended"


class TriggerDone(Cmd):
    """The outcome of an http trigger that `run_trigger` asked the shell to call."""

    kind: Literal["trigger_done"] = "trigger_done"
    name: str
    ok: bool
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


Command = Annotated[
    Union[
        Claim, Revoke, Assign, Delegate, Complete, Save, Validate, Transition, Plan,
        TeamAdd, TeamRemove, MergeFile, Pause, Unpause, CancelCase, DeleteCase, Reassign, RunTrigger,
        TimerFired, TaskDue, ProcessDone, ChildDone, CaseCancelled, AutoAssign, PauseEnded, TriggerDone,
    ],
    Field(discriminator="kind"),
]
