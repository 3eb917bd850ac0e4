"""The tasks a case starts in (ProcessMaker's starting tasks: `tas_uid` of POST /cases),
and handing the one a start names to its first user."""

from __future__ import annotations

from workflows.actor import Actor
from workflows.definition import Definition, HumanTask, compiled_routes
from workflows.engine import access
from workflows.engine.errors import Forbidden, Invalid
from workflows.engine import events as ev
from workflows.engine.lifecycle import Ctx
from workflows.engine.state import ItemState


def start_tasks(definition: Definition) -> list[HumanTask]:
    """Human tasks directly in the case plan that start with the case: no entry criteria
    (routes count: a route's target waits for its source), not discretionary, not waiting
    for a manual start. The start-cases list offers these."""
    compiled = compiled_routes(definition)
    return [
        item
        for item in compiled.plan.items
        if isinstance(item, HumanTask) and not item.entry and not item.discretionary and not item.manualActivation
    ]


def take_first_task(ctx: Ctx, task_id: str, user: Actor | None) -> None:
    """The start named task `task_id`: it must be active now. With a user, it is theirs
    (they must be in its pool, as a claim would need)."""
    item = next(
        (i for i in ctx.state.items.values() if i.definition_id == task_id and i.task is not None and i.state == ItemState.Active),
        None,
    )
    model = ctx.defs.items.get(task_id)
    if item is None or not isinstance(model, HumanTask):
        raise Invalid(
            f"'{task_id}' is not a task that case '{ctx.state.definition.id}' starts in",
            [{"field": "tas_uid", "message": "is not a starting task"}],
        )
    if user is None or (item.task and item.task.assignee == user.user_id):
        return
    if not access.in_pool(ctx.state, user, model):
        raise Forbidden("user is not in the pool of the starting task")
    ctx.hand_to(item, user.user_id)
    ctx.log(ev.TaskAssigned(assignee=user.user_id), item.id, f"{item.name} assigned to {user.user_id}, who starts the case in it")
    if model.role:
        ctx.grant_role(user.user_id, model.role)
