"""ProcessMaker's case status (APP_STATUS), read from the state: one rule, used by the
read model and the ProcessMaker face alike."""

from __future__ import annotations

from workflows.engine.state import CaseState, ItemState, TaskState

STATUS_LABELS = {
    "TO_DO": "To do",
    "DRAFT": "Draft",
    "COMPLETED": "Completed",
    "CANCELLED": "Cancelled",
    "PAUSED": "Paused",
    "DELETED": "Deleted",
    "UNASSIGNED": "Unassigned",
}


def app_status(state: CaseState) -> str:
    """The first that holds: deleted, cancelled (a terminated plan too), completed, paused;
    DRAFT until a human task has been completed (ProcessMaker: the first task not yet
    routed), TO_DO after."""
    if state.deleted:
        return "DELETED"
    if state.cancelled or state.plan.state == ItemState.Terminated:
        return "CANCELLED"
    if state.plan.state == ItemState.Completed:
        return "COMPLETED"
    if state.paused:
        return "PAUSED"
    if not any(i.task is not None and i.task.task_state == TaskState.Completed for i in state.items.values()):
        return "DRAFT"
    return "TO_DO"
