"""What the gateway may use of `workflows/` (DESIGN.md section 2): the definition model, the
message and view types, the workflow's handle types, and the checks it must run before a
workflow exists (start inputs, who may start)."""

from workflows.actor import Actor
from workflows.case import ActionRequest, ActionResult, CaseInput, CaseWorkflow
from workflows.definition import ITEM_TYPES, Definition, Problem, load_document, parse_definition, validate_definition
from workflows.engine.access import may_start, sees_all
from workflows.engine.commands import (
    Assign, Claim, Complete, Delegate, MergeFile, Plan, Revoke, Save, TeamAdd, TeamRemove, Transition, Validate,
)
from workflows.engine.decide import check_start
from workflows.engine.errors import KINDS as ERROR_KINDS
from workflows.engine.projection import principals_of
from workflows.engine.state import AuditEntry, ItemState, TaskState, TeamMember
from workflows.engine.views import CaseSummary, CaseView, DiscretionaryItemView, DiscretionaryOptions, PlanItemView, TaskView, split_task_id, task_id

__all__ = [
    "ITEM_TYPES", "Actor", "ActionRequest", "ActionResult", "CaseInput", "CaseWorkflow", "Definition", "Problem",
    "load_document", "parse_definition", "validate_definition", "may_start", "Assign", "Claim", "Complete",
    "Delegate", "MergeFile", "Plan", "Revoke", "Save", "TeamAdd", "TeamRemove", "Transition", "Validate",
    "check_start", "ERROR_KINDS", "AuditEntry", "TeamMember", "CaseView", "DiscretionaryItemView", "DiscretionaryOptions",
    "PlanItemView", "TaskView", "split_task_id", "task_id", "principals_of", "sees_all", "CaseSummary", "ItemState", "TaskState",
]

# The ProcessMaker face: case-level commands, the status rule, starting tasks, the plan walk,
# and the engine's pure `start` (the gateway asks it whether a start would succeed first).
from workflows.definition import CaseTask, HumanTask, walk
from workflows.engine.commands import CancelCase, DeleteCase, Pause, Reassign, RunTrigger, Unpause
from workflows.engine.decide import start as start_state
from workflows.engine.errors import DomainError
from workflows.engine.starting import start_tasks
from workflows.engine.status import STATUS_LABELS, app_status

__all__ += [
    "STATUS_LABELS", "CancelCase", "CaseTask", "DeleteCase", "DomainError", "HumanTask", "Pause", "Reassign",
    "RunTrigger", "Unpause", "app_status", "start_state", "start_tasks", "walk",
]
