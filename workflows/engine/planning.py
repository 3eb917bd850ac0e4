"""Discretionary items: which a caller may plan now, and planning one (CaseFabric's
`discretionaryitems`). An item is plannable while the stage or task whose planning table
lists it is active, its `if` holds, and the caller holds a planning role."""

from __future__ import annotations

from typing import Any

from workflows.actor import Actor
from workflows.engine import access, expressions
from workflows.engine.commands import Plan
from workflows.engine.errors import Conflict, Forbidden, NotFound
from workflows.engine import events as ev
from workflows.engine.lifecycle import Ctx
from workflows.engine.state import ItemState, PlanItemState


def options(ctx: Ctx, actor: Actor) -> list[tuple[Any, PlanItemState]]:
    """(discretionary item, active parent instance) pairs the actor may plan now."""
    data = ctx.vars()
    out = []
    for def_id in sorted(ctx.defs.discretionary, key=lambda d: list(ctx.defs.items).index(d)):
        model = ctx.defs.items[def_id]
        parent_def = ctx.defs.listed_by[def_id]
        for parent in ctx.state.items.values():
            if parent.definition_id != parent_def or parent.state != ItemState.Active:
                continue
            if expressions.condition(model.if_, data, ctx.state.expression_rules) and access.may_plan(ctx.state, actor, model.plannableBy):
                out.append((model, parent))
    return out


def plan(ctx: Ctx, cmd: Plan) -> str:
    model = ctx.defs.items.get(cmd.definition_id) if cmd.definition_id else None
    if model is None and cmd.name:
        model = next((m for i, m in ctx.defs.items.items() if m.name == cmd.name and i in ctx.defs.discretionary), None)
    if model is None or model.id not in ctx.defs.discretionary:
        raise NotFound(f"no discretionary item '{cmd.definition_id or cmd.name}' in this case")
    parent_def = ctx.defs.listed_by[model.id]
    parents = [p for p in ctx.state.items.values() if p.definition_id == parent_def]
    if cmd.parent_id:
        parents = [p for p in parents if p.id == cmd.parent_id]
        if not parents:
            raise NotFound(f"'{cmd.parent_id}' is not where '{model.id}' can be planned; its parent is '{parent_def}'")
    active = [p for p in parents if p.state == ItemState.Active]
    if not active:
        raise Conflict(f"'{model.id}' can be planned only while '{parent_def}' is active")
    if not access.may_plan(ctx.state, cmd.actor, model.plannableBy):
        raise Forbidden(f"planning '{model.id}' needs one of the roles {', '.join(model.plannableBy)}")
    if not expressions.condition(model.if_, ctx.vars(), ctx.state.expression_rules):
        raise Conflict(f"'{model.id}' does not apply now: {model.if_}")
    parent = active[0]
    # From a task's planning table the item goes into that task's own stage instance.
    stage = parent if parent.type in ("stage", "casePlan") else ctx.state.items[parent.parent_id or ""]
    item = ctx.create(model, stage.id, discretionary=True)
    ctx.log(ev.ItemPlanned(definition_id=item.definition_id), item.id, f"{item.name} planned")
    return item.id
