"""Domain errors: a command the case refuses. The shell turns each into an ApplicationError
whose `type` is `kind`, and the gateway maps that type to an HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """`reason`: a stable code for the refusals a face tells apart (the constants below), so
    faces map reasons to their own statuses and words instead of deciding again."""

    kind = "DomainError"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.reason = reason


class NotFound(DomainError):
    """No such item, or the caller may not see the case (404, never 403: DESIGN.md 6)."""

    kind = "NotFound"


class Forbidden(DomainError):
    """The caller sees the case but may not do this (no role, not the assignee)."""

    kind = "Forbidden"


class Conflict(DomainError):
    """Not allowed in the current state (claimed by another, not active, completed)."""

    kind = "Conflict"


class TooLarge(DomainError):
    """The change would take the case past its byte budget (Temporal's payload limits)."""

    kind = "TooLarge"


class PreconditionFailed(DomainError):
    """A conditional command (If-Match) made on another version of the case than the
    current one: someone changed it since the sender read it. `details` name the current
    version."""

    kind = "PreconditionFailed"


class Invalid(DomainError):
    """The request's content is wrong (missing required output, unknown role)."""

    kind = "Invalid"


class BadRequest(DomainError):
    """The request names something that is not part of the model (an unknown transition)."""

    kind = "BadRequest"


INTERNAL = "InternalError"

# Reasons (DomainError.reason): what the faces tell apart.
CASE_CLOSED = "case_closed"  # the case plan is completed or terminated
ALREADY_CANCELLED = "already_cancelled"  # ... by a cancel
CASE_PAUSED = "case_paused"
NOT_PAUSED = "not_paused"
ALREADY_PAUSED = "already_paused"
PAST_DATE = "past_date"  # a pause until a moment that has passed
TASK_NOT_ACTIVE = "task_not_active"  # not started, completed, terminated, suspended
NOT_HELD = "not_held"  # nobody holds the task
HELD_BY_OTHER = "held_by_other"
ALREADY_YOURS = "already_yours"
NOT_SOURCE = "not_source"  # a reassignment's source does not hold the task
SAME_ASSIGNEE = "same_assignee"  # a reassignment to the user who holds the task
NOT_IN_POOL = "not_in_pool"  # a reassignment's target may not work on the task
