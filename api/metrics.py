"""Prometheus metrics of the gateway (`GET /metrics`): requests by route and status, their
latency, Temporal RPC failures, the event streams open on this gateway, how long after a
case's change this gateway wrote it into the read model, and, read from the
read model at each scrape, the webhook backlog (shared by every gateway: pending and set
aside deliveries, the age of the oldest pending one). The worker's metrics are the Temporal
SDK's own, with the worker's projection lag and the open cases beside them, on the address
of `CASEWORK_WORKER_METRICS_ADDRESS` (worker.py).

Labels are route templates (`/tasks/{taskId}/claim`), methods and statuses, never ids,
users or tokens. Like /health and /ready the endpoint needs no token: keep it on the
operators' network (deploy/README.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from api.asgi import HttpMiddleware, Receive, Send
from store import projection, subscriptions

REQUESTS = Counter("casework_http_requests", "HTTP requests answered by the gateway", ["method", "route", "status"])
LATENCY = Histogram(
    "casework_http_request_duration_seconds", "Time from a request's arrival to its answer's start", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TEMPORAL_ERRORS = Counter("casework_temporal_rpc_errors", "Temporal RPCs of the gateway that failed, by gRPC status", ["status"])
EVENT_STREAMS = Gauge("casework_event_streams", "GET /events streams open on this gateway")
DELIVERIES = Gauge("casework_webhook_deliveries", "Webhook deliveries waiting (pending) or set aside (failed), all workers", ["status"])
OLDEST_PENDING = Gauge("casework_webhook_oldest_pending_seconds", "Age of the oldest pending webhook delivery (0: none)")
PROJECTION_LAG = Histogram(
    projection.LAG_METRIC, "Time from a case's change to its write into the read model, by this gateway",
    buckets=projection.LAG_BUCKETS,
)
# a scrape waits at most this long for the read model's figures (else it shows the last ones)
BACKLOG_TIMEOUT = 2.0

router = APIRouter(tags=["operations"])
log = logging.getLogger("casework.gateway")


@router.get("/metrics", summary="Prometheus metrics of this gateway", response_class=Response)
async def metrics(request: Request) -> Response:
    await _read_backlog(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _read_backlog(request: Request) -> None:
    service = getattr(request.app.state, "service", None)
    if service is None:
        return
    try:
        counts, oldest = await asyncio.wait_for(subscriptions.backlog(service.db), BACKLOG_TIMEOUT)
    except Exception:  # the database away or slow: the scrape still answers
        log.warning("the webhook backlog could not be read for /metrics", exc_info=True)
        return
    for status, n in counts.items():
        DELIVERIES.labels(status).set(n)
    OLDEST_PENDING.set(max((datetime.now(UTC) - oldest).total_seconds(), 0.0) if oldest else 0.0)


class RequestMetrics(HttpMiddleware):
    """ASGI middleware: counts and times every HTTP request by its route template."""

    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                LATENCY.labels(scope["method"], _route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            REQUESTS.labels(scope["method"], _route(scope), str(status)).inc()


def _route(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def projected(doc: Any) -> None:
    """A change this gateway wrote into the read model (`doc`: the case at that change)."""
    PROJECTION_LAG.observe(projection.lag_seconds(doc))


def temporal_failed(status: Any) -> None:
    TEMPORAL_ERRORS.labels(getattr(status, "name", str(status))).inc()
