"""What the read model stores of a case: one document per state, written by the worker.

The engine builds it (pure, from the state alone) so every rule about who sees, holds or may
claim a task stays in `access`; the store only writes rows and the faces only query them.

Principals name users and groups the way definitions do: `user:<id>`, `user:<username>`
(definitions may name users by either) and `group:<id>`. A query passes the caller's
principals and matches any of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from workflows.actor import Actor
from workflows.definition import HumanTask
from workflows.engine import access, status
from workflows.engine.access import team_principals
from workflows.engine.lifecycle import DefIndex
from workflows.engine.principals import group, user
from workflows.engine.state import TERMINAL, AuditEntry, CaseState, ItemState, PlanItemState

# Participation kinds: how a principal belongs to a case.
OWNER = "owner"  # a case owner: sees every task of the case
SUPERVISOR = "supervisor"  # the definition's supervisors (ProcessMaker's process supervisors)
MEMBER = "member"  # in the case team, or holding one of the definition's roles
PARTICIPANT = "participant"  # started the case or held one of its tasks (ProcessMaker "participated")


class DelegationDoc(BaseModel):
    """One activation of a human task (ProcessMaker's delegation, `del_index`)."""

    del_index: int
    item_id: str
    task_def_id: str
    task_name: str
    role: str | None
    assign_rule: str
    task_state: str
    assignee: str | None
    owner: str | None
    previous_user: str | None
    delegated_at: datetime
    init_at: datetime | None
    due: datetime | None
    finished_at: datetime | None
    open: bool
    # the case's current row(s): open delegations, or the last one of a case with none open
    current: bool
    last_modified: datetime
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    # who may claim it now (empty unless unassigned and claimable)
    candidates: list[str] = Field(default_factory=list)
    # who sees it in a task list: its role's holders, its holder, the case's owners and supervisors
    viewers: list[str] = Field(default_factory=list)
    # past its due date, as the engine recorded it (TaskDue), not by the reader's clock
    overdue: bool = False
    # the case version at which this row last changed (ChangeTracker); 0 in a bare projection
    stamp: int = 0


class ParticipationDoc(BaseModel):
    principal: str
    kind: str


class CaseDoc(BaseModel):
    case_id: str
    case_number: int
    version: int
    title: str
    definition_id: str
    definition_version: int
    definition_name: str
    category: str
    state: str
    # ProcessMaker's APP_STATUS: TO_DO, DRAFT, PAUSED, COMPLETED, CANCELLED, DELETED
    app_status: str
    created_on: datetime
    created_by: str
    last_modified: datetime
    finished_at: datetime | None
    paused_until: datetime | None
    parent_case_id: str | None
    delegations: list[DelegationDoc]
    participations: list[ParticipationDoc]


def principals_of(actor: Actor) -> list[str]:
    """The principals a caller matches: their id, their username and their groups."""
    names = [user(actor.user_id)] + ([user(actor.username)] if actor.username and actor.username != actor.user_id else [])
    return names + [group(g) for g in actor.groups]


def case_wide_viewers(state: CaseState) -> set[str]:
    """Who sees every task of the case: its owners and the definition's supervisors."""
    owners = {user(m.userId) for m in state.team if m.isOwner}
    return owners | {p for name in state.definition.supervisors for p in (user(name), group(name))}


def task_open(item: PlanItemState) -> bool:
    """The one rule for an open task: neither finished nor failed (a suspended one is open)."""
    return item.state not in TERMINAL and item.state != ItemState.Failed


def delegation(state: CaseState, item: PlanItemState, defs: DefIndex | None = None) -> DelegationDoc:
    """One task as the read model stores it and every face shows it (views.task_view)."""
    model = (defs or DefIndex.of(state.definition)).items.get(item.definition_id)
    return _delegation(state, item, model if isinstance(model, HumanTask) else None, case_wide_viewers(state))


def _delegation(state: CaseState, item: PlanItemState, model: HumanTask | None, case_wide: set[str]) -> DelegationDoc:
    t = item.task
    assert t is not None
    is_open = task_open(item)
    role = model.role if model else None
    holders = {user(u) for u in (t.assignee, t.owner) if u}
    candidates: set[str] = set()
    # only an active task can be claimed: not one of a paused case, nor a finished one
    if item.state == ItemState.Active and not t.assignee and model is not None:
        candidates = access.candidate_principals(state, model)
    return DelegationDoc(
        del_index=t.del_index, item_id=item.id, task_def_id=item.definition_id, task_name=item.name[:NAME_MAX], role=role,
        assign_rule=model.assignment.rule.value if model else "MANUAL", task_state=t.task_state.value,
        assignee=t.assignee, owner=t.owner, previous_user=t.previous_user, delegated_at=t.activated_at or item.created_on,
        init_at=t.started_at, due=t.due, finished_at=t.finished_at, open=is_open, current=False,
        last_modified=item.last_modified, input=t.input, output=t.output, candidates=sorted(candidates), overdue=t.overdue,
        # one principal lookup decides who sees a task in a list (no OR across tables): the
        # team members it is for, its holders, those it is offered to, owners and supervisors
        # (a holder of its role outside the team sees it only while it is offered to them)
        viewers=sorted(team_principals(state, role) | holders | candidates | case_wide),
    )


def _participations(state: CaseState, delegations: list[DelegationDoc]) -> list[ParticipationDoc]:
    kinds: dict[tuple[str, str], None] = {}
    for m in state.team:
        kinds[(user(m.userId), OWNER if m.isOwner else MEMBER)] = None
        if m.isOwner:
            kinds[(user(m.userId), MEMBER)] = None
    for name in state.definition.supervisors:
        # supervisors are named by user id, username or group, like startedBy
        kinds[(user(name), SUPERVISOR)] = None
        kinds[(group(name), SUPERVISOR)] = None
    # "participated": the starter while in the team, and whoever held a task; both may see
    # the case (access.can_see), so the list never shows a case its reader is refused
    if access.member(state, state.created_by) is not None:
        kinds[(user(state.created_by), PARTICIPANT)] = None
    for d in delegations:
        for u in (d.assignee, d.owner):
            if u:
                kinds[(user(u), PARTICIPANT)] = None
    return [ParticipationDoc(principal=p, kind=k) for p, k in kinds]


# The read model's column widths (store/tables.py): longer texts are cut, since a projection
# the database refuses would hold every later action of the case back.
TITLE_MAX, NAME_MAX = 1000, 500


def project(state: CaseState) -> CaseDoc:
    defs = DefIndex.of(state.definition)
    case_wide = case_wide_viewers(state)
    delegations = []
    for item in state.items.values():
        if item.task is None:
            continue
        model = defs.items.get(item.definition_id)
        delegations.append(_delegation(state, item, model if isinstance(model, HumanTask) else None, case_wide))
    delegations.sort(key=lambda d: d.del_index)
    open_ones = [d for d in delegations if d.open]
    for d in open_ones or delegations[-1:]:
        d.current = True
    closed = state.plan.state in TERMINAL
    return CaseDoc(
        case_id=state.case_id, case_number=state.case_number, version=state.version, title=state.title[:TITLE_MAX],
        definition_id=state.definition.id, definition_version=state.definition.version,
        definition_name=state.definition.name[:NAME_MAX], category=state.definition.category, state=state.plan.state.value,
        app_status=status.app_status(state), created_on=state.created_on, created_by=state.created_by,
        last_modified=state.last_modified, finished_at=state.plan.last_modified if closed else None,
        paused_until=state.paused_until, parent_case_id=state.parent.case_id if state.parent else None,
        delegations=delegations, participations=_participations(state, delegations),
    )


class AuditDoc(BaseModel):
    """One entry of the audit trail, numbered within its case (`seq`, from 0): the read model
    keeps them all, the workflow only a bounded tail."""

    seq: int
    at: datetime
    user: str
    action: str
    item_id: str | None = None
    detail: str = ""
    # the typed event (engine.events), as JSON; None for entries recorded before events
    event: dict[str, Any] | None = None


def audit_docs(entries: list[AuditEntry], first_seq: int) -> list[AuditDoc]:
    return [
        AuditDoc(seq=first_seq + i, at=e.at, user=e.user, action=e.action, item_id=e.planItemId, detail=e.detail,
                 event=e.event.model_dump(mode="json") if e.event is not None else None)
        for i, e in enumerate(entries)
    ]


class CaseChange(BaseModel):
    """What one write brings the read model: the case at `doc.version`, and of its rows those
    that changed after version `base`.

    The store applies it only when it holds a version from `base` up to (not including)
    `doc.version`: then every row that differs is in the change, so the result is exactly the
    recorded state `doc.version`. Below `base` it is a gap (a change nobody wrote yet) and
    nothing is written; at or above `doc.version` it is old news. `base` 0 is a whole case.
    """

    base: int
    doc: CaseDoc
    # None: the participations did not change after `base`
    participations: list[ParticipationDoc] | None = None
    # every del_index of the case, when a row may have left it (rows missing here are closed)
    present: list[int] | None = None
    # audit entries recorded since the last change handed out: facts, written whatever the
    # case row's outcome (each once, by its number)
    audit: list[AuditDoc] = Field(default_factory=list)


class ChangeTracker:
    """Stamps each row of a case's projection with the version at which it last changed, so a
    change since any earlier version is the rows stamped after it (pure: the workflow shell
    keeps one per run and asks it at the points where it hands a change out).

    A fresh tracker (a new run, a worker that replayed) stamps every row on its first look,
    so its first change rewrites the whole case once: more than needed, never less.
    """

    def __init__(self) -> None:
        self._rows: dict[int, DelegationDoc] = {}
        self._stamps: dict[int, int] = {}
        self._parts: list[ParticipationDoc] | None = None
        self._parts_stamp = 0
        self._title: str | None = None
        self._left_at = 0  # the last version at which a row left the case
        self._first_look = 0

    def change_since(self, base: int, state: CaseState) -> CaseChange:
        doc = self._look(state)
        changed = [d.model_copy(update={"stamp": self._stamps[d.del_index]}) for d in doc.delegations if self._stamps[d.del_index] > base]
        whole = base < self._first_look or base == 0
        return CaseChange(
            base=base,
            doc=doc.model_copy(update={"delegations": changed, "participations": []}),
            participations=doc.participations if self._parts_stamp > base or whole else None,
            present=[d.del_index for d in doc.delegations] if whole or self._left_at > base else None,
        )

    def _look(self, state: CaseState) -> CaseDoc:
        doc = project(state)
        version = state.version
        if not self._first_look:
            self._first_look = version
        retitled = self._title is not None and self._title != doc.title
        self._title = doc.title
        seen = set()
        for d in doc.delegations:
            seen.add(d.del_index)
            # rows repeat the case title (search text), so a new title touches them all
            if retitled or self._rows.get(d.del_index) != d:
                self._rows[d.del_index] = d
                self._stamps[d.del_index] = version
        for gone in set(self._rows) - seen:
            del self._rows[gone], self._stamps[gone]
            self._left_at = version
        if self._parts != doc.participations:
            self._parts = doc.participations
            self._parts_stamp = version
        return doc
