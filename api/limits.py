"""Request bodies larger than any case could take are refused at the gateway (413), before
they are parsed or sent to Temporal (whose payload limit a large body would break).

A case mutation's body may be at most the case budget (CASEWORK_MAX_CASE_BYTES) plus a
little for the envelope; a definition at most DEFINITION_BODY_LIMIT. Bodies that announce
their length are judged by it; others are counted as they arrive.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from api.errors import render, too_large

DEFINITION_BODY_LIMIT = 1_000_000
ENVELOPE_SLACK = 16_000
# How deeply the data a request brings a case (start inputs, case-file changes, task outputs,
# variables) may nest. Temporal's JSON converter refuses to serialize past a few hundred
# levels, and the case carries its data a few levels down in its state: a deeper body was a
# 500 from the gateway. Forms and integrations stay far below this.
MAX_DATA_DEPTH = 32


def too_deep(value: Any, field: str) -> dict[str, str] | None:
    """A problem naming `field` when `value` nests deeper than MAX_DATA_DEPTH, else None."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= MAX_DATA_DEPTH:
            return {"field": field, "message": f"nested more than {MAX_DATA_DEPTH} levels deep; at most {MAX_DATA_DEPTH}"}
        stack.extend((child, depth + 1) for child in children)
    return None


class BodyLimit:
    def __init__(self, app: Any, max_case_bytes: int, problem: Callable[..., Any]) -> None:
        self.app = app
        self.case_limit = max_case_bytes + ENVELOPE_SLACK
        self.problem = problem

    def limit_for(self, path: str) -> int:
        return max(DEFINITION_BODY_LIMIT, self.case_limit) if path.rstrip("/").endswith("/definitions") else self.case_limit

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Callable[..., Awaitable[Any]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        # Count what arrives (a body without Content-Length, or one longer than announced).
        chunks: list[dict[str, Any]] = []
        seen = 0
        while True:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > limit:
                await self._refuse(scope, receive, send, limit)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> dict[str, Any]:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any, limit: int) -> None:
        error = too_large(f"the request body is larger than {limit} bytes, more than any case may hold (CASEWORK_MAX_CASE_BYTES)")
        response = render(scope["path"], error) or self.problem(error.status, error.title, error.detail)
        await response(scope, receive, send)
