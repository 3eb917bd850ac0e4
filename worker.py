"""The worker: runs CaseWorkflow and its activities on the task queue of the settings."""

from __future__ import annotations

import asyncio
import logging
import signal

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.http_calls import http_call, validate_output
from activities.subcases import SubCaseActivities
from settings import Settings, get_settings
from store.db import Database
from workflows import search_attributes
from workflows.case import CaseWorkflow

log = logging.getLogger("casework.worker")

# The project's own modules are deterministic and imported once; the CEL library is a
# native extension. Passing them through keeps the sandbox from re-importing them per task.
PASSTHROUGH = ("workflows", "activities", "cel", "pydantic", "pydantic_core", "yaml", "jsonpath_ng")


def sandbox() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the case search attributes on a cluster that lacks them (the embedded dev
    server gets them from its command line)."""
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    have = set(existing.custom_attributes)
    missing = {
        key.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}")
        for key in search_attributes.ALL
        if key.name not in have
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        log.info("registered search attributes %s", ", ".join(sorted(missing)))


def build_worker(client: Client, settings: Settings, db: Database) -> Worker:
    subcases = SubCaseActivities(db)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[CaseWorkflow],
        activities=[http_call, validate_output, subcases.prepare_sub_case],
        workflow_runner=sandbox(),
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = get_settings()
    client = await Client.connect(settings.temporal_target, namespace=settings.namespace, data_converter=pydantic_data_converter)
    await ensure_search_attributes(client, settings.namespace)
    db = Database(settings.read_model_url)
    await db.init()
    worker = build_worker(client, settings, db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker on task queue %r at %s", settings.task_queue, settings.temporal_target)
    async with worker:
        await stop.wait()
    await db.close()


if __name__ == "__main__":
    asyncio.run(main())
