"""CaseWorkflow: the Temporal shell around the pure engine (DESIGN.md section 4).

It maps messages to engine commands, runs what the engine asks for (timers, HTTP process
tasks, sub-cases), publishes the case to the Temporal UI, and carries one state object
across continue-as-new. Every handler decides through the engine first and changes state
only after the decision succeeded, so a refused or buggy command never wedges the case.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.messages import (
        BalancedPick, BalancedPickRequest, HttpRequest, HttpResult, SubCaseRequest, SubCaseSetup, ValidationRequest, ValidationResult,
    )
    from workflows import search_attributes as sa
    from workflows.actor import SYSTEM, Actor
    from workflows.definition import Definition, HumanTask, shared_compiled
    from workflows.engine import access, expressions, projection, views
    from workflows.engine.commands import (
        AutoAssign, CaseCancelled, ChildDone, Claim, Command, Complete, Delegate, PauseEnded, Plan, ProcessDone, Revoke, TaskDue,
        TimerFired, TriggerDone,
    )
    from workflows.engine.lifecycle import DefIndex
    from workflows.engine.decide import Decision, check_start, decide, start
    from workflows.engine.errors import INTERNAL, DomainError, TooLarge
    from workflows.engine.events import CommandRejected, audit_action, transition_of
    from workflows.engine.state import AuditEntry, CaseState, ItemState, ParentRef, TeamMember
    from workflows.engine.budget import state_bytes, too_large_outcome

# The behaviours that `workflow.patched` guards, each with the revision from which every new
# run has it. A run started by code of REVISION carries it in its input and takes those
# behaviours without asking `workflow.patched`, whose first ask in a run records a marker and
# upserts the TemporalChangeVersion search attribute: seven of them in a new case's first
# workflow task, a visibility write each that the server paid at every case start. Runs
# recorded before (revision 0) keep asking, so their histories replay as they were recorded.
# A new guarded change adds its name here with REVISION + 1, and REVISION goes up.
PATCHES = {
    "read-model-projection": 1,
    "balanced-assignment": 1,
    "cancel-orphaned-sub-cases": 1,
    "projection-after-record": 1,
    "steady-clock": 1,
    "access-by-team": 1,
    "search-attributes-with-backstop": 1,
    "expression-budget": 2,
}
REVISION = 2

# The command fields that name a user (Actor), whose usernames ops see instead of ids; and
# how many usernames a case keeps (a display aid: past it, the oldest show as their ids).
NAMED_USERS = ("actor", "assignee", "target")
NAMES_KEPT = 200

# Answers kept for repeated update ids, carried across continue-as-new (Temporal itself
# deduplicates update ids only within one run).
IDEMPOTENCY_WINDOW = 256
# The audit trail kept in the workflow; older entries are counted, not kept. Runs that write
# the read model from recorded state keep a short tail (the read model has every entry), and
# hold on to entries not yet confirmed written up to a hard limit; older runs keep more.
AUDIT_LIMIT = 5000
AUDIT_TAIL = 100
AUDIT_HARD_LIMIT = 1000
# Audit entries per change (an update's answer, one projection activity), so neither grows
# with a backlog (a run continued from an older one carries up to AUDIT_LIMIT unwritten).
AUDIT_PER_CHANGE = 200
# How long the case leaves a change it handed to a gateway (in an update's answer) for that
# gateway to write, before writing it itself in case the gateway died first. Changes no
# gateway saw (timers, signals, process tasks, sub-cases) are written at once.
# Long enough that a case acted on every few seconds pays for one projection activity per
# grace period, not per action (measured: at 2 s the activity, its timer and its two
# workflow tasks were most of the server's work per action under load).
GATEWAY_GRACE = timedelta(seconds=10)
# A case's budget unless its start says otherwise (settings.max_case_bytes). Temporal refuses
# a payload over 2 MB; the state, its audit tail, its idempotency window and the answers and
# changes built from it must all stay under that, however long the case lives.
DEFAULT_MAX_CASE_BYTES = 512_000
# Commands that only move a task between people or states: they replace a few fields and
# carry no data, so they are not measured (measuring costs a serialization of the state).
FIXED_SIZE_COMMANDS = frozenset({"claim", "revoke", "assign", "delegate", "auto_assign", "task_due"})
# The idempotency window in bytes: older answers go first past it (and past IDEMPOTENCY_WINDOW).
IDEMPOTENCY_WINDOW_BYTES = 128_000
# Projections and BALANCED picks retry until the database is back: nothing is lost.
PROJECTION_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=10))
HTTP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30), maximum_attempts=5)


class CaseInput(BaseModel):
    case_id: str
    case_number: int = 0
    definition: Definition | None = None
    actor: Actor | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    team: list[TeamMember] = Field(default_factory=list)
    parent: ParentRef | None = None
    # ProcessMaker's new case: the starting task, and who is assigned to it
    start_task: str | None = None
    start_user: Actor | None = None
    # ProcessMaker's new case: keep inputs the definition does not declare (engine check_start)
    undeclared_inputs: bool = False
    # The code revision the run was started by (REVISION; 0: before revisions existed). A run
    # of a revision takes every behaviour of PATCHES up to it without `workflow.patched`.
    revision: int = 0
    # carried across continue-as-new
    state: CaseState | None = None
    # usernames of the users the case's commands named, by directory id (what ops see)
    names: dict[str, str] = Field(default_factory=dict)
    audit: list[AuditEntry] = Field(default_factory=list)
    audit_dropped: int = 0
    recent: list[tuple[str, "ActionResult"]] = Field(default_factory=list)
    # the version the read model is known to hold (its projection activity returned), and
    # the number of audit entries it is known to hold
    projected: int = 0
    audit_projected: int = 0
    # what the case's state may weigh, serialized without its definition (the gateway passes
    # CASEWORK_MAX_CASE_BYTES at start; carried across continue-as-new)
    max_bytes: int = DEFAULT_MAX_CASE_BYTES
    # knobs: continue as new after this many history events (tests force it low);
    # search attributes off where the server has none (the time-skipping test server)
    continue_as_new_after: int | None = None
    search_attributes: bool = True

    @classmethod
    def new(cls, **fields: Any) -> "CaseInput":
        """The input of a run started now (a new case, a sub-case, a run continued as new):
        of this code's revision."""
        return cls(revision=REVISION, **fields)


