"""Liveness and readiness, for load balancers and orchestrators (deploy/README.md).

`GET /health` answers while the process runs: a liveness probe restarts a gateway that no
longer answers at all. `GET /ready` answers 200 only when this gateway can serve requests:
Temporal answers, the read model answers and is migrated to the code's newest revision, and
a worker polls the task queue (without one, every action would time out). The checks run
at once, each within READY_TIMEOUT_SECONDS, so a frozen dependency makes the answer 503,
not slow. The body names every check; a failing one says what failed, never an address,
a URL or a credential.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest

READY_TIMEOUT_SECONDS = 2.0
OK = "ok"

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str  # "ready" or "not ready"
    checks: dict[str, str]  # check name: "ok", or what failed


async def _within(check: Awaitable[str], what: str) -> str:
    try:
        return await asyncio.wait_for(check, READY_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"{what} did not answer within {READY_TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # any failure of a dependency is a "not ready", with its kind
        return f"{what} failed: {type(exc).__name__}"


async def _temporal(request: Request) -> str:
    client = request.app.state.service.client
    await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=READY_TIMEOUT_SECONDS))
    return OK


async def _database(request: Request) -> str:
    current, head = await request.app.state.service.db.migration_state()
    if current != head:
        return f"the read model is at revision {current or 'none'}, the code needs {head}"
    return OK


async def _worker(request: Request) -> str:
    service = request.app.state.service
    answer = await service.client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=service.settings.namespace,
            task_queue=TaskQueue(name=service.settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=READY_TIMEOUT_SECONDS),
    )
    if not answer.pollers:
        return f"no worker polls the task queue '{service.settings.task_queue}'"
    return OK


@router.get("/health", response_model=Health, summary="Liveness: the gateway process answers")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready", response_model=Readiness, summary="Readiness: Temporal, the read model and a worker are there",
    responses={503: {"model": Readiness, "description": "A check failed; `checks` says which and what."}},
)
async def ready(request: Request) -> JSONResponse:
    names = ("temporal", "database", "worker")
    results = await asyncio.gather(
        _within(_temporal(request), "Temporal"),
        _within(_database(request), "the read model"),
        _within(_worker(request), "Temporal's task queue"),
    )
    checks = dict(zip(names, results))
    fine = all(result == OK for result in results)
    body = Readiness(status="ready" if fine else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if fine else 503, headers={"Cache-Control": "no-store"})
