"""Prometheus metrics of the gateway (`GET /metrics`): requests by route and status, their
latency, and Temporal RPC failures. The worker's metrics are the Temporal SDK's own, on the
address of `CASEWORK_WORKER_METRICS_ADDRESS` (worker.py).

Labels are route templates (`/tasks/{taskId}/claim`), methods and statuses, never ids,
users or tokens. Like /health and /ready the endpoint needs no token: keep it on the
operators' network (deploy/README.md).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from api.asgi import HttpMiddleware, Receive, Send

REQUESTS = Counter("casework_http_requests", "HTTP requests answered by the gateway", ["method", "route", "status"])
LATENCY = Histogram(
    "casework_http_request_duration_seconds", "Time from a request's arrival to its answer's start", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TEMPORAL_ERRORS = Counter("casework_temporal_rpc_errors", "Temporal RPCs of the gateway that failed, by gRPC status", ["status"])

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics of this gateway", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


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


def temporal_failed(status: Any) -> None:
    TEMPORAL_ERRORS.labels(getattr(status, "name", str(status))).inc()
