"""Domain errors: a command the case refuses. The shell turns each into an ApplicationError
whose `type` is `kind`, and the gateway maps that type to an HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    kind = "DomainError"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


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


class Invalid(DomainError):
    """The request's content is wrong (missing required output, unknown role)."""

    kind = "Invalid"


class BadRequest(DomainError):
    """The request names something that is not part of the model (an unknown transition)."""

    kind = "BadRequest"


INTERNAL = "InternalError"
