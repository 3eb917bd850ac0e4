"""Read your writes across the gateway (DESIGN.md section 1).

An action answers as soon as Temporal has recorded it; the read model catches up after. So
that a client who acts and then lists still sees its action:

- every action's answer carries the case version as `ETag` and an opaque token in the
  `Casework-Consistency` header, naming the versions it produced;
- every list and count takes such tokens back (the same header, several comma-separated)
  and waits, at most `consistency_wait_seconds`, until the read model holds those versions;
  its answer says in `Casework-Consistency-Status` whether it did (`reached`) or answers
  what it has (`behind`);
- the gateway also remembers, per caller, the versions of their recent actions that it could
  not confirm in the read model itself, so a client that sends nothing back still sees its
  own actions through the same gateway.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any, Awaitable, Callable

from fastapi import Depends, Request, Response

from api.asgi import HttpMiddleware, Receive, Send
from api.auth import current_actor
from workflows.public import Actor

HEADER = "Casework-Consistency"
STATUS_HEADER = "Casework-Consistency-Status"
REACHED, BEHIND = "reached", "behind"
# A token names at most this many cases (a batch reassign's answer); more are left out.
MAX_CASES = 200
# Remembered unconfirmed versions: per caller, and callers in all, least recent dropped first.
PER_CALLER, CALLERS = 100, 10_000
REMEMBER_SECONDS = 60.0
POLL_SECONDS = 0.02


def encode(versions: dict[str, int]) -> str:
    text = ",".join(f"{case}:{version}" for case, version in list(versions.items())[:MAX_CASES])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(header: str | None) -> dict[str, int]:
    """The versions named by one or more tokens; what is not a token of ours is ignored (a
    list never fails because of a stale or mangled header)."""
    out: dict[str, int] = {}
    for token in (header or "").split(","):
        token = token.strip()
        if not token or len(token) > 20_000:
            continue
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        for pair in text.split(",")[:MAX_CASES]:
            case, _, version = pair.rpartition(":")
            if case and version.isdigit():
                out[case] = max(out.get(case, 0), int(version))
    return out


def etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> list[tuple[bool, str]]:
    """The entity tags of an If-Match or If-None-Match value, as (weak, opaque text)."""
    out = []
    for part in header.split(","):
        part = part.strip()
        weak = part.startswith("W/")
        part = part[2:] if weak else part
        if len(part) >= 2 and part[0] == part[-1] == '"':
            out.append((weak, part[1:-1]))
    return out


def _number(text: str) -> bool:
    """ASCII digits only (`str.isdigit` takes superscripts, which `int` refuses)."""
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


def if_match(header: str | None) -> list[int] | None:
    """The case versions an If-Match header allows, for the engine's conditional command
    (RFC 9110 13.1.1): None when there is no condition (no header, or `*`, which any case
    that exists meets). Strong comparison: a weak tag, or a tag that is not one of ours,
    matches nothing, so a header of only those is answered 412."""
    if header is None or header.strip() == "*":
        return None
    return [int(text) for weak, text in _tags(header) if not weak and _number(text)][:20]


def none_match(header: str | None, version: int) -> bool:
    """Whether If-None-Match names this version (weak comparison, RFC 9110 13.1.2), so a
    read answers 304 Not Modified."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(text == str(version) for _, text in _tags(header))


# ------------------------------------------------------------------ the answer's headers


@dataclass
class Produced:
    """The versions one request's actions produced (filled by the service layer)."""

    versions: dict[str, int] = field(default_factory=dict)

    def add(self, case_id: str, version: int) -> None:
        self.versions[case_id] = max(self.versions.get(case_id, 0), version)

    def headers(self) -> list[tuple[bytes, bytes]]:
        if not self.versions:
            return []
        out = [(HEADER.lower().encode(), encode(self.versions).encode())]
        if len(self.versions) == 1:
            out.append((b"etag", etag(next(iter(self.versions.values()))).encode()))
        return out


_produced: contextvars.ContextVar[Produced | None] = contextvars.ContextVar("casework_produced", default=None)


def produced(case_id: str, version: int) -> None:
    holder = _produced.get()
    if holder is not None:
        holder.add(case_id, version)


class ActionHeaders(HttpMiddleware):
    """ASGI middleware: adds `ETag` and `Casework-Consistency` to the answer of any request
    whose handler produced case versions (errors included: a 504's action may still land)."""

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        holder = Produced()
        reset = _produced.set(holder)

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and holder.versions:
                message = {**message, "headers": [*message.get("headers", []), *holder.headers()]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            _produced.reset(reset)


# ------------------------------------------------------------------ waiting for the read model


class RecentWrites:
    """What each caller's recent actions produced that this gateway did not see written."""

    def __init__(self) -> None:
        self._by_caller: OrderedDict[str, OrderedDict[str, tuple[int, float]]] = OrderedDict()

    def remember(self, caller: str, case_id: str, version: int) -> None:
        cases = self._by_caller.pop(caller, None) or OrderedDict()
        old = cases.pop(case_id, (0, 0.0))[0]
        cases[case_id] = (max(old, version), time.monotonic() + REMEMBER_SECONDS)
        while len(cases) > PER_CALLER:
            cases.popitem(last=False)
        self._by_caller[caller] = cases
        while len(self._by_caller) > CALLERS:
            self._by_caller.popitem(last=False)

    def wanted(self, caller: str) -> dict[str, int]:
        cases = self._by_caller.get(caller)
        if not cases:
            return {}
        now = time.monotonic()
        for case_id in [c for c, (_, until) in cases.items() if until < now]:
            del cases[case_id]
        return {c: v for c, (v, _) in cases.items()}

    def confirmed(self, caller: str, stored: dict[str, int]) -> None:
        cases = self._by_caller.get(caller)
        if not cases:
            return
        for case_id, version in stored.items():
            if case_id in cases and cases[case_id][0] <= version:
                del cases[case_id]


async def wait_until(
    wanted: dict[str, int], stored_versions: Callable[[list[str]], Awaitable[dict[str, int]]], timeout: float
) -> tuple[bool, dict[str, int]]:
    """Poll the read model until it holds every wanted version, or the time is up. Returns
    whether it did, and the versions last seen."""
    deadline = time.monotonic() + timeout
    pending = dict(wanted)
    seen: dict[str, int] = {}
    while True:
        stored = await stored_versions(list(pending))
        seen.update(stored)
        pending = {c: v for c, v in pending.items() if stored.get(c, 0) < v}
        if not pending:
            return True, seen
        if time.monotonic() >= deadline:
            return False, seen
        await asyncio.sleep(POLL_SECONDS)


async def read_model_fresh(request: Request, response: Response, actor: Annotated[Actor, Depends(current_actor)]) -> bool:
    """Dependency of every list and count: wait for the caller's versions (bounded) and say
    in the answer whether the read model reached them."""
    reached = await request.app.state.service.fresh(actor, request.headers.get(HEADER))
    response.headers[STATUS_HEADER] = REACHED if reached else BEHIND
    return reached


Fresh = Annotated[bool, Depends(read_model_fresh)]
