"""What the gateway (and the operator CLI) may use of `workflows/` (DESIGN.md section 2): the definition model, the
message and view types, the workflow's handle types, and the checks it must run before a
workflow exists (start inputs, who may start, whether a ProcessMaker start would succeed: the
engine's pure `start`), the principals lists match, who sees every case, and the search
attributes a case's start sets."""

from workflows.actor import Actor
from workflows.case import AUDIT_PER_CHANGE, ActionRequest, ActionResult, AuditTail, CaseInput, CaseWorkflow, Refusal
from workflows.definition import (
    ITEM_TYPES, CaseTask, Definition, HumanTask, load_document, parse_definition, validate_definition, walk,
)
from workflows.engine.access import ALL_CASES, may_start, sees_all
from workflows.engine.commands import (
    Assign, CancelCase, Claim, Complete, Delegate, DeleteCase, MergeFile, Pause, Plan, Reassign, Revoke, RunTrigger,
    Save, TeamAdd, TeamRemove, Transition, Unpause, Validate,
)
from workflows.engine.decide import check_start
from workflows.engine.decide import start as start_state
from workflows.engine import errors as reasons  # the refusals' reason codes (DomainError.reason)
from workflows.engine.errors import DomainError
from workflows.engine.events import transition_of
from workflows.engine.projection import CaseChange, principals_of
from workflows.engine.starting import start_tasks
from workflows.engine.state import AuditEntry, ItemState, TaskState, TeamMember
from workflows.engine.status import STATUS_LABELS
from workflows.search_attributes import at_start as start_search_attributes
from workflows.engine.views import (
    CaseSummary, CaseTasks, CaseView, DiscretionaryItemView, DiscretionaryOptions, NextWork, PlanItemView, TaskView, split_task_id,
    task_id, task_view,
)

__all__ = [
    "ITEM_TYPES", "AUDIT_PER_CHANGE", "Actor", "ActionRequest", "ActionResult", "AuditTail", "CaseInput", "CaseWorkflow", "Refusal", "Definition", "CaseTask",
    "HumanTask", "load_document", "parse_definition", "validate_definition", "walk", "ALL_CASES", "may_start", "sees_all",
    "Assign", "CancelCase", "Claim", "Complete", "Delegate", "DeleteCase", "MergeFile", "Pause", "Plan", "Reassign",
    "Revoke", "RunTrigger", "Save", "TeamAdd", "TeamRemove", "Transition", "Unpause", "Validate", "check_start",
    "start_state", "reasons", "DomainError", "transition_of", "CaseChange", "principals_of", "start_tasks", "AuditEntry", "ItemState", "TaskState",
    "TeamMember", "STATUS_LABELS", "CaseSummary", "CaseTasks", "CaseView", "NextWork", "DiscretionaryItemView", "DiscretionaryOptions",
    "PlanItemView", "TaskView", "split_task_id", "task_id", "task_view", "start_search_attributes",
]
