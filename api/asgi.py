"""The shape the gateway's own pure ASGI middlewares share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[..., Awaitable[Any]]
Send = Callable[..., Awaitable[Any]]


class HttpMiddleware:
    """Acts on HTTP requests (`handle`) and passes anything else (lifespan) through."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        raise NotImplementedError
