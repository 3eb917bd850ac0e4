"""Case-level actions of the ProcessMaker face: pause and unpause, cancel, delete, reassign
and execute a trigger (seed 001), with the shell's reports that finish them.

Pausing suspends the case plan the CMMN way (its items follow with parentSuspend), so
nothing in it moves while paused; unpausing resumes it, and every task returns to the
sub-state it had. Cancelling and deleting terminate the plan; they differ in what
ProcessMaker shows (`status.app_status`) and a deleted case is seen by nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from workflows.engine import access, status
from workflows.engine.commands import (
    CancelCase,
    DeleteCase,
    Pause,
    PauseEnded,
    Reassign,
    RunTrigger,
    TriggerDone,
    Unpause,
)
from workflows.engine import errors
from workflows.engine.errors import Conflict, Forbidden, Invalid, NotFound
from workflows.engine import events as ev
from workflows.engine.lifecycle import Ctx, http_call
from workflows.engine.state import CaseState, ItemState
from workflows.engine.tasks import active_task

PAUSED = "the case is paused"
# What may still be asked of a paused case; everything else waits for it to be unpaused.
# (Reassign says so in its own words, after checking who asks.)
WHILE_PAUSED = {"pause", "unpause", "cancel_case", "delete_case", "reassign", "team_add", "team_remove"}


def closed(state: CaseState) -> Conflict:
    """Why a closed case refuses a command; the faces word a cancelled one their own way."""
    if state.cancelled:
        return Conflict(f"case '{state.case_id}' is already cancelled", reason=errors.ALREADY_CANCELLED)
    return Conflict(f"case '{state.case_id}' is {state.plan.state.value.lower()}", reason=errors.CASE_CLOSED)


def paused() -> Conflict:
    return Conflict(PAUSED, reason=errors.CASE_PAUSED)


# ------------------------------------------------------------------ pause


def pause(ctx: Ctx, cmd: Pause) -> None:
    state = ctx.state
    if not access.may_pause(state, cmd.actor):
        raise Forbidden("pausing a case needs a task of it assigned to you, or supervising its process")
    if state.paused:
        raise Conflict(f"case '{state.case_id}' is already paused", reason=errors.ALREADY_PAUSED)
    if state.plan.state != ItemState.Active:
        raise Conflict(f"the plan of case '{state.case_id}' is {state.plan.state.value.lower()}; resume it first")
    if cmd.until is not None and cmd.until <= ctx.at:
        raise Invalid("a case is paused until a time to come", [{"field": "until", "message": "is not in the future"}], reason=errors.PAST_DATE)
    ctx.suspend(state.plan, "suspend")
    state.paused, state.paused_until = True, cmd.until
    ctx.log(ev.CasePaused(until=cmd.until), None, f"paused until {cmd.until.isoformat()}" if cmd.until else "paused until unpaused")


def unpause(ctx: Ctx, cmd: Unpause) -> None:
    state = ctx.state
    if not access.may_pause(state, cmd.actor):
        raise Forbidden("unpausing a case needs a task of it assigned to you, or supervising its process")
    if not state.paused:
        raise Conflict(f"case '{state.case_id}' is not paused", reason=errors.NOT_PAUSED)
    if cmd.at is not None and cmd.at > ctx.at:
        state.paused_until = cmd.at
        ctx.log(ev.CasePaused(until=cmd.at), None, f"paused until {cmd.at.isoformat()}")
        return
    _resume(ctx)


def pause_ended(ctx: Ctx, cmd: PauseEnded) -> None:
    """The shell's timer: a report that comes early (the date moved) or late (unpaused by
    hand since) changes nothing."""
    state = ctx.state
    if state.closed or not state.paused or state.paused_until is None or state.paused_until > ctx.at:
        return
    _resume(ctx)


def _resume(ctx: Ctx) -> None:
    state = ctx.state
    if state.plan.state == ItemState.Suspended:
        ctx.resume(state.plan, "resume")
    state.paused, state.paused_until = False, None
    ctx.log(ev.CaseUnpaused(), None, "the case goes on")


# ------------------------------------------------------------------ cancel, delete


def cancel_case(ctx: Ctx, cmd: CancelCase) -> None:
    if not access.may_cancel(ctx.state, cmd.actor):
        raise Forbidden(f"cancelling a case needs permission {access.CANCEL_CASE} or a task of it assigned to you")
    _end(ctx, "cancelled", cmd.reason or "cancelled")
    ctx.state.cancelled = True


def delete_case(ctx: Ctx, cmd: DeleteCase) -> None:
    """Only a draft still in its first task: later cases are cancelled, not deleted."""
    state = ctx.state
    current = status.app_status(state)
    if current != "DRAFT":
        raise Conflict(f"case '{state.case_id}' is {status.STATUS_LABELS[current].lower()}, not a draft; cancel it instead")
    delegations = [i for i in state.items.values() if i.task is not None]
    if len(delegations) != 1 or not access.is_open(delegations[0].state):
        raise Conflict(f"case '{state.case_id}' is past its first task; cancel it instead")
    first = delegations[0].task
    assert first is not None
    if not access.may_delete(cmd.actor, first):
        raise Forbidden(f"deleting a case needs its first task assigned to you, or permission {access.DELETE_CASE}")
    _end(ctx, "deleted", state.title)
    state.deleted = True


def _end(ctx: Ctx, how: Literal["cancelled", "deleted"], detail: str) -> None:
    state = ctx.state
    ctx.terminate(state.plan, "terminate")
    state.paused, state.paused_until = False, None
    ctx.log(ev.CaseClosed(how=how, reason=detail), None, detail)


# ------------------------------------------------------------------ reassign


def reassign(ctx: Ctx, cmd: Reassign) -> None:
    """A supervisor's or administrator's hand-over: from the user who holds the task to
    another of its pool. Unlike delegation the new user is the owner too."""
    state = ctx.state
    if not access.may_reassign(state, cmd.actor):
        raise Forbidden(
            f"reassigning needs permission {access.REASSIGN_CASE}, or {access.REASSIGN_SUPERVISED} as a supervisor of the process"
        )
    if state.paused:
        raise Conflict("paused cases can't be reassigned", reason=errors.CASE_PAUSED)
    item, model, task = active_task(ctx, cmd.item_id)
    if task.assignee is None or task.assignee != cmd.source:
        reason = errors.NOT_HELD if task.assignee is None else errors.NOT_SOURCE
        raise Conflict(f"task '{item.id}' is not assigned to the source user", reason=reason)
    if cmd.target.is_named_by([cmd.source]):
        raise Conflict(f"task '{item.id}' is already assigned to that user", reason=errors.SAME_ASSIGNEE)
    if not access.in_pool(state, cmd.target, model):
        raise Invalid(
            f"the target user may not work on task '{item.id}'",
            [{"field": "target", "message": "is not in the pool of the task"}], reason=errors.NOT_IN_POOL,
        )
    ctx.hand_to(item, cmd.target.user_id)
    task.previous_user = cmd.source
    ctx.log(ev.TaskReassigned(source=cmd.source, target=cmd.target.user_id), item.id,
            f"{item.name} reassigned from {cmd.source} to {cmd.target.user_id}")


# ------------------------------------------------------------------ triggers


@dataclass
class TriggerCall:
    """An http trigger is the shell's to run: the call (as `lifecycle.http_call` renders
    it), answered later with TriggerDone. The command itself changes nothing."""

    call: dict[str, Any]


def run_trigger(ctx: Ctx, cmd: RunTrigger) -> TriggerCall | None:
    state = ctx.state
    trigger = state.definition.triggers.get(cmd.name)
    if trigger is None:
        raise NotFound(f"no trigger '{cmd.name}' in definition '{state.definition.id}'")
    if not access.may_run_trigger(state, cmd.actor):
        raise Forbidden("running a trigger needs a task of the case assigned to you")
    if trigger.set is None:
        assert trigger.http is not None  # validated on deploy
        return TriggerCall(http_call(trigger.http, ctx.vars()))
    ctx.log(ev.TriggerRan(name=cmd.name), None, cmd.name)
    errors = ctx.apply_set(None, trigger.set)
    if errors:
        raise Invalid(f"trigger '{cmd.name}' could not be evaluated", [{"field": f"triggers.{cmd.name}", "message": e} for e in errors])
    return None


def trigger_done(ctx: Ctx, cmd: TriggerDone) -> None:
    if ctx.state.closed:
        return
    if not cmd.ok:
        ctx.log(ev.TriggerRan(name=cmd.name, ok=False, error=cmd.error), None, f"{cmd.name}: {cmd.error or 'failed'}")
        return
    ctx.state.data.update(cmd.output)
    ctx.log(ev.TriggerRan(name=cmd.name, fields=sorted(cmd.output)), None,
            f"{cmd.name} done" + (f"; set {', '.join(sorted(cmd.output))}" if cmd.output else ""))
