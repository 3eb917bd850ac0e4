"""Plan-item transitions that users ask for by name (CMMN 1.1), and when each is allowed.

The engine takes the others itself (create, enable, start, exit, fault, parentSuspend,
parentResume, close); asking for one of those is a conflict, not a bad request.
"""

from __future__ import annotations

from workflows.definition import ROOT_ID, EVENT_TRANSITIONS, HumanTask, Milestone, Stage, TASK_TRANSITIONS, Timer, UserEvent
from workflows.engine import access, tasks
from workflows.engine.commands import Complete, Transition
from workflows.engine.errors import BadRequest, Conflict, Forbidden
from workflows.engine import events as ev
from workflows.engine.lifecycle import Ctx
from workflows.engine.state import ItemState, PlanItemState

S = ItemState
# transition -> (states it is allowed from, for tasks and stages; for event listeners)
USER_TRANSITIONS: dict[str, tuple[set[ItemState], set[ItemState]]] = {
    "manualStart": ({S.Enabled}, set()),
    "disable": ({S.Enabled}, set()),
    "reenable": ({S.Disabled}, set()),
    "suspend": ({S.Active}, {S.Available}),
    "resume": ({S.Suspended}, {S.Suspended}),
    "terminate": ({S.Active, S.Suspended, S.Enabled, S.Disabled, S.Failed}, {S.Available, S.Suspended}),
    "complete": ({S.Active}, set()),
    "occur": (set(), {S.Available}),
    "reactivate": ({S.Failed}, set()),
}
ENGINE_TRANSITIONS = (set(TASK_TRANSITIONS) | set(EVENT_TRANSITIONS)) - set(USER_TRANSITIONS)


def _allowed_from(item: PlanItemState, model: object, name: str) -> set[ItemState]:
    task_like, event_like = USER_TRANSITIONS[name]
    return event_like if isinstance(model, (Milestone, Timer, UserEvent)) else task_like


def _authorize(ctx: Ctx, item: PlanItemState, model: object, name: str) -> None:
    state, actor = ctx.state, ctx.actor
    if access.can_manage(state, actor):
        return
    if isinstance(model, UserEvent) and name == "occur":
        if access.may_raise(state, actor, model):
            return
        raise Forbidden(f"raising '{item.id}' needs one of the roles {', '.join(model.roles)}")
    if isinstance(model, HumanTask) and name != "terminate" and access.may_perform(state, actor, model):
        return
    if model is not None and not isinstance(model, (Stage, HumanTask, UserEvent)) and name == "reactivate" and access.member(state, actor.user_id):
        return
    raise Forbidden(f"'{name}' on '{item.id}' needs case ownership" + (f" or role '{model.role}'" if isinstance(model, HumanTask) and model.role else ""))


def transition(ctx: Ctx, cmd: Transition) -> None:
    name = cmd.transition
    if name in ENGINE_TRANSITIONS:
        raise Conflict(f"'{name}' is taken by the engine, not asked for by users")
    if name not in USER_TRANSITIONS:
        raise BadRequest(f"'{name}' is not a plan item transition; users may ask for: {', '.join(USER_TRANSITIONS)}")
    item = ctx.item(cmd.item_id)
    model = ctx.model(item)
    if name == "occur" and isinstance(model, Milestone):
        raise Conflict(f"milestone '{item.id}' occurs when its entry criteria hold")
    if name == "occur" and isinstance(model, Timer):
        raise Conflict(f"timer '{item.id}' occurs when its time comes")
    if isinstance(model, HumanTask) and name == "complete":
        # the human-task rule decides: only the holder completes, role or not
        tasks.complete(ctx, Complete(actor=cmd.actor, item_id=item.id))
        return
    _authorize(ctx, item, model, name)
    allowed = _allowed_from(item, model, name)
    if item.state not in allowed:
        raise Conflict(f"'{name}' is not allowed for '{item.id}' in state {item.state.value}")
    parent = ctx.state.items.get(item.parent_id or "")
    if name in ("resume", "reactivate", "manualStart", "reenable") and parent is not None and parent.state != S.Active:
        raise Conflict(f"the stage of '{item.id}' is not active")
    if name == "manualStart":
        ctx.start(item, model, "manualStart")
    elif name == "disable":
        ctx.move(item, "disable", S.Disabled)
    elif name == "reenable":
        ctx.move(item, "reenable", S.Enabled)
    elif name == "suspend":
        ctx.suspend(item, "suspend")
    elif name == "resume":
        ctx.resume(item, "resume")
    elif name == "terminate":
        ctx.terminate(item, "terminate")
        if item.id == ROOT_ID:
            ctx.log(ev.CaseClosed(how="terminated"), None, ctx.state.title)
    elif name == "occur":
        ctx.occur(item)
    elif name == "reactivate":
        item.error = None
        ctx.start(item, model, "reactivate")
    elif name == "complete":
        if not ctx.can_complete(item, auto=False):
            raise Conflict(f"'{item.id}' has active or unfinished required items")
        ctx.complete(item, model)
        if item.id == ROOT_ID:
            ctx.log(ev.CaseClosed(how="completed"), None, ctx.state.title)
