"""The service layer the faces share: deploy definitions, start cases, send actions, read a
case, and map what Temporal and the engine answer to `ApiError`s (DESIGN.md sections 2, 4).

A face differs from another only in paths, field names and error envelopes; every decision
about what a request means is made here or in the engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api import consistency, metrics
from api.errors import ApiError, bad_request, conflict, forbidden, not_found, title, too_large, unprocessable
from api.limits import too_deep
from settings import Settings
from store import audit, case_numbers, definitions, projection
from store.db import Database
from store.directory import Directory
from store.tables import CaseRow, DelegationRow
from workflows.public import (
    ActionRequest,
    ActionResult,
    Actor,
    AuditEntry,
    AuditTail,
    CaseInput,
    CaseTasks,
    CaseView,
    CaseWorkflow,
    Definition,
    ITEM_TYPES,
    DiscretionaryOptions,
    DomainError,
    NextWork,
    TaskView,
    TeamMember,
    check_start,
    load_document,
    may_start,
    parse_definition,
    split_task_id,
    start_search_attributes,
    start_state,
    transition_of,
    validate_definition,
    Refusal,
)

log = logging.getLogger("casework.gateway")
DEPLOY_PERMISSION = "PM_FACTORY"
# Refusals of the request itself: sending it again can never succeed.
# (FAILED_PRECONDITION is not among them: Temporal answers it while a case's workflow task
# is failing and being retried, e.g. just after the server restarted; a retry then lands.)
FINAL_RPC_STATUSES = frozenset({
    RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.OUT_OF_RANGE, RPCStatusCode.ALREADY_EXISTS,
})
_STATUS = {"NotFound": 404, "Forbidden": 403, "Conflict": 409, "Invalid": 422, "BadRequest": 400, "TooLarge": 413,
           "PreconditionFailed": 412}
T = TypeVar("T")
# Sub-cases whose first tasks one answer looks for (nested ones included).
MAX_NEXT_CASES = 20
# Parsed definitions kept by the gateway (least recently added dropped first).
DEFINITION_CACHE = 256


@dataclass
class CaseRecord:
    """A case as the read model holds it: its row and its delegations by `del_index`."""

    case: CaseRow
    delegations: list[DelegationRow]

    def delegation(self, del_index: int) -> DelegationRow | None:
        return next((d for d in self.delegations if d.del_index == del_index), None)


@dataclass
class _Written:
    """A write of an answer's change, under way (or none)."""

    task: "asyncio.Task[None] | None"

    async def wait(self) -> None:
        if self.task is not None:
            await asyncio.shield(self.task)


@dataclass
class Started:
    case_id: str
    case_number: int
    name: str
    # the tasks the new case (and sub-cases it started) made available to its starter
    next: list[TaskView] = field(default_factory=list)


def definition_problems(raw: Any) -> tuple[Definition | None, list[dict[str, str]]]:
    """Shape errors from pydantic and meaning errors from the validator, each with its path."""
    if not isinstance(raw, dict):
        return None, [{"path": "", "message": "a definition is a mapping (YAML or JSON object)"}]
    try:
        definition = parse_definition(raw)
    except ValidationError as exc:
        return None, [{"path": _path(e["loc"]), "message": e["msg"]} for e in exc.errors(include_input=False)]
    return definition, []


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ITEM_TYPES:
            continue  # pydantic's name for the union member, not part of the document
        else:
            out += f".{part}" if out else str(part)
    return out