class ActionRequest(BaseModel):
    command: Command


class ActionResult(BaseModel):
    caseId: str
    caseVersion: int
    caseState: str
    planItemId: str | None = None
    item: views.PlanItemView | None = None
    task: views.TaskView | None = None
    valid: bool | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    # what a case-file or team change answers: as it was right after the change, so a
    # retried key gets its first answer
    file: dict[str, Any] | None = None
    team: list[TeamMember] | None = None
    # a completion's answer: what it made available to the caller (views.next_work)
    next: views.NextWork | None = None
    # the rows this answer's state changed, for the gateway to write into the read model
    # (only in the first answer: the idempotency window keeps answers without it)
    change: projection.CaseChange | None = None


class AuditTail(BaseModel):
    first_seq: int
    entries: list[AuditEntry]


class Refusal(BaseModel):
    """Why the case refuses a command, as its update would have said (a DomainError)."""

    kind: str
    message: str
    reason: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)


class CaseOutcome(BaseModel):
    case_id: str
    state: str
    data: dict[str, Any]


CaseInput.model_rebuild()


_UNPUBLISHED = object()


def _release(inp: CaseInput) -> None:
    """Let go of what a run's input carried once it has been taken in. The SDK keeps the input
    for the run's whole life, so its definition (the first run's) and its carried state would
    otherwise stay in the worker's memory beside the live ones, for every cached case. Only
    its settings are read afterwards (`self._input`)."""
    inp.definition = None
    inp.state = None
    inp.inputs = {}
    inp.team = []
    inp.audit = []
    inp.recent = []
    inp.names = {}


def _answer_bytes(result: "ActionResult") -> int:
    """What an answer weighs in the idempotency window, measured without the fields added
    since (`next`, a task's `definitionId`), so that a run replayed on this code keeps and
    drops the same answers as when it was recorded (a key answered from the window then
    must be answered from it again)."""
    return len(result.model_dump_json(exclude={"next": True, "task": {"definitionId"}}))


