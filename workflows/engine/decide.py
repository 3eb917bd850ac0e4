"""The engine's entry points: `start` a case and `decide` a command.

Both are pure: they work on a private copy and return the new state with the audit entries
it produced; the caller's state is never touched. A refused command raises a DomainError and
changes nothing, so the shell can run `decide` in an update validator as well as a handler.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from workflows.actor import Actor
from workflows.definition import ROOT_ID, AssignmentRule, Definition, HumanTask, compiled_routes, walk
from workflows.engine import access, admin, expressions, fields, planning, starting, tasks, transitions
from workflows.engine.commands import (
    CaseCancelled,
    ChildDone,
    Cmd,
    MergeFile,
    ProcessDone,
    TaskDue,
    TeamAdd,
    TeamRemove,
    TimerFired,
)
from workflows.engine.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from workflows.engine import events as ev
from workflows.engine.lifecycle import Ctx, DefIndex
from workflows.engine.state import AuditEntry, CaseState, ItemState, ParentRef, PlanItemState, TeamMember

INTERNAL_KINDS = {
    "timer_fired", "task_due", "process_done", "child_done", "case_cancelled", "auto_assign", "pause_ended",
    "trigger_done",
}


@dataclass
class Decision:
    state: CaseState
    events: list[AuditEntry]
    # what the caller asked for: the planned item's id, validation problems
    plan_item_id: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    # validate: the external validator to ask, if the task has one
    validator: dict[str, Any] | None = None
    # run_trigger of an http trigger: the call the shell makes (method, url, json, headers,
    # output), then reports with TriggerDone; the command itself changes nothing
    trigger_call: dict[str, Any] | None = None


def check_start(
    definition: Definition, inputs: dict[str, Any], team: list[TeamMember], undeclared: bool = False
) -> list[dict[str, Any]]:
    """What is wrong with a start, before any workflow exists (the gateway asks first).
    `undeclared`: inputs the definition does not declare are kept as case data (ProcessMaker
    stores any variable), unless the definition has `strictInputs`."""
    problems = fields.check(definition.inputs, inputs, where="inputs", undeclared=undeclared and not definition.strictInputs)
    for i, member in enumerate(team):
        for role in member.caseRoles:
            if role not in definition.roles:
                problems.append({"field": f"caseTeam.users[{i}].caseRoles", "message": f"unknown role '{role}'"})
    return problems


def start(
    definition: Definition,
    *,
    case_id: str,
    case_number: int,
    actor: Actor,
    inputs: dict[str, Any],
    team: list[TeamMember],
    at: datetime,
    parent: ParentRef | None = None,
    start_task: str | None = None,
    start_user: Actor | None = None,
    undeclared_inputs: bool = False,
    expression_rules: int = expressions.RULES,
) -> Decision:
    """A new case. ProcessMaker starts one in a named task (`start_task`, which must be
    active once the case has started) and may hand that task to a user (`start_user`), and
    keeps inputs the definition does not declare (`undeclared_inputs`, see check_start)."""
    problems = check_start(definition, inputs, team, undeclared_inputs)
    if problems:
        raise Invalid("the case cannot start with these inputs", problems)
    compiled = compiled_routes(definition)
    data = dict(inputs)
    title = compiled.render_title({**data, "caseNumber": case_number, "caseId": case_id})
    root = PlanItemState(
        id=ROOT_ID, definition_id=ROOT_ID, type="casePlan", name=compiled.name, parent_id=None,
        created_on=at, last_modified=at,
    )
    state = CaseState(
        case_id=case_id, case_number=case_number, definition=compiled, title=title, created_on=at,
        created_by=actor.user_id, last_modified=at, data=data, items={ROOT_ID: root}, parent=parent,
        access_rules=access.RULES, expression_rules=expression_rules,
    )
    # The starter is an owner with `starterRole`, plus any roles the start gave them.
    given = next((m.caseRoles for m in team if m.userId == actor.user_id), [])
    roles = ([compiled.starterRole] if compiled.starterRole else []) + [r for r in given if r != compiled.starterRole]
    starter = TeamMember(userId=actor.user_id, isOwner=True, caseRoles=roles)
    state.team = [starter] + [m for m in team if m.userId != actor.user_id]
    ctx = Ctx(state, at, actor, DefIndex.of(compiled))
    ctx.move(root, "create", ItemState.Available)
    ctx.move(root, "start", ItemState.Active, f"case {title} started")
    ctx.settle()
    for item in state.items.values():
        if item.task is not None:
            # nobody routed the case here: ProcessMaker shows no previous user for it
            item.task.previous_user = None
    if start_task is not None:
        starting.take_first_task(ctx, start_task, start_user)
    state.version = 1
    return Decision(state, ctx.events)


# ------------------------------------------------------------------ command handlers


def _team_add(ctx: Ctx, cmd: TeamAdd) -> None:
    if not access.can_manage(ctx.state, cmd.actor):
        raise Forbidden("only case owners change the case team")
    unknown = [r for r in cmd.member.caseRoles if r not in ctx.state.definition.roles]
    if unknown:
        raise Invalid("unknown case roles", [{"field": "caseRoles", "message": f"unknown role '{r}'"} for r in unknown])
    existing = access.member(ctx.state, cmd.member.userId)
    if existing is not None and existing.isOwner and not cmd.member.isOwner and _owners(ctx.state) == 1:
        raise Conflict("a case keeps at least one owner")
    ctx.state.team = [m for m in ctx.state.team if m.userId != cmd.member.userId] + [cmd.member]
    ctx.log(ev.TeamMemberAdded(user_id=cmd.member.userId, roles=list(cmd.member.caseRoles), owner=cmd.member.isOwner), None,
            f"{cmd.member.userId} in the team as {', '.join(cmd.member.caseRoles) or 'member'}" + (" (owner)" if cmd.member.isOwner else ""))


def _owners(state: CaseState) -> int:
    return sum(1 for m in state.team if m.isOwner)


def _team_remove(ctx: Ctx, cmd: TeamRemove) -> None:
    if not access.can_manage(ctx.state, cmd.actor):
        raise Forbidden("only case owners change the case team")
    member = access.member(ctx.state, cmd.user_id)
    if member is None:
        raise NotFound(f"{cmd.user_id} is not in the case team")
    if member.isOwner and _owners(ctx.state) == 1:
        raise Conflict("a case keeps at least one owner")
    ctx.state.team.remove(member)
    ctx.log(ev.TeamMemberRemoved(user_id=cmd.user_id), None, f"{cmd.user_id} left the team")


def _merge_file(ctx: Ctx, cmd: MergeFile) -> None:
    state, actor = ctx.state, cmd.actor
    if not access.may_change_file(state, actor):
        raise Forbidden("only the case team, supervisors and the holder of an active task change the case file")
    guarded = sorted(set(cmd.data) & _assignment_variables(state.definition))
    if guarded and not access.can_manage(state, actor):
        # they decide who gets a task (EVALUATE) or who may claim it (SELF_SERVICE_EVALUATE):
        # a team member who could set them could hand themselves someone else's work
        raise Forbidden(f"only case owners and supervisors change {', '.join(guarded)}: they choose who works on a task")
    state.data.update(cmd.data)
    ctx.log(ev.CaseFileChanged(fields=sorted(cmd.data)), None, f"changed: {', '.join(sorted(cmd.data))}")


def _assignment_variables(definition: Definition) -> set[str]:
    return {
        model.assignment.variable
        for _, model, _ in walk(definition.plan)
        if isinstance(model, HumanTask) and model.assignment.variable
        and model.assignment.rule in (AssignmentRule.EVALUATE, AssignmentRule.SELF_SERVICE_EVALUATE)
    }


def _timer_fired(ctx: Ctx, cmd: TimerFired) -> None:
    item = ctx.state.items.get(cmd.item_id)
    if item and item.state == ItemState.Available and item.fires_at and item.fires_at <= ctx.at:
        ctx.occur(item)


def _task_due(ctx: Ctx, cmd: TaskDue) -> None:
    item = ctx.state.items.get(cmd.item_id)
    if item and item.task and item.state == ItemState.Active and item.task.due and item.task.due <= ctx.at and not item.task.overdue:
        item.task.overdue = True
        item.last_modified = ctx.at
        ctx.log(ev.TaskOverdue(due=item.task.due), item.id, f"{item.name} passed its due date")


def _process_done(ctx: Ctx, cmd: ProcessDone) -> None:
    item = ctx.state.items.get(cmd.item_id)
    # A result for a run that no longer matters (terminated, reactivated since) is dropped.
    if item is None or item.state not in (ItemState.Active, ItemState.Suspended) or item.effect_attempt != cmd.attempt:
        return
    ctx.effect_done(item, {"kind": "process", "ok": cmd.ok, "output": cmd.output, "error": cmd.error})


def _child_done(ctx: Ctx, cmd: ChildDone) -> None:
    item = ctx.state.items.get(cmd.item_id)
    if item is None or item.state not in (ItemState.Active, ItemState.Suspended):
        return
    ctx.effect_done(item, {"kind": "case", "state": cmd.state, "data": cmd.data})


def _case_cancelled(ctx: Ctx, cmd: CaseCancelled) -> None:
    if ctx.state.closed:
        return
    ctx.terminate(ctx.state.plan, "exit")
    ctx.log(ev.CaseClosed(how="terminated", reason=cmd.reason or "cancelled"), None, cmd.reason or "cancelled")


HANDLERS: dict[str, Callable[[Ctx, Any], Any]] = {
    "claim": tasks.claim,
    "revoke": tasks.revoke,
    "assign": tasks.assign,
    "delegate": tasks.delegate,
    "complete": tasks.complete,
    "save": tasks.save,
    "validate": tasks.validate,
    "transition": transitions.transition,
    "plan": planning.plan,
    "team_add": _team_add,
    "team_remove": _team_remove,
    "merge_file": _merge_file,
    "timer_fired": _timer_fired,
    "task_due": _task_due,
    "process_done": _process_done,
    "child_done": _child_done,
    "case_cancelled": _case_cancelled,
    "auto_assign": tasks.auto_assign,
    "pause": admin.pause,
    "unpause": admin.unpause,
    "pause_ended": admin.pause_ended,
    "cancel_case": admin.cancel_case,
    "delete_case": admin.delete_case,
    "reassign": admin.reassign,
    "run_trigger": admin.run_trigger,
    "trigger_done": admin.trigger_done,
}
# Commands that answer without changing the case.
READ_ONLY = {"validate"}


def private_copy(state: CaseState) -> CaseState:
    """A deep copy of the state that shares its definition: a deployed definition never
    changes (the engine only reads it), and copying it was most of a command's cost."""
    return copy.deepcopy(state, {id(state.definition): state.definition})


