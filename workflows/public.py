"""What the gateway may use of `workflows/` (DESIGN.md section 2): the definition model, the
message and view types, the workflow's handle types, and the checks it must run before a
workflow exists (start inputs, who may start)."""

from workflows.actor import Actor
from workflows.case import ActionRequest, ActionResult, CaseInput, CaseWorkflow
from workflows.definition import ITEM_TYPES, Definition, Problem, load_document, parse_definition, validate_definition
from workflows.engine.access import may_start
from workflows.engine.commands import (
    Assign, Claim, Complete, Delegate, MergeFile, Plan, Revoke, Save, TeamAdd, TeamRemove, Transition, Validate,
)
from workflows.engine.decide import check_start
from workflows.engine.errors import KINDS as ERROR_KINDS
from workflows.engine.state import AuditEntry, TeamMember
from workflows.engine.views import CaseView, DiscretionaryItemView, DiscretionaryOptions, PlanItemView, TaskView, split_task_id, task_id

__all__ = [
    "ITEM_TYPES", "Actor", "ActionRequest", "ActionResult", "CaseInput", "CaseWorkflow", "Definition", "Problem",
    "load_document", "parse_definition", "validate_definition", "may_start", "Assign", "Claim", "Complete",
    "Delegate", "MergeFile", "Plan", "Revoke", "Save", "TeamAdd", "TeamRemove", "Transition", "Validate",
    "check_start", "ERROR_KINDS", "AuditEntry", "TeamMember", "CaseView", "DiscretionaryItemView", "DiscretionaryOptions",
    "PlanItemView", "TaskView", "split_task_id", "task_id",
]
