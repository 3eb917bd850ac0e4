"""The process plumbing: the dev server `make run` starts keeps cases and search attributes
across restarts, and the shared fixtures work without internet."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from run import ROOT
from tests.support.processes import DevServer, WorkerProcess, free_port
from workflows.search_attributes import ALL

EXPECTED = {key.name: int(key.indexed_value_type) for key in ALL}


async def registered(client: Client, namespace: str = "default") -> dict[str, int]:
    request = ListSearchAttributesRequest(namespace=namespace)
    try:
        listed = await client.operator_service.list_search_attributes(request)
    except RPCError as exc:
        # The session's client may sit idle for minutes (the chaos test runs its own servers)
        # and its first call then finds the connection gone: CANCELLED, once, in a CI run.
        # This read is idempotent; asked again, it answers what it is asked.
        if exc.status != RPCStatusCode.CANCELLED:
            raise
        listed = await client.operator_service.list_search_attributes(request)
    return {name: kind for name, kind in listed.custom_attributes.items() if name in EXPECTED}


@pytest.mark.slow
async def test_restart_on_the_same_file_keeps_workflows_and_search_attributes(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "temporal.db", namespace="casework").start()
    try:
        client = await server.wait_ready()
        assert await registered(client, "casework") == EXPECTED
        # No worker polls this queue: the workflow just stays Running, as a case would.
        handle = await client.start_workflow(
            "NoSuchWorkflow", id=f"plumbing-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4()}"
        )
        assert server.stop() == 0

        # Same file, same port, same --search-attribute flags: must start again.
        server.start()
        client = await server.wait_ready()
        described = await client.get_workflow_handle(handle.id, run_id=handle.result_run_id).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
        assert await registered(client, "casework") == EXPECTED

        # And after a crash.
        server.kill()
        server.start()
        client = await server.wait_ready()
        described = await client.get_workflow_handle(handle.id).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
    finally:
        server.stop()


@pytest.mark.slow
async def test_attributes_missing_from_an_existing_file_are_registered(tmp_path: Path) -> None:
    # The CLI ignores --search-attribute for attributes that a db file made earlier lacks;
    # wait_ready (like `make run`) adds them through the operator service.
    db = tmp_path / "temporal.db"
    old = DevServer(db, search_attribute_flags=False).start()
    try:
        client = await old.wait_ready(register=False)
        assert await registered(client) == {}
    finally:
        old.stop()

    server = DevServer(db).start()
    try:
        client = await server.wait_ready(register=False)
        assert await registered(client) == {}, "the CLI now registers flags on old files: simplify devserver.py"
        client = await server.wait_ready()
        assert await registered(client) == EXPECTED
    finally:
        server.stop()


async def test_temporal_env_fixture_has_search_attributes(temporal_client: Client) -> None:
    assert await registered(temporal_client) == EXPECTED
    converter = temporal_client.data_converter
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class


async def test_time_skipping_env_skips_days(time_skipping_env) -> None:
    before = await time_skipping_env.get_current_time()
    await time_skipping_env.sleep(timedelta(days=3))
    assert await time_skipping_env.get_current_time() - before >= timedelta(days=3)


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "worker.py").exists(), reason="worker.py not written yet")
async def test_worker_process_polls_the_given_task_queue(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "temporal.db").start()
    queue = f"plumbing-{uuid.uuid4()}"
    worker = WorkerProcess(
        temporal_address=server.address, task_queue=queue, data_dir=tmp_path / "data", log_file=tmp_path / "worker.log"
    )
    try:
        client = await server.wait_ready()
        worker.start()
        for _ in range(150):
            assert worker.running, f"worker exited with {worker.returncode}: {(tmp_path / 'worker.log').read_text()}"
            pollers = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace="default",
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            if pollers.pollers:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the worker never polled its task queue")
        assert worker.kill9() == -9
    finally:
        worker.stop()
        server.stop()


def test_free_port_is_free() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