def decide(state: CaseState, cmd: Cmd, at: datetime) -> Decision:
    kind: str = cmd.kind  # type: ignore[attr-defined]
    if kind not in INTERNAL_KINDS:
        if not access.can_address(state, cmd.actor, kind, getattr(cmd, "item_id", None)):
            raise NotFound(f"no case '{state.case_id}'")
        if cmd.if_version is not None and state.version not in cmd.if_version:
            raise PreconditionFailed(
                f"the case is at version {state.version}, not the one this request was made on; read it again",
                [{"field": "If-Match", "message": "does not match the current ETag", "currentVersion": state.version}],
            )
        if state.closed:
            raise admin.closed(state)
        if state.paused and kind not in admin.WHILE_PAUSED:
            raise admin.paused()
    if kind in READ_ONLY:
        ctx = Ctx(state, at, cmd.actor, DefIndex.of(state.definition))
        validation = HANDLERS[kind](ctx, cmd)
        return Decision(state, [], problems=validation.problems, validator=validation.validator)
    work = private_copy(state)
    ctx = Ctx(work, at, cmd.actor, DefIndex.of(work.definition))
    result = HANDLERS[kind](ctx, cmd)
    if isinstance(result, admin.TriggerCall):
        # the shell runs it; nothing changed, so the caller's state stands as it was
        return Decision(state, [], trigger_call=result.call)
    ctx.settle()
    if ctx.events:
        work.version += 1
        work.last_modified = at
    return Decision(work, ctx.events, plan_item_id=result if isinstance(result, str) else None)
