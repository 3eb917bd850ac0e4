"""The human-task workflow of the seed (CaseFabric "Executing the case"), one rule each:

- a task must be assigned (by a planner or case owner) or claimed (by a role holder) first;
- a task claimed or assigned to you can be revoked (back to Unassigned) or delegated;
- a delegated task revoked goes back to the previous user (the owner);
- only the holder completes or saves it; validate checks output without completing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.actor import Actor
from workflows.definition import HumanTask, RouteType, render_template
from workflows.engine import access, fields
from workflows.engine.assignment import claimable, pool_from_variable
from workflows.engine.commands import Assign, AutoAssign, Claim, Complete, Delegate, Revoke, Save, Validate
from workflows.engine import errors
from workflows.engine.errors import Conflict, Forbidden, Invalid
from workflows.engine import events as ev
from workflows.engine.lifecycle import Ctx
from workflows.engine.state import HumanTaskInfo, ItemState, PlanItemState, TaskState

HELD = (TaskState.Assigned, TaskState.Delegated)


def active_task(ctx: Ctx, item_id: str) -> tuple[PlanItemState, HumanTask, HumanTaskInfo]:
    """The human task an action is about; it must be active (not suspended, not ended)."""
    item = ctx.item(item_id)
    model = ctx.model(item)
    if not isinstance(model, HumanTask):
        raise Conflict(f"plan item '{item_id}' is a {item.type}, not a human task")
    if item.state != ItemState.Active or item.task is None:
        reason = {
            ItemState.Suspended: "is suspended",
            ItemState.Completed: "is already completed",
            ItemState.Terminated: "was terminated",
        }.get(item.state, "has not started")
        raise Conflict(f"task '{item_id}' {reason}", reason=errors.TASK_NOT_ACTIVE)
    return item, model, item.task


def _holder_only(task: HumanTaskInfo, actor: Actor, item_id: str, verb: str) -> None:
    if task.task_state not in HELD:
        raise Conflict(f"task '{item_id}' is not assigned to anyone; claim it or have it assigned first", reason=errors.NOT_HELD)
    if task.assignee != actor.user_id:
        raise Forbidden(f"only the user who holds task '{item_id}' may {verb} it")


def _touch(ctx: Ctx, item: PlanItemState) -> None:
    item.last_modified = ctx.at


def claim(ctx: Ctx, cmd: Claim) -> None:
    item, model, task = active_task(ctx, cmd.item_id)
    if not claimable(model):
        raise Conflict(f"task '{item.id}' is assigned by a case owner or planner; it cannot be claimed")
    if not access.in_pool(ctx.state, cmd.actor, model):
        raise Forbidden(f"claiming task '{item.id}' needs {_pool_of(model)}")
    if task.task_state != TaskState.Unassigned:
        if task.assignee == cmd.actor.user_id:
            raise Conflict(f"task '{item.id}' is already yours", reason=errors.ALREADY_YOURS)
        raise Conflict(f"task '{item.id}' is held by someone else", reason=errors.HELD_BY_OTHER)
    ctx.hand_to(item, cmd.actor.user_id)
    ctx.log(ev.TaskClaimed(user_id=cmd.actor.user_id), item.id, f"{item.name} claimed")


def _pool_of(model: HumanTask) -> str:
    if pool_from_variable(model):
        return f"to be named by the case variable '{model.assignment.variable}'"
    return f"role '{model.role}'" if model.role else "case team membership"


def assign(ctx: Ctx, cmd: Assign) -> None:
    item, model, task = active_task(ctx, cmd.item_id)
    if not (access.can_manage(ctx.state, cmd.actor) or access.holds_any(ctx.state, cmd.actor, model.plannableBy)):
        raise Forbidden(f"assigning task '{item.id}' needs a planning role or case ownership")
    if task.task_state == TaskState.Delegated:
        raise Conflict(f"task '{item.id}' is delegated; it must be revoked first")
    target = cmd.assignee
    if model.role and not access.holds_role(ctx.state, target, model.role):
        # As in CaseFabric, assigning someone outside the pool brings them into the team.
        ctx.grant_role(target.user_id, model.role)
    ctx.hand_to(item, target.user_id)
    ctx.log(ev.TaskAssigned(assignee=target.user_id), item.id, f"{item.name} assigned to {target.user_id}")


def auto_assign(ctx: Ctx, cmd: AutoAssign) -> None:
    """BALANCED: the user the shell picked. A pick that comes late (the task was claimed,
    assigned or ended meanwhile, or is suspended with its case) changes nothing: the task
    keeps `awaiting_pick` while unassigned, so the shell picks again once it is active."""
    item = ctx.state.items.get(cmd.item_id)
    model = ctx.model(item) if item is not None and item.task is not None else None
    if item is None or item.task is None or not isinstance(model, HumanTask):
        return
    if item.state != ItemState.Active or item.task.task_state != TaskState.Unassigned:
        return
    if cmd.user_id is None:
        # nobody to hand it to: stop asking (each ask is a local activity in the history)
        item.task.awaiting_pick = False
        ctx.log(ev.TaskLeftToPool(rule=model.assignment.rule.value), item.id, f"nobody in the pool of {item.name}; left to its pool")
        return
    ctx.hand_to(item, cmd.user_id)
    ctx.log(ev.TaskAssigned(assignee=cmd.user_id, rule=model.assignment.rule.value), item.id,
            f"assigned to {cmd.user_id} by rule {model.assignment.rule.value}")
    if model.role:
        ctx.grant_role(cmd.user_id, model.role)


def revoke(ctx: Ctx, cmd: Revoke) -> None:
    item, _, task = active_task(ctx, cmd.item_id)
    if task.task_state == TaskState.Delegated and cmd.actor.user_id in (task.assignee, task.owner):
        previous = task.owner
        task.task_state, task.assignee = TaskState.Assigned, previous
        _touch(ctx, item)
        ctx.log(ev.TaskRevoked(back_to=previous), item.id, f"delegation revoked; back to {previous}")
        return
    _holder_only(task, cmd.actor, item.id, "revoke")
    task.task_state, task.assignee, task.owner = TaskState.Unassigned, None, None
    _touch(ctx, item)
    ctx.log(ev.TaskRevoked(back_to=None), item.id, f"{item.name} back to its pool")


def delegate(ctx: Ctx, cmd: Delegate) -> None:
    item, _, task = active_task(ctx, cmd.item_id)
    _holder_only(task, cmd.actor, item.id, "delegate")
    if task.task_state == TaskState.Delegated:
        raise Conflict(f"task '{item.id}' is already delegated; revoke it first")
    if cmd.assignee.user_id == cmd.actor.user_id:
        raise Invalid("a task cannot be delegated to its holder", [{"field": "assignee", "message": "is you"}])
    task.task_state, task.assignee = TaskState.Delegated, cmd.assignee.user_id
    _touch(ctx, item)
    ctx.log(ev.TaskDelegated(delegate=cmd.assignee.user_id, owner=task.owner), item.id, f"{item.name} delegated to {cmd.assignee.user_id}")


def complete(ctx: Ctx, cmd: Complete) -> None:
    item, model, task = active_task(ctx, cmd.item_id)
    _holder_only(task, cmd.actor, item.id, "complete")
    output = {**task.output, **cmd.output}
    problems = fields.check(model.output, output, where="output")
    if model.route and model.route.type == RouteType.SELECT:
        choices = [t.task for t in model.route.to]
        if cmd.next not in choices:
            problems.append({"field": "next", "message": f"choose the next step: one of {', '.join(choices)}"})
        item.selected_next = cmd.next
    if problems:
        raise Invalid(f"the output of task '{item.id}' is not valid", problems)
    task.output = output
    ctx.state.data.update(output)
    ctx.complete(item, model)


def save(ctx: Ctx, cmd: Save) -> None:
    item, model, task = active_task(ctx, cmd.item_id)
    _holder_only(task, cmd.actor, item.id, "save")
    problems = fields.check(model.output, cmd.output, where="output", partial=True)
    if problems:
        raise Invalid(f"the draft of task '{item.id}' is not valid", problems)
    task.output = dict(cmd.output)
    _touch(ctx, item)
    ctx.log(ev.DraftSaved(fields=sorted(cmd.output)), item.id, f"draft of {item.name} saved")


@dataclass
class Validation:
    problems: list[dict[str, Any]]
    # the external validator to ask when the schema has no complaint: url and headers,
    # placeholders filled from the case data
    validator: dict[str, Any] | None


def validate(ctx: Ctx, cmd: Validate) -> Validation:
    """Schema problems of a would-be output, and the external validator the shell then asks."""
    item, model, task = active_task(ctx, cmd.item_id)
    _holder_only(task, cmd.actor, item.id, "validate")
    problems = fields.check(model.output, {**task.output, **cmd.output}, where="output")
    call = None
    if model.validator is not None:
        data = ctx.vars()
        call = {
            "url": render_template(model.validator.url, data),
            "headers": {k: render_template(v, data) for k, v in model.validator.headers.items()},
        }
    return Validation(problems, call)
