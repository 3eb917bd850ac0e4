"""The CMMN lifecycle of plan items: creation, sentries, entry and exit, stage completion.

`Ctx` is one decision in progress: a private copy of the state, the time and actor of the
command, and the audit entries it produces. `settle` runs the case forward until nothing
more follows from what happened (items starting, milestones occurring, stages completing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.actor import Actor
from workflows.engine import events as ev
from workflows.definition import (
    ROOT_ID,
    AssignmentRule,
    CaseTask,
    Definition,
    HttpCall,
    HumanTask,
    Milestone,
    ProcessTask,
    Sentry,
    Stage,
    Timer,
    UserEvent,
    duration,
    planning_entries,
    render_template,
    walk,
)
from workflows.engine import assignment, expressions
from workflows.engine.state import (
    LIVE,
    TERMINAL,
    AuditEntry,
    CaseState,
    HumanTaskInfo,
    ItemState,
    PlanItemState,
    TaskState,
    TeamMember,
)

# How many settle passes a single command may cause before we call it a bug (a loop).
MAX_PASSES = 500


# The audit text of one entry, in characters (the typed event keeps the facts).
AUDIT_DETAIL_MAX = 500


@dataclass
class DefIndex:
    """The definition looked up by item id: the model, and the stage that holds it."""

    items: dict[str, Any]
    # the stage (or case plan) an item lives in once created
    container: dict[str, str]
    # the stage, case plan or human task that lists it (whose planning table, if discretionary)
    listed_by: dict[str, str]
    discretionary: set[str]

    @classmethod
    def of(cls, definition: Definition) -> "DefIndex":
        """Built once per definition object and kept on it: a case's definition is shared by
        every state copy (decide.private_copy) and never changes."""
        # keyed by the object itself: a model_copy carries private attributes along, and a
        # copy with another plan must not reuse this index
        cached = definition._index
        if cached is None or cached[0] != id(definition):
            cached = (id(definition), cls._build(definition))
            definition._index = cached
        return cached[1]

    @classmethod
    def _build(cls, definition: Definition) -> "DefIndex":
        items: dict[str, Any] = {}
        container: dict[str, str] = {}
        planned = planning_entries(definition.plan)
        for _, item, parent in walk(definition.plan):
            items[item.id] = item
            container[item.id] = parent
        listed_by = dict(container)
        # An item in a human task's planning table is planned into that task's stage.
        for item_id, parent in list(container.items()):
            while parent != ROOT_ID and isinstance(items.get(parent), HumanTask):
                parent = container[parent]
            container[item_id] = parent
        disc = planned | {i for i, m in items.items() if m.discretionary}
        return cls(items=items, container=container, listed_by=listed_by, discretionary=disc)

    def children(self, stage_def_id: str) -> list[Any]:
        return [m for i, m in self.items.items() if self.container[i] == stage_def_id and i not in self.discretionary]


@dataclass
class Ctx:
    state: CaseState
    at: datetime
    actor: Actor
    defs: DefIndex
    events: list[AuditEntry] = field(default_factory=list)
    # On-part events that happened in this decision, and items created in it: a sentry with
    # on-parts is looked at when one of its events happens (CMMN), or when its item is new.
    fresh: set[str] = field(default_factory=set)
    born: set[str] = field(default_factory=set)

    # ---------------------------------------------------------------- basics

    def log(self, event: Any, item_id: str | None = None, detail: str = "", user: str | None = None) -> None:
        """Record what happened: the typed event, and the audit text for people beside it."""
        if len(detail) > AUDIT_DETAIL_MAX:  # a `set` of large values must not bloat the trail
            detail = detail[:AUDIT_DETAIL_MAX - 1] + "…"
        self.events.append(
            AuditEntry(at=self.at, user=user or self.actor.user_id, action=ev.audit_action(event), planItemId=item_id,
                       detail=detail, event=event)
        )

    def vars(self) -> dict[str, Any]:
        return {**self.state.data, "caseId": self.state.case_id, "caseNumber": self.state.case_number}

    def model(self, item: PlanItemState) -> Any:
        if item.id == ROOT_ID:
            return None
        return self.defs.items[item.definition_id]

    def item(self, item_id: str) -> PlanItemState:
        from workflows.engine.errors import NotFound

        found = self.state.items.get(item_id)
        if found is None:
            raise NotFound(f"case {self.state.case_id} has no plan item '{item_id}'")
        return found

    def move(self, item: PlanItemState, transition: str, to: ItemState, detail: str = "") -> None:
        item.state = to
        item.last_modified = self.at
        if item.task is not None and to in TERMINAL:
            # every way a task ends (complete, terminate, exit) comes through here
            item.task.finished_at = self.at
        key = f"{item.definition_id}.{transition}"
        self.state.occurred[key] = self.state.occurred.get(key, 0) + 1
        self.fresh.add(key)
        self.log(ev.ItemTransitioned(transition=transition, to_state=to.value), item.id, detail or f"{item.name}: {to.value}")

    def children(self, stage: PlanItemState) -> list[PlanItemState]:
        return [i for i in self.state.items.values() if i.parent_id == stage.id]

    # ---------------------------------------------------------------- creation

    def create(self, model: Any, parent_id: str, *, discretionary: bool = False) -> PlanItemState:
        item_id = model.id
        n = 1
        while item_id in self.state.items:
            n += 1
            item_id = f"{model.id}-{n}"
        item = PlanItemState(
            id=item_id,
            definition_id=model.id,
            type=model.type,
            name=model.name,
            parent_id=parent_id,
            required=model.required,
            discretionary=discretionary,
            created_on=self.at,
            last_modified=self.at,
        )
        self.state.items[item_id] = item
        self.born.add(item_id)
        self.move(item, "create", ItemState.Available)
        return item

    # ---------------------------------------------------------------- sentries

    def satisfied(self, sentry: Sentry, item: PlanItemState, data: dict[str, Any]) -> bool:
        """All on-parts have happened, one of them just now (or the item is new), the
        condition holds, and no `unless` condition does. SELECT choices: `entry_ok`."""
        if sentry.on:
            if any(self.state.occurred.get(on, 0) == 0 for on in sentry.on):
                return False
            if item.id not in self.born and not any(on in self.fresh for on in sentry.on):
                return False
        if any(expressions.condition(u, data, self.state.expression_rules) for u in sentry.unless):
            return False
        return expressions.condition(sentry.if_, data, self.state.expression_rules)

    def entry_ok(self, item: PlanItemState, model: Any, data: dict[str, Any]) -> bool:
        if not model.entry:
            return True
        for sentry in model.entry:
            if sentry.selected_by:
                chosen = {i.selected_next for i in self.state.items.values() if i.definition_id == sentry.selected_by}
                if item.definition_id not in chosen:
                    continue
            if self.satisfied(sentry, item, data):
                return True
        return False

    # ---------------------------------------------------------------- starting

    def start(self, item: PlanItemState, model: Any, transition: str = "start") -> None:
        self.move(item, transition, ItemState.Active)
        if isinstance(model, HumanTask):
            self._activate_task(item, model)
        elif isinstance(model, ProcessTask):
            self._run_process(item, model)
        elif isinstance(model, CaseTask):
            inputs, errors = expressions.mapping(model.inputs, self.vars(), self.state.expression_rules)
            item.effect_attempt += 1
            item.effect = {
                "kind": "case",
                "definition": model.definition,
                "case_id": f"{self.state.case_id}-{item.id}",
                "inputs": {k: v for k, v in inputs.items() if v is not None},
            }
            if errors:
                self.log(ev.ExpressionsFailed(what="inputs", errors=errors), item.id, "; ".join(errors))

    def _activate_task(self, item: PlanItemState, model: HumanTask) -> None:
        data = self.vars()
        shown, errors = expressions.mapping(model.input, data, self.state.expression_rules)
        task = HumanTaskInfo(
            del_index=self.state.next_del_index, input=shown, activated_at=self.at,
            previous_user=None if self.actor.is_system else self.actor.user_id,
        )
        self.state.next_del_index += 1
        if model.due:
            task.due = self.at + duration(model.due)
        item.task = task
        if errors:
            self.log(ev.ExpressionsFailed(what="input", errors=errors), item.id, "; ".join(errors))
        chosen = assignment.initial_assignee(self.state, model, data, self.actor)
        if chosen:
            self.hand_to(item, chosen)
            self.log(ev.TaskAssigned(assignee=chosen, rule=model.assignment.rule.value), item.id,
                     f"assigned to {chosen} by rule {model.assignment.rule.value}")
            if model.role:
                self.grant_role(chosen, model.role)
        elif model.assignment.rule == AssignmentRule.REPORT_TO:
            self.log(ev.TaskLeftToPool(rule=model.assignment.rule.value), item.id,
                     f"{self.actor.user_id} reports to nobody; {item.name} is left to its pool")
        elif assignment.awaits_pick(model):
            task.awaiting_pick = True

    def hand_to(self, item: PlanItemState, user_id: str) -> None:
        """The task is now the user's (Assigned, its owner too): claim, assign, reassign and
        the assignment rules all end here. The first holder's time is ProcessMaker's
        del_init_date; a later one does not change it."""
        task = item.task
        assert task is not None
        task.task_state, task.assignee, task.owner = TaskState.Assigned, user_id, user_id
        task.awaiting_pick = False
        if task.started_at is None:
            task.started_at = self.at
        item.last_modified = self.at

    def grant_role(self, user_id: str, role: str) -> None:
        """Bring a user into the team with a role (an assignment outside the pool does this)."""
        member = next((m for m in self.state.team if m.userId == user_id), None)
        if member is None:
            self.state.team.append(TeamMember(userId=user_id, caseRoles=[role]))
        elif role in member.caseRoles:
            return
        else:
            member.caseRoles.append(role)
        self.log(ev.TeamMemberAdded(user_id=user_id, roles=[role]), None, f"{user_id} joins the team as {role}")

    def _run_process(self, item: PlanItemState, model: ProcessTask) -> None:
        call: HttpCall | None = model.http
        if model.trigger:
            trigger = self.state.definition.triggers[model.trigger]
            if trigger.set is not None:
                errors = self.apply_set(item, trigger.set)
                if errors:
                    self.fault(item, "trigger could not be evaluated: " + "; ".join(errors))
                else:
                    self.complete(item, model)
                return
            call = trigger.http
        assert call is not None  # validated on deploy
        item.effect_attempt += 1
        item.effect = {"kind": "http", **http_call(call, self.vars())}

    def apply_set(self, item: PlanItemState | None, assignments: dict[str, str]) -> list[str]:
        """Evaluate a `set` trigger; all or nothing: on any error nothing is set."""
        values, errors = expressions.mapping(assignments, self.vars(), self.state.expression_rules)
        if errors:
            return errors
        self.state.data.update(values)
        self.log(ev.VariablesSet(fields=sorted(values)), item.id if item else None, ", ".join(f"{k}={v!r}" for k, v in values.items()))
        return []

    # ---------------------------------------------------------------- results of effects

    def effect_done(self, item: PlanItemState, result: dict[str, Any]) -> None:
        """A process task's or sub-case's outcome. One that arrives while the item is
        suspended is kept and applied on resume, so the effect never runs twice."""
        if item.state == ItemState.Suspended:
            item.pending_result = result
            item.effect = None
            item.last_modified = self.at
            return
        if result["kind"] == "process":
            if result["ok"]:
                self.state.data.update(result["output"])
                self.complete(item, self.model(item))
            else:
                self.fault(item, result["error"] or "failed")
            return
        if result["state"] != ItemState.Completed.value:
            self.fault(item, f"sub-case ended {result['state']}")
            return
        values, errors = expressions.mapping(self.model(item).output, result["data"], self.state.expression_rules)
        self.state.data.update({k: v for k, v in values.items() if v is not None})
        if errors:
            self.log(ev.ExpressionsFailed(what="output", errors=errors), item.id, "; ".join(errors))
        self.complete(item, self.model(item))

    # ---------------------------------------------------------------- ending

    def complete(self, item: PlanItemState, model: Any) -> None:
        self.move(item, "complete", ItemState.Completed)
        item.effect = None
        if item.task:
            item.task.task_state = TaskState.Completed
        if item.id == ROOT_ID or isinstance(model, Stage):
            self._end_children(item)

    def occur(self, item: PlanItemState) -> None:
        self.move(item, "occur", ItemState.Completed)

    def terminate(self, item: PlanItemState, transition: str) -> None:
        self.move(item, transition, ItemState.Terminated)
        item.effect = None
        if item.task:
            item.task.task_state = TaskState.Terminated
        self._end_children(item)

    def _end_children(self, stage: PlanItemState) -> None:
        for child in self.children(stage):
            if child.state in LIVE:
                self.terminate(child, "exit")

    def fault(self, item: PlanItemState, error: str) -> None:
        item.error = error
        item.effect = None
        self.move(item, "fault", ItemState.Failed, f"{item.name}: failed: {error}")

    # ---------------------------------------------------------------- suspension

    def suspend(self, item: PlanItemState, transition: str) -> None:
        item.suspended_from = item.state
        item.parent_suspended = transition == "parentSuspend"
        self.move(item, transition, ItemState.Suspended)
        if item.task:
            item.task.suspended_from = item.task.task_state
            item.task.task_state = TaskState.Suspended
        for child in self.children(item):
            if child.state in (ItemState.Available, ItemState.Enabled, ItemState.Active):
                self.suspend(child, "parentSuspend")

    def resume(self, item: PlanItemState, transition: str) -> None:
        self.move(item, transition, item.suspended_from or ItemState.Active)
        item.suspended_from = None
        item.parent_suspended = False
        if item.task and item.task.suspended_from:
            item.task.task_state = item.task.suspended_from
            item.task.suspended_from = None
        if item.pending_result is not None and item.state == ItemState.Active:
            result, item.pending_result = item.pending_result, None
            self.effect_done(item, result)
            return
        for child in self.children(item):
            # only what the parent suspended; an item a user suspended stays suspended
            if child.state == ItemState.Suspended and child.parent_suspended:
                self.resume(child, "parentResume")

    # ---------------------------------------------------------------- stages

    def can_complete(self, stage: PlanItemState, auto: bool) -> bool:
        """autoComplete: nothing active and every required child done. Otherwise, or when
        a user asks: the same, and with autoComplete off nothing may be left to start."""
        kids = self.children(stage)
        for kid in kids:
            if kid.state in (ItemState.Active, ItemState.Suspended, ItemState.Failed):
                return False
            if kid.required and kid.state not in (ItemState.Completed, ItemState.Disabled, ItemState.Terminated):
                return False
        if auto:
            model = self.model(stage)
            auto_complete = self.state.definition.plan.autoComplete if model is None else model.autoComplete
            if not auto_complete:
                return all(k.state in TERMINAL or k.state == ItemState.Disabled for k in kids) and bool(kids)
        return True

    # ---------------------------------------------------------------- settle

    def settle(self) -> None:
        for _ in range(MAX_PASSES):
            if self.state.closed or not self._step():
                return
        raise RuntimeError("the case did not settle: a loop in its plan")

    def _step(self) -> bool:
        data = self.vars()
        changed = False
        items = list(self.state.items.values())
        active_stages = [i for i in items if i.state == ItemState.Active and (i.id == ROOT_ID or i.type == "stage")]
        # 1. items of newly active stages, and conditional items whose `if` now holds
        for stage in active_stages:
            have = {i.definition_id for i in self.children(stage)}
            for model in self.defs.children(stage.definition_id):
                if model.id not in have and expressions.condition(model.if_, data, self.state.expression_rules):
                    self.create(model, stage.id)
                    changed = True
        if changed:
            return True
        # 2. exit criteria
        for item in items:
            model = self.model(item)
            if model is None or item.state not in LIVE or not model.exit:
                continue
            if any(self.satisfied(s, item, data) for s in model.exit):
                self.terminate(item, "exit")
                return True
        # 3. entry criteria of available items whose stage is active
        for item in items:
            model = self.model(item)
            if model is None or item.state != ItemState.Available:
                continue
            parent = self.state.items.get(item.parent_id or "")
            if parent is None or parent.state != ItemState.Active:
                continue
            if isinstance(model, UserEvent):
                continue
            if isinstance(model, Timer):
                if item.fires_at is None and self.entry_ok(item, model, data):
                    item.fires_at = self.at + duration(model.after)
                    item.last_modified = self.at
                    self.log(ev.TimerScheduled(fires_at=item.fires_at), item.id, f"{item.name} occurs at {item.fires_at.isoformat()}")
                    changed = True
                continue
            if not self.entry_ok(item, model, data):
                continue
            if isinstance(model, Milestone):
                self.occur(item)
            elif model.manualActivation:
                self.move(item, "enable", ItemState.Enabled)
            else:
                self.start(item, model)
            return True
        if changed:
            return True
        # 4. stages that are done, innermost first (a completing child may finish its parent)
        for stage in sorted(active_stages, key=lambda s: s.id == ROOT_ID):
            if self.can_complete(stage, auto=True):
                self.complete(stage, self.model(stage))
                if stage.id == ROOT_ID:
                    self.log(ev.CaseClosed(how="completed"), None, self.state.title)
                return True
        return False


def http_call(call: HttpCall, data: dict[str, Any]) -> dict[str, Any]:
    """What the shell must send for an http action (process task or trigger): method, url,
    json, headers with placeholders filled from case data, and the output paths to read."""
    return {
        "method": call.method,
        "url": render_template(call.url, data),
        "json": _render(call.json_, data),
        "headers": {k: render_template(v, data) for k, v in call.headers.items()},
        "output": dict(call.output),
    }


def _render(value: Any, data: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return render_template(value, data)
    if isinstance(value, dict):
        return {k: _render(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, data) for v in value]
    return value