def definition_files(folder: Path) -> list[Path]:
    """The definition documents of a folder, in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


class CaseService:
    def __init__(self, settings: Settings, client: Client, db: Database, directory: Directory) -> None:
        self.settings = settings
        self.client = client
        self.db = db
        self.directory = directory
        self.recent = consistency.RecentWrites()
        self._definitions: dict[tuple[str, int, str], Definition] = {}
        self._writing: set[asyncio.Task[None]] = set()
        self._writing_case: dict[str, set[asyncio.Task[None]]] = {}

    # ------------------------------------------------------------------ definitions

    async def deploy(self, raw: Any, deployed_by: str, also_known: frozenset[str] = frozenset()) -> tuple[Definition, int, bool]:
        """`also_known`: ids deployed together with this one (a folder), which sub-cases may name."""
        definition, problems = definition_problems(raw)
        if definition is not None:
            known = {r.id for r in await definitions.list_latest(self.db)} | also_known
            problems = [{"path": p.path, "message": p.message} for p in validate_definition(definition, known)]
        if problems or definition is None:
            detail = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
            raise unprocessable(f"the definition is not valid: {detail}", problems)
        body = definition.model_dump(mode="json", by_alias=True, exclude={"version"})
        version, created = await definitions.deploy(
            self.db, definition.id, definition.name, definition.category, body, deployed_by
        )
        return definition.model_copy(update={"version": version}), version, created

    async def deploy_files(self, paths: list[Path]) -> list[str]:
        """Deploy definition files together (the gateway's folder at start, the CLI's
        `definitions deploy`): they may name each other as sub-cases. Any file that does not
        parse or validate stops it with RuntimeError naming the file; files before it stay
        deployed, and deploying one again changes nothing. Each line: `id@version`, with
        " (unchanged)" when that definition was deployed already."""
        documents: dict[Path, Any] = {}
        for path in paths:
            try:
                documents[path] = self.parse_document(path.read_text(encoding="utf-8"))
            except ApiError as exc:
                raise RuntimeError(f"{path}: {exc.detail}") from None
            except OSError as exc:
                raise RuntimeError(f"{path}: {exc.strerror or exc}") from None
        ids = frozenset(d["id"] for d in documents.values() if isinstance(d, dict) and isinstance(d.get("id"), str))
        deployed: list[str] = []
        for path, raw in documents.items():
            try:
                definition, version, created = await self.deploy(raw, "system", also_known=ids)
            except ApiError as exc:
                raise RuntimeError(f"{path}: {exc.detail}") from None
            deployed.append(f"{definition.id}@{version}" + ("" if created else " (unchanged)"))
        return deployed

    async def deploy_as(self, actor: Actor, raw: Any) -> tuple[Definition, int, bool]:
        if DEPLOY_PERMISSION not in actor.permissions:
            raise forbidden(f"deploying definitions needs the permission {DEPLOY_PERMISSION}")
        return await self.deploy(raw, actor.user_id)

    @staticmethod
    def parse_document(text: str) -> Any:
        try:
            return load_document(text)
        except Exception as exc:  # yaml.YAMLError and friends: say where, never echo the body
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise bad_request(f"the body is not valid YAML or JSON{where}") from None

    async def definition(self, ref: str) -> Definition:
        """`id` (the latest version) or `id@version`."""
        definition_id, _, version = ref.partition("@")
        if version and not version.isdigit():
            raise unprocessable(f"'{ref}' is not a definition reference: use <id> or <id>@<version>")
        record = await definitions.get(self.db, definition_id, int(version) if version else None)
        if record is None:
            raise not_found(f"no definition '{ref}'")
        return self._parsed(record)

    def _parsed(self, record: Any) -> Definition:
        """A deployed version never changes, so each is validated once (by its digest)."""
        key = (record.id, record.version, record.digest)
        found = self._definitions.get(key)
        if found is None:
            found = Definition.model_validate({**record.body, "version": record.version})
            self._definitions[key] = found
            while len(self._definitions) > DEFINITION_CACHE:
                self._definitions.pop(next(iter(self._definitions)))
        return found

    async def definitions(self) -> list[Definition]:
        return [self._parsed(r) for r in await definitions.list_latest(self.db)]

    # ------------------------------------------------------------------ directory

    def user(self, user_id: str, field: str = "assignee") -> Actor:
        found = self.directory.find(user_id)
        if found is None:
            raise unprocessable(f"no user '{user_id}'", [{"field": field, "message": "unknown user"}])
        return found.to_actor()

    # ------------------------------------------------------------------ cases

    async def start_case(
        self,
        actor: Actor,
        ref: str,
        inputs: dict[str, Any],
        team: list[TeamMember],
        case_id: str | None = None,
        idempotency_key: str | None = None,
        *,
        start_task: str | None = None,
        start_user: Actor | None = None,
        starts_as: Actor | None = None,
        undeclared_inputs: bool = False,
    ) -> Started:
        """`starts_as`: whose `startedBy` membership lets the case start (ProcessMaker's
        impersonation: the user the starting task is assigned to); the caller by default."""
        try:
            definition = await self.definition(ref)
        except ApiError as exc:
            if exc.status == 404:
                raise unprocessable(f"unknown definition '{ref}'", [{"field": "definition", "message": "not deployed"}]) from None
            raise
        if not may_start(definition, starts_as or actor):
            raise forbidden(f"you may not start cases of '{definition.id}'")
        for i, member in enumerate(team):
            self.user(member.userId, f"caseTeam.users[{i}].userId")
        problems = check_start(definition, inputs, team, undeclared_inputs)
        deep = too_deep(inputs, "inputs")
        if problems or deep:
            raise unprocessable("the case cannot start with these inputs", problems or [deep])
        size = len(json.dumps(inputs, default=str))
        if size > self.settings.max_case_bytes:
            raise too_large(f"the inputs take {size} bytes; a case may hold at most {self.settings.max_case_bytes} bytes (CASEWORK_MAX_CASE_BYTES)")
        chosen = case_id is not None
        derived = not chosen and idempotency_key is not None
        if case_id is None:
            # A retried start with the same key lands on the same case id, so it starts once.
            case_id = uuid.uuid5(uuid.NAMESPACE_URL, f"casework:{actor.user_id}:{idempotency_key}").hex if derived else uuid.uuid4().hex
        number = await case_numbers.allocate(self.db, case_id)
        title = definition.render_title({**inputs, "caseNumber": number, "caseId": case_id})
        case_input = CaseInput.new(
            case_id=case_id, case_number=number, definition=definition, actor=actor, inputs=inputs, team=team,
            start_task=start_task, start_user=start_user, max_bytes=self.settings.max_case_bytes,
            undeclared_inputs=undeclared_inputs,
        )
        start_options: dict[str, Any] = dict(
            id=case_id, task_queue=self.settings.task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=title, static_details=f"{definition.name} ({definition.id} v{definition.version})",
            # recorded with the start, so the case's first workflow task need not upsert them
            search_attributes=start_search_attributes(definition.id, number),
        )
        timeout = timedelta(seconds=self.settings.action_timeout_seconds)
        try:
            if not chosen:
                # One round trip: the start and the case's first answer (update-with-start).
                # A retried start with the same key finds its case and gets its first answer.
                operation = WithStartWorkflowOperation(
                    CaseWorkflow.run, case_input, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, **start_options
                )
                result: ActionResult = await self.client.execute_update_with_start_workflow(
                    CaseWorkflow.opened, start_workflow_operation=operation, id="opened", result_type=ActionResult,
                    rpc_timeout=timeout,
                )
            else:
                # A chosen id must not join a case already running under it, and
                # update-with-start would attach to one whatever its conflict policy.
                handle = await self.client.start_workflow(
                    CaseWorkflow.run, case_input, id_conflict_policy=WorkflowIDConflictPolicy.FAIL, **start_options
                )
                result = await handle.execute_update(CaseWorkflow.opened, id="opened", result_type=ActionResult, rpc_timeout=timeout)
        except WorkflowAlreadyStartedError:
            raise conflict(f"case '{case_id}' already exists") from None
        except WorkflowUpdateFailedError as exc:
            raise self._domain_error(exc.cause) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            # The start itself needs no worker: if the case exists, it has started, and its
            # own projection lists it once a worker runs it.
            if not await self._exists(case_id):
                raise self._timed_out() from None
            log.warning("case %s started; no worker has answered it yet", case_id)
            return Started(case_id, number, title)
        except RPCError as exc:
            raise self._rpc_error(exc, case_id) from None
        # A start writes its case before answering, so every gateway lists a new case once its
        # start has answered (a start is no hot loop; an action's write follows its answer).
        await self._answered(actor, case_id, result).wait()
        return Started(case_id, number, title, await self.next_tasks(actor, result.next))

    async def _exists(self, case_id: str) -> bool:
        try:
            await self._handle(case_id).describe(rpc_timeout=timedelta(seconds=self.settings.action_timeout_seconds))
        except RPCError:
            return False
        return True

    def _handle(self, case_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(case_id)

    async def act(
        self, case_id: str, actor: Actor, command: Any, idempotency_key: str | None, if_match: list[int] | None = None
    ) -> ActionResult:
        """`if_match`: the case versions the caller's copy may be at (If-Match); the case
        refuses the action with 412 when it is at another, in the same step that would
        apply it, so of two racing writers on one version exactly one lands."""
        key = idempotency_key or uuid.uuid4().hex
        if if_match is not None:
            command = command.model_copy(update={"if_version": if_match})
        for name in ("output", "data"):  # what commands carry into the case's data
            deep = too_deep(getattr(command, name, None), name)
            if deep:
                raise unprocessable(f"the {name} is nested too deeply", [deep])
        try:
            result: ActionResult = await self._handle(case_id).execute_update(
                CaseWorkflow.act,
                ActionRequest(command=command),
                id=key,
                result_type=ActionResult,
                rpc_timeout=timedelta(seconds=self.settings.action_timeout_seconds),
            )
        except WorkflowUpdateFailedError as exc:
            raise self._domain_error(exc.cause) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise self._timed_out() from None
        except RPCError as exc:
            # An update to a workflow that has closed (or closes while the update waits)
            # is NOT_FOUND, whatever the wording: the case exists, so its engine says why.
            if exc.status == RPCStatusCode.NOT_FOUND and await self._exists(case_id):
                raise await self._refused_when_closed(case_id, command) from None
            raise self._rpc_error(exc, case_id) from None
        self._answered(actor, case_id, result)
        return result

    # ------------------------------------------------------------------ read your writes

    def _answered(self, actor: Actor, case_id: str, result: ActionResult) -> "_Written":
        """An action was recorded: name its version in the answer's headers, and write its
        change into the read model right after answering (the case's own projection
        activity writes it too, later, in case this gateway dies first). Lists through this
        gateway wait for its writes under way, so whoever lists next sees the action; a
        change it cannot write (another gateway's earlier change is not written yet, or the
        database is down) is remembered for the caller, whose lists wait for it."""
        consistency.produced(case_id, result.caseVersion)
        if result.change is None:  # a retried key: its change went out with its first answer
            self.recent.remember(actor.user_id, case_id, result.caseVersion)
            return _Written(None)
        task = asyncio.create_task(self._write(actor.user_id, case_id, result.change))
        self._track(case_id, task)
        return _Written(task)

    async def _write(self, caller: str, case_id: str, change: Any) -> None:
        """A gap is an earlier change of the case not written yet: when this gateway is
        writing it, wait for that and try again; when another gateway is, it usually lands
        within milliseconds; otherwise the case's own projection activity writes both."""
        me = asyncio.current_task()
        outcome = "gap"
        try:
            for pause in (0.0, 0.01, 0.03):
                await asyncio.sleep(pause)
                while True:
                    outcome = await projection.write_change(self.db, change)
                    if outcome == "written":
                        metrics.projected(change.doc)
                    earlier = {t for t in self._writing_case.get(case_id, ()) if t is not me}
                    if outcome != "gap" or not earlier:
                        break
                    await asyncio.wait(earlier, timeout=self.settings.consistency_wait_seconds)
                if outcome != "gap":
                    break
        except Exception:
            log.warning("case %s: change %d left to the case's own projection", case_id, change.doc.version, exc_info=True)
        if outcome == "gap":
            self.recent.remember(caller, case_id, change.doc.version)

    def _track(self, case_id: str, task: "asyncio.Task[None]") -> None:
        self._writing.add(task)
        self._writing_case.setdefault(case_id, set()).add(task)

        def done(t: "asyncio.Task[None]") -> None:
            self._writing.discard(t)
            tasks = self._writing_case.get(case_id)
            if tasks is not None:
                tasks.discard(t)
                if not tasks:
                    del self._writing_case[case_id]

        task.add_done_callback(done)

    async def _settled(self, timeout: float | None = None) -> None:
        """Let this gateway's writes of answered actions under way finish (a few ms each),
        at most `timeout` (the consistency wait)."""
        if self._writing:
            await asyncio.wait(set(self._writing), timeout=timeout or self.settings.consistency_wait_seconds)

    async def settle(self) -> None:
        """The gateway is stopping: let its writes under way finish."""
        await self._settled(10.0)

    async def fresh(self, actor: Actor, header: str | None) -> bool:
        """Wait, bounded, until the read model holds what the caller's token names and what
        the caller's recent actions through this gateway produced. True when it does."""
        timeout = self.settings.consistency_wait_seconds
        await self._settled()
        wanted = consistency.decode(header)
        for case_id, version in self.recent.wanted(actor.user_id).items():
            wanted[case_id] = max(wanted.get(case_id, 0), version)
        if not wanted:
            return True
        reached, seen = await consistency.wait_until(wanted, lambda ids: projection.stored_versions(self.db, ids), timeout)
        self.recent.confirmed(actor.user_id, seen)
        return reached

    async def _query(self, case_id: str, query: Any, actor: Actor) -> Any:
        try:
            result = await self._handle(case_id).query(
                query, actor, rpc_timeout=timedelta(seconds=self.settings.action_timeout_seconds)
            )
        except RPCError as exc:
            raise self._rpc_error(exc, case_id) from None
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError):
            raise ApiError(500, "Internal Server Error", f"case '{case_id}' could not be read") from None
        if result is None:
            raise not_found(f"no case '{case_id}'")
        return result

    async def _refused_when_closed(self, case_id: str, command: Any) -> ApiError:
        """The engine's answer to a command for a case whose workflow has ended, asked of its
        `refusal` query (404 for a caller who may not see it, its reason otherwise)."""
        try:
            refusal: Refusal | None = await self._handle(case_id).query(
                CaseWorkflow.refusal, ActionRequest(command=command), result_type=Refusal,
                rpc_timeout=timedelta(seconds=self.settings.action_timeout_seconds),
            )
        except RPCError as exc:
            return self._rpc_error(exc, case_id)
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError):
            # a run recorded before the query existed: it says no more than that
            refusal = None
        if refusal is None:
            return conflict(f"case '{case_id}' is closed")
        status = _STATUS.get(refusal.kind, 409)
        extra = {k: v for k, v in (("errors", refusal.errors), ("reason", refusal.reason)) if v}
        return ApiError(status, title(status), refusal.message, extra=extra or None)

    async def case(self, case_id: str, actor: Actor) -> CaseView:
        return await self._query(case_id, CaseWorkflow.case, actor)

    async def tasks(self, case_id: str, actor: Actor) -> list[TaskView]:
        return await self._query(case_id, CaseWorkflow.tasks, actor)

    async def case_tasks(self, case_id: str, actor: Actor) -> CaseTasks:
        """The case's tasks as the caller sees them, with the version they were read at."""
        return await self._query(case_id, CaseWorkflow.case_tasks, actor)

    async def next_tasks(self, actor: Actor, work: NextWork | None) -> list[TaskView]:
        """The tasks an action made available to the caller: those its case answered, and
        those of the sub-cases it started, each read once the sub-case has started (within
        the consistency wait; one that starts later is in the lists and the stream)."""
        if work is None:
            return []
        found = list(work.tasks)
        deadline = asyncio.get_running_loop().time() + self.settings.consistency_wait_seconds
        pending = list(work.cases)[:MAX_NEXT_CASES]
        seen = 0
        while pending and seen < MAX_NEXT_CASES:
            child = pending.pop(0)
            seen += 1
            child_work = await self._started_work(child, actor, deadline)
            if child_work is not None:
                found += child_work.tasks
                pending += child_work.cases
        return found

    async def _started_work(self, case_id: str, actor: Actor, deadline: float) -> NextWork | None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                return await self._handle(case_id).query(
                    CaseWorkflow.next_work, actor, result_type=NextWork,
                    rpc_timeout=timedelta(seconds=max(0.1, deadline - loop.time())),
                )
            except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
                pass  # not started yet (its parent starts it right after answering), or not answering
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def history(
        self, case_id: str, actor: Actor, offset: int = 0, limit: int | None = None, transitions: frozenset[str] | None = None
    ) -> list[AuditEntry]:
        """The audit trail, oldest first: the read model has every entry but perhaps the
        newest few, the workflow holds the newest (a bounded tail), so the two together are
        exact. `transitions`: only entries of those CMMN transitions."""
        tail: AuditTail = await self._query(case_id, CaseWorkflow.audit_tail, actor)
        total = tail.first_seq + len(tail.entries)
        end = total if limit is None else min(total, offset + limit)
        stored = await audit.entries(self.db, case_id, offset, min(end, tail.first_seq), transitions)
        older = [AuditEntry(at=r.at, user=r.user, action=r.action, planItemId=r.item_id, detail=r.detail, event=r.event) for r in stored]
        newer = tail.entries[max(offset - tail.first_seq, 0):max(end - tail.first_seq, 0)]
        if transitions is not None:
            newer = [e for e in newer if transition_of(e) in transitions]
        return older + newer

    async def discretionary(self, case_id: str, actor: Actor) -> DiscretionaryOptions:
        return await self._query(case_id, CaseWorkflow.discretionary, actor)

    async def task(self, task_id: str, actor: Actor) -> tuple[TaskView, int]:
        """The task, and the case version it was read at."""
        case_id, item_id = self.split_task(task_id)
        found = await self.case_tasks(case_id, actor)
        for task in found.tasks:
            if task.planItemId == item_id:
                return task, found.caseVersion
        raise not_found(f"no task '{task_id}'")

    @staticmethod
    def split_task(task_id: str) -> tuple[str, str]:
        parts = split_task_id(task_id)
        if parts is None:
            raise not_found(f"no task '{task_id}'")
        return parts

    # ------------------------------------------------------------------ ProcessMaker's starts and read-model rows

    def check_start_task(
        self, definition: Definition, actor: Actor, inputs: dict[str, Any], start_task: str, start_user: Actor,
        undeclared_inputs: bool = False,
    ) -> None:
        """Whether a start on `start_task` with `start_user` assigned would succeed, asked of
        the engine's own `start` (pure) before any workflow exists: a start refused inside
        the workflow would fail the new case after the client had been told it started."""
        try:
            start_state(
                definition, case_id="check", case_number=0, actor=actor, inputs=inputs, team=[],
                at=datetime.now(UTC), start_task=start_task, start_user=start_user, undeclared_inputs=undeclared_inputs,
            )
        except DomainError as exc:
            status = _STATUS.get(exc.kind, 400)
            extra = {k: v for k, v in (("errors", exc.details), ("reason", exc.reason)) if v}
            raise ApiError(status, title(status), exc.message, extra=extra or None) from None

    async def case_record(self, case_id: str) -> CaseRecord | None:
        """The read model's row of a case and its delegations, or None when it has none.

        No visibility check: callers use it for what the workflow does not answer (the
        ProcessMaker status, delegation dates) after a query has checked visibility, or to
        find a delegation's plan item for a command the engine then decides on. It waits for
        this gateway's writes under way, as lists do, so it shows the caller's own actions.
        """
        await self._settled()
        async with self.db.session() as session:
            row = await session.get(CaseRow, case_id)
            if row is None:
                return None
            found = await session.scalars(
                select(DelegationRow).where(DelegationRow.case_id == case_id).order_by(DelegationRow.del_index)
            )
            return CaseRecord(row, list(found))

    # ------------------------------------------------------------------ errors

    @staticmethod
    def _domain_error(cause: BaseException | None) -> ApiError:
        status = _STATUS.get(cause.type or "", 500) if isinstance(cause, ApplicationError) else 500
        if status == 500:  # a bug or an unknown refusal: say nothing of its insides
            return ApiError(500, title(500), "the case could not process this action; it is unchanged")
        assert isinstance(cause, ApplicationError)
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        extra = {k: details[k] for k in ("errors", "reason") if details.get(k)}
        headers = {}
        if status == 412:  # the client reads the case again, or retries on this version
            current = next((e.get("currentVersion") for e in details.get("errors") or [] if isinstance(e, dict)), None)
            if isinstance(current, int):
                headers["ETag"] = consistency.etag(current)
        return ApiError(status, title(status), cause.message, headers=headers, extra=extra or None)

    @staticmethod
    def _timed_out() -> ApiError:
        return ApiError(
            504, "Gateway Timeout",
            "the case did not answer in time; the action may still be applied: retry with the same Idempotency-Key",
            headers={"Retry-After": "2"},
        )

    @staticmethod
    def _rpc_error(exc: RPCError, case_id: str) -> ApiError:
        metrics.temporal_failed(exc.status)
        if exc.status == RPCStatusCode.NOT_FOUND:
            return not_found(f"no case '{case_id}'")
        if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:
            return ApiError(429, "Too Many Requests", "the case is busy; retry shortly", headers={"Retry-After": "1"})
        if exc.status in FINAL_RPC_STATUSES:
            return ApiError(502, "Bad Gateway", "the case engine refused the request")
        # Anything else (unavailable, a deadline, a connection cut while the server
        # restarts) may still have been applied: the client retries with its key.
        return ApiError(
            503, "Service Unavailable",
            "the case engine did not answer; the action may still be applied: retry with the same Idempotency-Key",
            headers={"Retry-After": "2"},
        )