def _to_application_error(exc: Exception) -> ApplicationError:
    if isinstance(exc, DomainError):
        return ApplicationError(exc.message, {"errors": exc.details, "reason": exc.reason}, type=exc.kind, non_retryable=True)
    workflow.logger.exception("engine failure")
    return ApplicationError(f"internal error: {type(exc).__name__}", type=INTERNAL, non_retryable=True)


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow:
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self._input = inp
        self._start_error: ApplicationError | None = None
        self._audit: list[AuditEntry] = list(inp.audit)
        self._audit_dropped = inp.audit_dropped
        self._recent: OrderedDict[str, ActionResult] = OrderedDict(inp.recent)
        self._recent_bytes: dict[str, int] = {k: _answer_bytes(v) for k, v in inp.recent}
        self._running: set[tuple[str, int]] = set()
        # sub-cases being asked to stop; a request dies with its sender, so the case waits
        self._cancelling: set[str] = set()
        self._wake = False
        # The search attributes as the server holds them: a run of a revision learns those its
        # start set (the gateway's start request, or the run it continued from) instead of
        # upserting them all again in its first workflow task.
        self._published: dict[str, Any] = (
            sa.values_of(workflow.info().typed_search_attributes) if inp.revision >= PATCHES["search-attributes-with-backstop"] else {}
        )
        # search attributes changed but not yet upserted (see `_publish`)
        self._publish_later = False
        self._names: dict[str, str] = dict(inp.names)
        for someone in (inp.actor, inp.start_user):
            self._learn_name(someone)
        # The validator's decision, reused by its handler when the state it was made on is
        # still current (the usual case: the handler runs right after its validator).
        self._validated: tuple[str, CaseState, Decision] | None = None
        # the case version the read model holds (0: nothing written by this run yet)
        self._projected = inp.projected
        # the newest version whose change was handed out (to a gateway or the activity)
        self._handed_out = inp.projected
        self._tracker = projection.ChangeTracker()
        self._audit_projected = inp.audit_projected
        self._audit_handed = inp.audit_projected
        self._picking: set[str] = set()
        self._sized: tuple[CaseState, int] | None = None
        self._projecting = False
        # the timer of the next deadline (steady-clock), and the deadline it is for
        self._clock: asyncio.Task[None] | None = None
        self._clock_at: datetime | None = None
        if inp.state is not None:
            self._state = inp.state
            # the cases of a definition version share one copy of it (worker memory)
            self._state.definition = shared_compiled(inp.state.definition)
            _release(inp)
            return
        assert inp.definition is not None and inp.actor is not None
        try:
            decision = start(
                inp.definition, case_id=inp.case_id, case_number=inp.case_number, actor=inp.actor,
                inputs=inp.inputs, team=inp.team, at=workflow.now(), parent=inp.parent,
                start_task=inp.start_task, start_user=inp.start_user, undeclared_inputs=inp.undeclared_inputs,
                expression_rules=self._expression_rules(),
            )
        except Exception as exc:  # a bad start fails this case cleanly instead of wedging it
            self._start_error = _to_application_error(exc)
            return
        self._state = decision.state
        self._record(decision.events)
        _release(inp)

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseOutcome:
        if self._start_error is not None:
            raise self._start_error
        # A run recorded before the access rules by team keeps the rules it was decided by
        # (replay); a new case, or a run continued as new, goes by the current ones.
        self._state.access_rules = access.RULES if self._patched("access-by-team") else 1
        self._state.expression_rules = self._expression_rules()
        if self._after_record:
            asyncio.create_task(self._project_recorded(), name="projection")
        self._publish()
        while True:
            self._launch_effects()
            await self._catch_up()
            if self._state.closed:
                break
            if self._should_continue_as_new():
                await workflow.wait_condition(lambda: self._quiet() and workflow.all_handlers_finished())
                await self._catch_up()
                workflow.continue_as_new(self._carry())
            self._wake = False
            deadline = self._next_deadline()
            try:
                if self._patched("steady-clock"):
                    await self._until_woken_or(deadline)
                else:
                    # Runs from before: a fresh timer for every wait, so every change of
                    # the case cancelled and restarted it.
                    timeout = max(deadline - workflow.now(), timedelta(0)) if deadline else None
                    await workflow.wait_condition(lambda: self._wake, timeout=timeout)
            except asyncio.TimeoutError:
                pass
            except asyncio.CancelledError:
                # A cancellation request (the parent task ended, or ops cancelled the case)
                # ends the case plan cleanly instead of leaving the case half-done.
                self._feed(CaseCancelled(actor=SYSTEM, reason="cancellation requested"))
                continue
            self._fire_due()
        await workflow.wait_condition(lambda: not self._cancelling and workflow.all_handlers_finished())
        await self._catch_up()
        if self._after_record:
            await workflow.wait_condition(lambda: not self._unwritten())
        if self._state.parent is not None:
            await self._notify_parent()
        return CaseOutcome(case_id=self._state.case_id, state=self._state.plan.state.value, data=self._state.data)

    def _expression_rules(self) -> int:
        """Runs recorded before expression budgets evaluate as they did (replay)."""
        return expressions.RULES if self._patched("expression-budget") else 0

    def _patched(self, name: str) -> bool:
        """Whether this run has the behaviour `name` of PATCHES (see there)."""
        return self._input.revision >= PATCHES[name] or workflow.patched(name)

    @property
    def _after_record(self) -> bool:
        """Whether this run writes the read model only after Temporal recorded a change. Runs
        recorded before wrote their projection inside the workflow task (a lost task could
        leave a state no case had); they keep doing so until they continue as new. The SDK
        memoises the answer for the run; handlers may ask before `run` starts (a start's
        first update), so it is asked where it is needed, not once in `run`."""
        return self._patched("projection-after-record")

    async def _until_woken_or(self, deadline: datetime | None) -> None:
        """Wait for a change or the next deadline. The deadline's timer is kept while the
        deadline stays the same, so an action on a case with a due task costs no timer
        commands (it used to cancel and start one each time)."""
        if self._clock_at != deadline:
            if self._clock is not None:
                self._clock.cancel()
            self._clock, self._clock_at = None, deadline
            if deadline is not None:
                self._clock = asyncio.create_task(workflow.sleep(max(deadline - workflow.now(), timedelta(0))))
        clock = self._clock
        await workflow.wait_condition(lambda: self._wake or (clock is not None and clock.done()))
        if clock is not None and clock.done():
            self._clock, self._clock_at = None, None

    def _quiet(self) -> bool:
        """Nothing in flight that a new run would lose: effects, picks, cancel requests, and a
        projection being written (the new run would write it again, but from scratch)."""
        return not self._running and not self._cancelling and not self._picking and not self._projecting

    # ------------------------------------------------------------------ the read model

    async def _catch_up(self) -> None:
        """Assign BALANCED tasks, then write the projection: an update answers only after
        this, so a client that acts and then lists sees its action."""
        await self._pick_balanced()
        await self._project()

    async def _project(self) -> None:
        if self._after_record:
            return
        # Histories recorded before the read model existed replay without projections.
        if not self._patched("read-model-projection"):
            return
        while self._projected < self._state.version:
            doc = projection.project(self._state)
            await workflow.execute_local_activity(
                "project_case", doc, result_type=bool,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=PROJECTION_RETRY,
            )
            # Older projections are ignored by the store, so concurrent handlers may race here.
            self._projected = max(self._projected, doc.version)

    def _hand_out(self) -> projection.CaseChange:
        """The change since the last one handed out: what an update's answer carries."""
        change = self._tracker.change_since(self._handed_out, self._state)
        change.audit = self._audit_since(self._audit_handed)
        self._handed_out = max(self._handed_out, self._state.version)
        self._audit_handed = self._audit_after(change.audit, self._audit_handed)
        return change

    @property
    def _audit_total(self) -> int:
        return self._audit_dropped + len(self._audit)

    def _audit_since(self, seq: int) -> list[projection.AuditDoc]:
        start = max(seq - self._audit_dropped, 0)
        return projection.audit_docs(self._audit[start:start + AUDIT_PER_CHANGE], self._audit_dropped + start)

    @staticmethod
    def _audit_after(docs: list[projection.AuditDoc], seq: int) -> int:
        """The number of entries covered once `docs` are written."""
        return max(seq, docs[-1].seq + 1) if docs else seq

    def _unwritten(self) -> bool:
        return self._state.version > self._projected or self._audit_total > self._audit_projected

    def _all_handed_out(self) -> bool:
        return self._state.version <= self._handed_out and self._audit_total <= self._audit_handed

    async def _project_recorded(self) -> None:
        """Write the read model from recorded state only: an activity runs only once the
        workflow task that scheduled it (and every change before it) is in the history.

        Its change is taken since what the store is known to hold, so it never meets a gap.
        A change already handed to a gateway gets GATEWAY_GRACE first (the gateway usually
        wrote it; the write then finds it stale and changes nothing); one no gateway saw,
        and the last state of a closing case, go at once.
        """
        while True:
            await workflow.wait_condition(self._unwritten)
            if self._all_handed_out() and not self._state.closed:
                try:
                    await workflow.wait_condition(
                        lambda: not self._all_handed_out() or self._state.closed, timeout=GATEWAY_GRACE
                    )
                except asyncio.TimeoutError:
                    pass
            if self._publish_later:
                self._publish(flush=True)
            version = self._state.version
            change = self._tracker.change_since(self._projected, self._state)
            change.audit = self._audit_since(self._audit_projected)
            entries = self._audit_after(change.audit, self._audit_projected)
            self._handed_out = max(self._handed_out, version)
            self._audit_handed = max(self._audit_handed, entries)
            self._projecting = True
            try:
                outcome = await workflow.execute_activity(
                    "project_change", change, result_type=str,
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=PROJECTION_RETRY,
                )
            finally:
                self._projecting = False
            # not kept while the loop waits for the next change: every cached case would hold
            # its last change (rows and audit entries) for as long as it stays in memory
            del change
            # a gap: the store lost what it held (restored from a backup); write it whole
            self._projected = 0 if outcome == "gap" else max(self._projected, version)
            self._audit_projected = max(self._audit_projected, entries)
            self._trim_audit()

    async def _pick_balanced(self) -> None:
        """BALANCED tasks take the next user of their pool from a counter kept across cases."""
        defs: DefIndex | None = None
        for item in list(self._state.items.values()):
            # a paused case's task keeps waiting: it is picked when the case resumes
            if item.task is None or not item.task.awaiting_pick or item.state != ItemState.Active or item.id in self._picking:
                continue
            # Cases that ran before BALANCED was built left such tasks to their pool.
            if not self._patched("balanced-assignment"):
                return
            defs = defs or DefIndex.of(self._state.definition)
            model = defs.items.get(item.definition_id)
            if not isinstance(model, HumanTask):
                continue
            users, groups = access.pool_users(self._state, model)
            self._picking.add(item.id)
            try:
                pick: BalancedPick = await workflow.execute_local_activity(
                    "balanced_pick",
                    BalancedPickRequest(definition_id=self._state.definition.id, task_def_id=model.id, users=users, groups=groups),
                    result_type=BalancedPick,
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=PROJECTION_RETRY,
                )
            finally:
                self._picking.discard(item.id)
            self._feed(AutoAssign(actor=SYSTEM, item_id=item.id, user_id=pick.user_id))

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        limit = self._input.continue_as_new_after
        return info.is_continue_as_new_suggested() or (limit is not None and info.get_current_history_length() > limit)

    def _carry(self) -> CaseInput:
        return CaseInput.new(
            case_id=self._state.case_id, case_number=self._state.case_number, state=self._state, audit=self._audit,
            audit_dropped=self._audit_dropped, recent=list(self._recent.items()),
            projected=self._projected if self._after_record else 0,
            audit_projected=self._audit_projected if self._after_record else 0, max_bytes=self._input.max_bytes,
            continue_as_new_after=self._input.continue_as_new_after, search_attributes=self._input.search_attributes,
            names=self._names,
        )

    # ------------------------------------------------------------------ deciding

    def _decide(self, cmd: Any) -> Decision:
        try:
            return self._within_budget(decide(self._state, cmd, workflow.now()), cmd.kind)
        except Exception as exc:
            raise _to_application_error(exc) from None

    def _within_budget(self, decision: Decision, cmd_kind: str) -> Decision:
        """Refuse a change that would take the case past its byte budget, before anything
        changes. A case already over it (the budget was lowered) may still shrink or stay."""
        if decision.state is self._state or cmd_kind in FIXED_SIZE_COMMANDS:
            return decision
        size = state_bytes(decision.state)
        if size > self._input.max_bytes and size > self._size():
            raise TooLarge(
                f"this change would take the case to {size} bytes; a case may hold at most {self._input.max_bytes} bytes "
                "(CASEWORK_MAX_CASE_BYTES)",
                [{"field": "body", "message": f"the case would hold {size} bytes, over its budget of {self._input.max_bytes}"}],
            )
        self._sized = (decision.state, size)
        return decision

    def _size(self) -> int:
        if self._sized is None or self._sized[0] is not self._state:
            self._sized = (self._state, state_bytes(self._state))
        return self._sized[1]

    def _adopt(self, decision: Decision, cmd: Any) -> None:
        for field in NAMED_USERS:
            self._learn_name(getattr(cmd, field, None))
        self._state = decision.state
        self._record(decision.events)
        self._wake = True
        self._publish()
        self._cancel_orphaned_sub_cases(decision.events)

    def _learn_name(self, someone: Any) -> None:
        """Remember a user's username for what ops see (the state keeps directory ids)."""
        if isinstance(someone, Actor) and someone.username and self._names.get(someone.user_id) != someone.username:
            self._names.pop(someone.user_id, None)
            self._names[someone.user_id] = someone.username
            while len(self._names) > NAMES_KEPT:  # the least recently named go first
                del self._names[next(iter(self._names))]

    def _cancel_orphaned_sub_cases(self, events: list[AuditEntry]) -> None:
        """A case task that ends before its sub-case does takes the sub-case with it."""
        for event in events:
            item = self._state.items.get(event.planItemId or "")
            if transition_of(event) in ("exit", "terminate") and item is not None and item.type == "caseTask" and item.effect_attempt:
                # Added after the first histories were recorded: cases that ran before it
                # replay without the cancel request they never made.
                if not self._patched("cancel-orphaned-sub-cases"):
                    continue
                child = workflow.get_external_workflow_handle(f"{self._state.case_id}-{item.id}")
                self._cancelling.add(child.id)
                asyncio.create_task(self._cancel(child))

    async def _cancel(self, handle: Any) -> None:
        try:
            await handle.cancel()
        except Exception:  # already closed, or never started: nothing to stop
            workflow.logger.info("sub-case %s was not running", handle.id)
        finally:
            self._cancelling.discard(handle.id)

    def _record(self, events: list[AuditEntry]) -> None:
        self._audit.extend(events)
        self._trim_audit()

    def _trim_audit(self) -> None:
        if len(self._audit) <= AUDIT_TAIL:
            return  # also keeps `patched` out of the first decision in __init__
        if self._after_record:
            # keep what the read model may not have yet, up to the hard limit
            unconfirmed = self._audit_total - self._audit_projected
            keep = min(max(AUDIT_TAIL, unconfirmed), AUDIT_HARD_LIMIT)
        else:
            keep = AUDIT_LIMIT
        overflow = len(self._audit) - keep
        if overflow > 0:
            del self._audit[:overflow]
            self._audit_dropped += overflow

    def _feed(self, cmd: Any) -> None:
        """Commands from the shell itself and from signals: a refusal is recorded, never raised.
        An effect's outcome too large for the case fails the effect instead, so its item does
        not wait for ever."""
        try:
            self._adopt(self._within_budget(decide(self._state, cmd, workflow.now()), cmd.kind), cmd)
        except Exception as exc:
            failed = too_large_outcome(cmd, exc.message) if isinstance(exc, TooLarge) else None
            if failed is not None:
                self._feed(failed)
                return
            err = _to_application_error(exc)
            event = CommandRejected(command=cmd.kind, error=f"{err.type}: {err.message}")
            self._record([AuditEntry(at=workflow.now(), user=cmd.actor.user_id, action=audit_action(event),
                                     planItemId=getattr(cmd, "item_id", None), detail=event.error, event=event)])

    # ------------------------------------------------------------------ updates

    @workflow.update
    async def act(self, req: ActionRequest) -> ActionResult:
        key = self._update_id()
        if key in self._recent:
            return self._recent[key]
        cmd = req.command
        validated, self._validated = self._validated, None
        if validated is not None and validated[0] == key and validated[1] is self._state:
            decision = validated[2]
        else:
            decision = self._decide(cmd)
        valid: bool | None = None
        errors: list[dict[str, Any]] = []
        if cmd.kind == "validate":
            errors = list(decision.problems)
            errors += await self._external_validation(cmd, decision) if not errors else []
            valid = not errors
        else:
            before = self._state
            self._adopt(decision, cmd)
            if decision.trigger_call is not None:
                await self._run_trigger(cmd.name, decision.trigger_call)
            await self._catch_up()
        result = self._result(cmd, decision, valid, errors)
        if cmd.kind == "complete":
            # `before` is the state the command was decided on (`decide` returns a new one)
            result.next = views.next_work(before, self._state, cmd.actor)
        self._remember(key, result)
        if self._after_record and cmd.kind != "validate":
            return result.model_copy(update={"change": self._hand_out()})
        return result

    def _remember(self, key: str, result: ActionResult) -> None:
        """Keep the answer for a retry of its key, within the window's count and bytes. An
        answer too large for the window (a big case file) is kept without what made it large:
        a retry of it gets the action's outcome and the case as it is by then."""
        size = _answer_bytes(result)
        if size > IDEMPOTENCY_WINDOW_BYTES // 16:
            result = result.model_copy(update={"file": None, "task": None, "item": None, "next": None})
            size = _answer_bytes(result)
        self._recent[key] = result
        self._recent_bytes[key] = size
        while len(self._recent) > IDEMPOTENCY_WINDOW or sum(self._recent_bytes.values()) > IDEMPOTENCY_WINDOW_BYTES:
            old, _ = self._recent.popitem(last=False)
            self._recent_bytes.pop(old, None)

    @act.validator
    def _validate_act(self, req: ActionRequest) -> None:
        key = self._update_id()
        if key in self._recent:
            return
        self._validated = (key, self._state, self._decide(req.command))

    @workflow.update
    async def sync(self) -> int:
        """Wait until the read model holds the current state; the gateway calls it after a
        start, so a new case is in the lists before its creator hears of it."""
        await self._catch_up()
        return self._state.version

    @workflow.update
    async def opened(self) -> ActionResult:
        """A new case's first answer (sent with its start): its number, title and version,
        and its whole first state for the gateway to write, so it is listed at once."""
        if self._start_error is not None:
            raise self._start_error
        await self._catch_up()
        change = self._hand_out() if self._after_record else None
        # what the starter can work on at once (the starting actor is the input's)
        work = views.next_work(None, self._state, self._input.actor) if self._input.actor else None
        return ActionResult(caseId=self._state.case_id, caseVersion=self._state.version, caseState=self._state.plan.state.value,
                            change=change, next=work)

    async def _run_trigger(self, name: str, call: dict[str, Any]) -> None:
        """An http trigger run on request: its outcome is applied, and a failure is the
        request's answer (the case records it and goes on)."""
        try:
            result: HttpResult = await workflow.execute_activity(
                "http_call",
                HttpRequest(case_id=self._state.case_id, item_id=f"trigger:{name}", method=call["method"], url=call["url"],
                            json_body=call["json"], headers=call["headers"], output=call["output"]),
                result_type=HttpResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=HTTP_RETRY,
            )
        except ActivityError as exc:
            error = str(exc.cause or exc)
            self._feed(TriggerDone(actor=SYSTEM, name=name, ok=False, error=error))
            raise ApplicationError(f"trigger '{name}' failed: {error}", type="BadRequest", non_retryable=True) from None
        self._feed(TriggerDone(actor=SYSTEM, name=name, ok=True, output=result.output))

    @staticmethod
    def _update_id() -> str:
        info = workflow.current_update_info()
        return info.id if info else ""

    def _result(self, cmd: Any, decision: Decision, valid: bool | None, errors: list[dict[str, Any]]) -> ActionResult:
        item_id = decision.plan_item_id or getattr(cmd, "item_id", None)
        item = self._state.items.get(item_id) if item_id else None
        kind = cmd.kind
        return ActionResult(
            caseId=self._state.case_id, caseVersion=self._state.version, caseState=self._state.plan.state.value,
            planItemId=decision.plan_item_id, item=views.plan_item(item) if item else None,
            task=views.task(self._state, item) if item and item.task else None, valid=valid, errors=errors,
            file=self._state.data if kind == "merge_file" else None,
            team=list(self._state.team) if kind in ("team_add", "team_remove") else None,
        )

    async def _external_validation(self, cmd: Any, decision: Decision) -> list[dict[str, Any]]:
        if decision.validator is None:
            return []
        try:
            result: ValidationResult = await workflow.execute_activity(
                "validate_output",
                ValidationRequest(case_id=self._state.case_id, item_id=cmd.item_id, output=cmd.output, **decision.validator),
                result_type=ValidationResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as exc:
            raise ApplicationError(f"the validator could not be reached: {exc.cause}", type="ValidatorUnavailable", non_retryable=True) from None
        return result.errors if not result.valid else []

    # ------------------------------------------------------------------ signals

    @workflow.signal(name="claim")
    def claim(self, cmd: Claim) -> None:
        self._feed(cmd)

    @workflow.signal(name="revoke")
    def revoke(self, cmd: Revoke) -> None:
        self._feed(cmd)

    @workflow.signal(name="delegate")
    def delegate(self, cmd: Delegate) -> None:
        self._feed(cmd)

    @workflow.signal(name="complete")
    def complete(self, cmd: Complete) -> None:
        self._feed(cmd)

    @workflow.signal(name="plan")
    def plan(self, cmd: Plan) -> None:
        self._feed(cmd)

    @workflow.signal(name="child_case_done")
    def child_case_done(self, cmd: ChildDone) -> None:
        self._feed(cmd)

    # ------------------------------------------------------------------ queries

    def _visible(self, actor: Actor) -> bool:
        return access.can_see(self._state, actor)

    @workflow.query
    def case(self, actor: Actor) -> views.CaseView | None:
        return views.case(self._state) if self._visible(actor) else None

    @workflow.query
    def history(self, actor: Actor) -> list[AuditEntry] | None:
        return list(self._audit) if self._visible(actor) else None

    @workflow.query
    def refusal(self, req: ActionRequest) -> Refusal | None:
        """What the engine would answer a command, without changing anything: for a case
        whose workflow has ended, which takes no more updates but still answers queries (a
        second cancel is told why, in the engine's words and reason). None: it would accept."""
        try:
            decide(self._state, req.command, workflow.now())
        except DomainError as exc:
            return Refusal(kind=exc.kind, message=exc.message, reason=exc.reason, errors=exc.details)
        return None

    @workflow.query
    def audit_tail(self, actor: Actor) -> AuditTail | None:
        """The entries the workflow still holds, numbered from `first_seq`: the newest part of
        the audit trail, which the read model may not have yet (it has everything older)."""
        return AuditTail(first_seq=self._audit_dropped, entries=list(self._audit)) if self._visible(actor) else None

    @workflow.query
    def tasks(self, actor: Actor) -> list[views.TaskView] | None:
        """Every task of the case for those who see it; for a pool member, only the tasks
        offered to them; None (no such case) for everyone else."""
        if self._visible(actor):
            return views.tasks(self._state)
        offered = views.tasks(self._state, lambda item_id: access.offered_to(self._state, actor, item_id))
        return offered or None

    @workflow.query
    def case_tasks(self, actor: Actor) -> views.CaseTasks | None:
        """`tasks`, with the case version they were read at (the ETag of task reads)."""
        found = self.tasks(actor)
        return None if found is None else views.CaseTasks(caseVersion=self._state.version, tasks=found)

    @workflow.query
    def next_work(self, actor: Actor) -> views.NextWork | None:
        """What the caller can work on in this case now (a new case's answer, a sub-case the
        caller's completion started); None for those who may not see the case."""
        work = views.next_work(None, self._state, actor)
        return work if self._visible(actor) or work.tasks else None

    @workflow.query
    def read_model(self, audit_from: int) -> projection.CaseChange:
        """The whole case as the read model stores it, with the audit entries the workflow
        still holds from number `audit_from` on (at most AUDIT_PER_CHANGE): what the operator
        CLI's `rebuild` writes, for any case this code can replay. No actor: it is asked over
        Temporal's API only, by whoever may already read the workflow's history."""
        doc = projection.project(self._state)
        return projection.CaseChange(
            base=0, doc=doc, participations=doc.participations, present=[d.del_index for d in doc.delegations],
            audit=self._audit_since(audit_from),
        )

    @workflow.query
    def discretionary(self, actor: Actor) -> views.DiscretionaryOptions | None:
        if not self._visible(actor):
            return None
        return views.discretionary_options(self._state, actor, self._state.last_modified)

    # ------------------------------------------------------------------ effects

    def _launch_effects(self) -> None:
        for item in self._state.items.values():
            if item.state != ItemState.Active or not item.effect:
                continue
            key = (item.id, item.effect_attempt)
            if key in self._running:
                continue
            self._running.add(key)
            runner = self._run_http if item.effect["kind"] == "http" else self._run_sub_case
            # asyncio tasks are deterministic inside the workflow event loop
            asyncio.create_task(runner(item.id, item.effect_attempt, dict(item.effect)), name=f"effect {item.id}")

    async def _run_http(self, item_id: str, attempt: int, effect: dict[str, Any]) -> None:
        try:
            result: HttpResult = await workflow.execute_activity(
                "http_call",
                HttpRequest(case_id=self._state.case_id, item_id=item_id, method=effect["method"], url=effect["url"],
                            json_body=effect["json"], headers=effect["headers"], output=effect["output"]),
                result_type=HttpResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=HTTP_RETRY,
            )
            done = ProcessDone(actor=SYSTEM, item_id=item_id, attempt=attempt, ok=True, output=result.output)
        except ActivityError as exc:
            cause = exc.cause
            done = ProcessDone(actor=SYSTEM, item_id=item_id, attempt=attempt, ok=False, error=str(cause or exc))
        finally:
            self._running.discard((item_id, attempt))
        self._feed(done)

    async def _run_sub_case(self, item_id: str, attempt: int, effect: dict[str, Any]) -> None:
        """Start the sub-case and let it report back by signal: the parent does not hold the
        child's handle, so the child outlives the parent's continue-as-new."""
        try:
            setup: SubCaseSetup = await workflow.execute_activity(
                "prepare_sub_case",
                SubCaseRequest(definition_id=effect["definition"], case_id=effect["case_id"]),
                result_type=SubCaseSetup,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=10),
            )
            roles = setup.definition.roles
            problems = check_start(setup.definition, effect["inputs"], [])
            if problems:
                raise ValueError("; ".join(f"{p['field']}: {p['message']}" for p in problems))
            child_input = CaseInput.new(
                case_id=effect["case_id"], case_number=setup.case_number, definition=setup.definition,
                actor=Actor(user_id=self._state.created_by), inputs=effect["inputs"],
                # the parent's team carries over, with the roles the sub-case's definition knows
                team=[
                    TeamMember(userId=m.userId, isOwner=m.isOwner, caseRoles=[r for r in m.caseRoles if r in roles])
                    for m in self._state.team if m.userId != self._state.created_by
                ],
                parent=ParentRef(case_id=self._state.case_id, item_id=item_id),
                search_attributes=self._input.search_attributes, max_bytes=self._input.max_bytes,
            )
            await workflow.start_child_workflow(
                CaseWorkflow.run, child_input, id=effect["case_id"],
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary=setup.definition.render_title({**effect["inputs"], "caseNumber": setup.case_number, "caseId": effect["case_id"]}),
                search_attributes=sa.at_start(setup.definition.id, setup.case_number) if self._input.search_attributes else None,
            )
        except WorkflowAlreadyStartedError:
            return  # started before this run continued as new; it will report back
        except (ActivityError, ValueError) as exc:
            self._feed(ChildDone(actor=SYSTEM, item_id=item_id, state=f"not started: {getattr(exc, 'cause', None) or exc}"))
        finally:
            self._running.discard((item_id, attempt))

    async def _notify_parent(self) -> None:
        parent = self._state.parent
        assert parent is not None
        handle = workflow.get_external_workflow_handle(parent.case_id)
        try:
            await handle.signal(
                CaseWorkflow.child_case_done,
                ChildDone(actor=SYSTEM, item_id=parent.item_id, state=self._state.plan.state.value, data=self._state.data),
            )
        except FailureError:
            # The parent has closed (it may have ended this very sub-case): no one to tell.
            workflow.logger.info("parent case %s is closed; not told of this sub-case's end", parent.case_id)

    # ------------------------------------------------------------------ time

    def _deadlines(self) -> list[tuple[datetime, Any]]:
        out: list[tuple[datetime, Any]] = []
        for item in self._state.items.values():
            if item.state == ItemState.Available and item.fires_at:
                out.append((item.fires_at, TimerFired(actor=SYSTEM, item_id=item.id)))
            if item.state == ItemState.Active and item.task and item.task.due and not item.task.overdue:
                out.append((item.task.due, TaskDue(actor=SYSTEM, item_id=item.id)))
        if self._state.paused and self._state.paused_until:
            out.append((self._state.paused_until, PauseEnded(actor=SYSTEM)))
        return out

    def _next_deadline(self) -> datetime | None:
        return min((at for at, _ in self._deadlines()), default=None)

    def _fire_due(self) -> None:
        now = workflow.now()
        for at, cmd in sorted(self._deadlines(), key=lambda d: d[0]):
            if at <= now:
                self._feed(cmd)

    # ------------------------------------------------------------------ the Temporal UI

    def _publish(self, *, flush: bool = False) -> None:
        """Show the case to ops. The current details change at once. The search attributes
        change at once when the case's status, number, definition or due time did; who holds
        a task, who may claim one and which are open change with nearly every action, so
        those go with the next write of the case's own projection activity (at most
        GATEWAY_GRACE later, in the workflow task that schedules it): an upsert per action
        doubled the dev server's CPU per update (bench/README.md, "search attributes")."""
        view = views.ops(self._state, self._names)
        workflow.set_current_details(view.details)
        if not self._input.search_attributes:
            return
        values: dict[str, Any] = {
            sa.CASE_STATUS.name: view.status,
            sa.CASE_NUMBER.name: view.case_number,
            sa.CASE_DEFINITION.name: view.definition,
            sa.CASE_ASSIGNEES.name: view.assignees,
            sa.CASE_CANDIDATES.name: view.candidates,
            sa.CASE_OPEN_TASKS.name: view.open_tasks,
            sa.CASE_DUE_TIME.name: view.due,
        }
        changed = [name for name, value in values.items() if self._published.get(name, _UNPUBLISHED) != value]
        self._publish_later = False
        if not changed:
            return
        if not flush and self._published and set(changed) <= sa.BUSY and self._attributes_with_backstop:
            self._publish_later = True
            return
        keys = {k.name: k for k in sa.ALL}
        workflow.upsert_search_attributes([
            keys[name].value_set(values[name]) if values[name] not in (None, []) else keys[name].value_unset()
            for name in changed
        ])
        self._published = values

    @property
    def _attributes_with_backstop(self) -> bool:
        """Runs recorded before upserted every change at once and keep doing so on replay;
        so do runs that write their projection inside the workflow task (no backstop)."""
        return self._after_record and self._patched("search-attributes-with-backstop")
