"""Errors the gateway answers with.

Handlers and services raise `ApiError`; each face renders it in its own envelope (the
native face as RFC 9457 problem details). Messages are written here, never copied from a
request, so no error can echo a token or a header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse

TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 412: "Precondition Failed", 413: "Content Too Large", 422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


def title(status: int) -> str:
    return TITLES.get(status, "Error")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.headers = headers or {}
        self.extra = extra or {}


def unauthorized(detail: str = "A valid bearer token is required.") -> ApiError:
    return ApiError(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def not_found(detail: str) -> ApiError:
    return ApiError(404, "Not Found", detail)


def forbidden(detail: str) -> ApiError:
    return ApiError(403, "Forbidden", detail)


def conflict(detail: str) -> ApiError:
    return ApiError(409, "Conflict", detail)


def too_large(detail: str) -> ApiError:
    return ApiError(413, "Content Too Large", detail)


def unprocessable(detail: str, errors: list[dict[str, Any]] | None = None) -> ApiError:
    return ApiError(422, "Unprocessable Content", detail, extra={"errors": errors} if errors else None)


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "Bad Request", detail)


# ------------------------------------------------------------------ envelopes per face

Renderer = Callable[[ApiError], JSONResponse]
# (path prefix, renderer): a face whose paths start with the prefix renders its errors in its
# own envelope; every other path gets the native problem details. Faces add themselves with
# `register_envelope` (when their module is imported, or when the app is built if the prefix
# depends on settings); the app's exception handlers ask `render` first.
ENVELOPES: list[tuple[str, Renderer]] = []


def register_envelope(prefix: str, renderer: Renderer) -> None:
    """Render errors under `prefix` with `renderer`; registering the same pair again is a no-op."""
    if (prefix, renderer) not in ENVELOPES:
        ENVELOPES.append((prefix, renderer))


def render(path: str, exc: ApiError) -> JSONResponse | None:
    """The error in the envelope of the face that owns `path` (the longest matching prefix),
    or None when no face claims it and the caller renders problem details."""
    matches = [(prefix, renderer) for prefix, renderer in ENVELOPES if path.startswith(prefix)]
    if not matches:
        return None
    _, renderer = max(matches, key=lambda m: len(m[0]))
    return renderer(exc)
