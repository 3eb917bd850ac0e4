"""`GET /events`: the caller's live stream of case and task changes, as Server-Sent Events.

Fed from the event feed (store/feed.py), which holds only what the read model committed of
recorded changes, so the stream never shows a state a case did not record. Each event's id
is its feed id, in commit order across every gateway: a client that reconnects with
`Last-Event-ID` (browsers do it by themselves) gets everything after it, through any
gateway.

One poller per gateway reads the feed (`EventHub`) and keeps the newest entries in memory,
already resolved with who may see them; each stream filters them for its caller, and reads
the store itself only to catch up from further back than that.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api import metrics
from api.deps import CurrentActor
from api.errors import bad_request
from store import feed
from store.db import Database
from workflows.public import Actor, principals_of, sees_all

log = logging.getLogger("casework.events")
router = APIRouter(tags=["native"])
# entries kept in memory by the poller (each with its case and task rows: a few KB, more for
# tasks with large inputs), and read per query (the poll and a catch-up)
KEPT = 2_000
BATCH = 500


class EventHub:
    """The gateway's one reader of the feed. `head` is the newest id read; `_kept` holds every
    entry after `_floor` up to it."""

    def __init__(self, db: Database, poll_seconds: float) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.head = 0
        self._floor = 0
        self._kept: deque[feed.Entry] = deque(maxlen=KEPT)
        self._moved = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._streams = 0

    async def _start(self) -> None:
        """Start the reader if it is not running, and wait until it knows the feed's head.
        The task is made before any await, so streams connecting together start one reader."""
        if self._task is None or self._task.done():
            self._ready = asyncio.Event()
            self._task = asyncio.create_task(self._poll(self._ready), name="event-feed")
        await self._ready.wait()

    async def _poll(self, ready: asyncio.Event) -> None:
        self._kept.clear()
        while not ready.is_set():
            try:
                self.head = self._floor = await feed.last_id(self.db)
                ready.set()
            except Exception:
                log.warning("reading the event feed's head failed; retrying", exc_info=True)
                await asyncio.sleep(self.poll_seconds)
        while self._streams > 0:
            try:
                entries = await feed.since(self.db, self.head, BATCH)
            except Exception:  # the database is away for a moment: streams wait, then resume
                log.warning("reading the event feed failed; retrying", exc_info=True)
                entries = []
            if entries:
                if len(self._kept) + len(entries) > KEPT:
                    dropped = len(self._kept) + len(entries) - KEPT
                    self._floor = (list(self._kept) + entries)[dropped - 1].id
                self._kept.extend(entries)
                self.head = entries[-1].id
                async with self._moved:
                    self._moved.notify_all()
            if len(entries) < BATCH:
                await asyncio.sleep(self.poll_seconds)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def after(self, cursor: int, wait: float) -> list[feed.Entry]:
        """Entries after `cursor` (at most BATCH), waiting up to `wait` seconds for one."""
        if cursor >= self.head:
            async with self._moved:
                try:
                    await asyncio.wait_for(self._moved.wait_for(lambda: self.head > cursor), wait)
                except TimeoutError:
                    return []
        if cursor >= self._floor:
            return [e for e in self._kept if e.id > cursor][:BATCH]
        return await feed.since(self.db, cursor, BATCH)  # further back than memory: the store

    async def stream(
        self, actor: Actor, cursor: int | None, kinds: frozenset[str] | None, stop: anyio.Event | None = None
    ) -> AsyncIterator[ServerSentEvent]:
        """The caller's events after `cursor` (from now when None) until `stop` is set (the
        server is shutting down: the stream then ends cleanly and the client reconnects
        elsewhere with its Last-Event-ID)."""
        self._streams += 1
        metrics.EVENT_STREAMS.inc()
        try:
            await self._start()
            if cursor is None:
                cursor = self.head  # a new stream begins now
            principals, everything = frozenset(principals_of(actor)), sees_all(actor)
            while stop is None or not stop.is_set():
                batch = await self.after(cursor, 0.5)
                for entry in batch:
                    if (kinds is None or entry.kind in kinds) and entry.visible_to(principals, everything):
                        yield ServerSentEvent(data=json.dumps(entry.document(), default=str), event=entry.kind, id=str(entry.id))
                if batch:
                    cursor = batch[-1].id
        except Exception:
            # the client reconnects with its Last-Event-ID; say why this stream ended
            log.exception("an event stream failed")
            raise
        finally:
            self._streams -= 1
            metrics.EVENT_STREAMS.dec()


def _cursor(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise bad_request("Last-Event-ID is the id of an event this stream sent (a number)")
    return int(value)


@router.get("/events", response_class=EventSourceResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def events(
    request: Request,
    actor: CurrentActor,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
    after: Annotated[str | None, Query(max_length=40, description="resume after this event id (as Last-Event-ID)")] = None,
    types: Annotated[str | None, Query(max_length=2000, description="event kinds to send, comma-separated (all by default)")] = None,
) -> EventSourceResponse:
    """The changes of the cases and tasks the caller may see, from now on (or after
    `Last-Event-ID`), as Server-Sent Events: each event's `event` is its kind (TaskClaimed,
    ItemTransitioned, CaseClosed, ...), its `id` the position to resume after, its data the
    case, the entry and the task it is about. A comment line is sent as a heartbeat."""
    cursor = _cursor(last_event_id if last_event_id is not None else after)
    kinds = frozenset(k.strip() for k in types.split(",") if k.strip()) if types else None
    hub: EventHub = request.app.state.events
    ping = request.app.state.settings.events_heartbeat_seconds
    stop = anyio.Event()
    return EventSourceResponse(
        hub.stream(actor, cursor, kinds, stop), ping=ping, headers={"Cache-Control": "no-store"},
        shutdown_event=stop, shutdown_grace_period=2.0,
    )
