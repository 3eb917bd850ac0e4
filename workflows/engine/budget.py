"""A case's size, as Temporal will carry it (pure: the shell enforces the budget with it).

The budget is on the state serialized without its definition (a definition is bounded when
it is deployed, and stays as it was). The shell refuses a change that would take a case past
its budget, and fails an effect whose outcome would: its item goes to Failed with the reason,
rather than waiting for ever on an outcome the case cannot take.
"""

from __future__ import annotations

from typing import Any

from workflows.engine.commands import ChildDone, ProcessDone, TriggerDone
from workflows.engine.state import CaseState


def state_bytes(state: CaseState) -> int:
    return len(state.model_dump_json(exclude={"definition"}))


def too_large_outcome(cmd: Any, reason: str) -> Any | None:
    """The failed variant of an effect's outcome, or None for other commands."""
    if isinstance(cmd, ProcessDone) and cmd.ok:
        return cmd.model_copy(update={"ok": False, "output": {}, "error": f"its output is too large: {reason}"})
    if isinstance(cmd, ChildDone) and cmd.data:
        return cmd.model_copy(update={"state": f"Completed, but its output is too large: {reason}", "data": {}})
    if isinstance(cmd, TriggerDone) and cmd.ok:
        return cmd.model_copy(update={"ok": False, "output": {}, "error": f"its output is too large: {reason}"})
    return None
