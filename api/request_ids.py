"""Every answer carries `X-Request-Id`: the caller's own when it sent a usable one (a proxy's,
say), a new one otherwise; every log line of the request names it (log_setup.py)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from api.asgi import HttpMiddleware, Receive, Send
from log_setup import request_id

HEADER = b"x-request-id"
# What is taken from a caller: short, and nothing a log reader could be fooled by.
USABLE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIds(HttpMiddleware):
    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        sent = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == HEADER), "")
        rid = sent if USABLE.match(sent) else uuid.uuid4().hex
        token = request_id.set(rid)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (HEADER, rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
