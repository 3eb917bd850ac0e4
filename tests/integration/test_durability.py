"""Durability: a worker killed with SIGKILL mid-case, and a dev server stopped and started again
on the same data file. No acknowledged action may be lost; no case may be wedged."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from tests.integration.conftest import load
from tests.integration.test_case_workflow import eventually, states
from tests.support.processes import DevServer, WorkerProcess
from workflows.actor import Actor
from workflows.case import GATEWAY_GRACE, ActionRequest, ActionResult, CaseInput, CaseWorkflow
from workflows.engine.commands import Claim, Complete, MergeFile

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

ALICE = Actor(user_id="alice", groups=["staff"])

CHAIN = """
id: chain
name: Chain
roles: {staff: {groups: [staff]}}
plan:
  items:
    - {id: a, type: humanTask, name: A, role: staff, output: {n: {type: integer}}}
    - {id: b, type: humanTask, name: B, role: staff, entry: [{on: [a.complete]}]}
    - {id: reminder, type: timer, name: Reminder, after: PT8S}
    - {id: late, type: milestone, name: Late, entry: [{on: [reminder.occur]}]}
"""


async def act(client: Client, case_id: str, command: Any, key: str) -> ActionResult:
    return await client.get_workflow_handle(case_id).execute_update(
        CaseWorkflow.act, ActionRequest(command=command), id=key, result_type=ActionResult
    )


async def start(client: Client, queue: str) -> str:
    case_id = uuid.uuid4().hex
    inp = CaseInput(case_id=case_id, case_number=1, definition=load(CHAIN), actor=ALICE)
    await client.start_workflow(CaseWorkflow.run, inp, id=case_id, task_queue=queue)
    return case_id


@pytest.fixture
def server(tmp_path: Path) -> Any:
    dev = DevServer(tmp_path / "temporal.db").start()
    yield dev
    dev.stop()


async def test_worker_killed_mid_case_loses_no_acknowledged_action(server: DevServer, tmp_path: Path) -> None:
    client = await server.wait_ready()
    queue = f"kill-{uuid.uuid4().hex[:6]}"
    worker = WorkerProcess(temporal_address=server.address, task_queue=queue, data_dir=tmp_path, log_file=tmp_path / "w1.log").start()
    try:
        case_id = await start(client, queue)
        acknowledged = [await act(client, case_id, Claim(actor=ALICE, item_id="a"), "claim-a")]
        for i in range(5):
            acknowledged.append(await act(client, case_id, MergeFile(actor=ALICE, data={f"k{i}": i}), f"merge-{i}"))
        # an action in flight when the worker dies: sent, then SIGKILL, then a new worker
        in_flight = asyncio.create_task(act(client, case_id, Complete(actor=ALICE, item_id="a", output={"n": 7}), "complete-a"))
        await asyncio.sleep(0.05)
        assert worker.kill9() == -9
        worker = WorkerProcess(temporal_address=server.address, task_queue=queue, data_dir=tmp_path, log_file=tmp_path / "w2.log").start()
        done = await asyncio.wait_for(in_flight, timeout=120)
        assert done.task is not None and done.task.taskState == "Completed"
        # the same key again: the same answer, and still one completion
        again = await act(client, case_id, Complete(actor=ALICE, item_id="a", output={"n": 7}), "complete-a")
        assert again == done
        view = await client.get_workflow_handle(case_id).query(CaseWorkflow.case, ALICE)
        assert view.file == {"n": 7, **{f"k{i}": i for i in range(5)}}
        assert states(view)["b"] == "Active"
        history = await client.get_workflow_handle(case_id).query(CaseWorkflow.history, ALICE)
        assert [h.action for h in history].count("complete") == 1
        assert [h.action for h in history].count("casefile") == 5
        # and the case is not wedged: it still takes actions
        claimed = await act(client, case_id, Claim(actor=ALICE, item_id="b"), "claim-b")
        assert claimed.task is not None and claimed.task.assignee == "alice"
    finally:
        worker.stop()


async def test_dev_server_restart_keeps_open_cases_and_their_timers(tmp_path: Path) -> None:
    dev = DevServer(tmp_path / "temporal.db").start()
    queue = f"restart-{uuid.uuid4().hex[:6]}"
    worker = None
    try:
        client = await dev.wait_ready()
        worker = WorkerProcess(temporal_address=dev.address, task_queue=queue, data_dir=tmp_path, log_file=tmp_path / "w.log").start()
        case_id = await start(client, queue)
        await act(client, case_id, Claim(actor=ALICE, item_id="a"), "claim-a")
        before = await client.get_workflow_handle(case_id).query(CaseWorkflow.case, ALICE)
        reminder = next(p for p in before.planitems if p.id == "reminder")
        assert reminder.occursAt is not None and states(before)["late"] == "Available"
        worker.stop()
        assert dev.stop() is not None and not dev.running
        dev.start()  # same file, same port
        client = await dev.wait_ready()
        worker = WorkerProcess(temporal_address=dev.address, task_queue=queue, data_dir=tmp_path, log_file=tmp_path / "w.log").start()
        handle = client.get_workflow_handle(case_id)
        after = await handle.query(CaseWorkflow.case, ALICE)
        task_a = next(p for p in after.planitems if p.id == "a")
        assert task_a.taskState == "Assigned" and task_a.assignee == "alice"
        # the timer set before the restart still fires, at its absolute time
        fired = await eventually(lambda: handle.query(CaseWorkflow.case, ALICE), lambda v: states(v)["late"] == "Completed")
        occurred = next(h for h in await handle.query(CaseWorkflow.history, ALICE) if h.action == "occur" and h.planItemId == "reminder")
        assert occurred.at >= reminder.occursAt
        assert states(fired)["reminder"] == "Completed"
        done = await act(client, case_id, Complete(actor=ALICE, item_id="a", output={"n": 1}), "complete-a")
        assert done.task is not None and done.task.taskState == "Completed"
    finally:
        if worker is not None:
            worker.stop()
        dev.stop()


async def _read_model_row(db: Any, case_id: str) -> tuple[int | None, list[Any]]:
    from sqlalchemy import select

    from store.tables import CaseRow, DelegationRow

    from sqlalchemy.exc import OperationalError

    try:
        async with db.session() as session:
            version = (await session.execute(select(CaseRow.version).where(CaseRow.case_id == case_id))).scalar_one_or_none()
            rows = list((await session.execute(select(DelegationRow).where(DelegationRow.case_id == case_id).order_by(DelegationRow.del_index))).scalars())
    except OperationalError:  # the worker has not created the tables yet
        return None, []
    return version, rows


async def test_worker_killed_while_its_projection_waits(server: DevServer, tmp_path: Path) -> None:
    """The read model is held locked, so the case's own projection of a claim cannot be
    written; the claim answers anyway (an action waits for Temporal, not for the read model)
    and the worker is killed while its projection activity waits. Nothing the case did not
    record reaches the read model, and once the lock is gone and a new worker runs, the read
    model holds exactly the case's state."""
    import sqlite3

    from store.db import Database

    client = await server.wait_ready()
    queue = f"proj-{uuid.uuid4().hex[:6]}"
    db_file = tmp_path / "casework.db"
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    worker = WorkerProcess(temporal_address=server.address, task_queue=queue, data_dir=tmp_path, log_file=tmp_path / "w1.log").start()
    lock = None
    try:
        case_id = await start(client, queue)
        version, _ = await eventually(lambda: _read_model_row(db, case_id), lambda r: r[0] == 1)
        lock = sqlite3.connect(db_file, isolation_level=None, timeout=30)
        lock.execute("BEGIN EXCLUSIVE")  # no writer gets in until this ends
        claimed = await asyncio.wait_for(act(client, case_id, Claim(actor=ALICE, item_id="a"), "claim-a"), timeout=30)
        assert claimed.task is not None and claimed.task.assignee == "alice" and claimed.caseVersion == 2
        # the change a gateway would write; with no gateway here, the case writes it itself
        # once its grace for gateways has passed, and that write now waits for the lock
        assert claimed.change is not None and [d.item_id for d in claimed.change.doc.delegations] == ["a"]
        await asyncio.sleep(GATEWAY_GRACE.total_seconds() + 1.5)
        assert worker.kill9() == -9
        lock.rollback()
        lock.close()
        lock = None
        version, rows = await _read_model_row(db, case_id)
        assert version == 1 and rows[0].task_state == "Unassigned"  # the claim never reached the read model
        worker = WorkerProcess(temporal_address=server.address, task_queue=queue, data_dir=tmp_path, log_file=tmp_path / "w2.log").start()
        handle = client.get_workflow_handle(case_id)

        async def both() -> tuple[int | None, list[Any], int]:
            stored, rows = await _read_model_row(db, case_id)
            return stored, rows, (await handle.query(CaseWorkflow.case, ALICE)).caseVersion

        # caught up with the case (whose timer may have fired meanwhile), the claim included
        version, rows, _ = await eventually(both, lambda r: r[0] is not None and r[0] == r[2] and r[0] >= claimed.caseVersion, tries=300)
        assert [(r.item_id, r.task_state, r.assignee, r.open) for r in rows] == [("a", "Assigned", "alice", True)]
        done = await act(client, case_id, Complete(actor=ALICE, item_id="a", output={"n": 3}), "complete-a")
        version, rows, _ = await eventually(both, lambda r: r[0] is not None and r[0] == r[2] and r[0] >= done.caseVersion, tries=300)
        assert [(r.item_id, r.task_state, r.open) for r in rows] == [("a", "Completed", False), ("b", "Unassigned", True)]
    finally:
        if lock is not None:
            lock.close()
        worker.stop()
        await db.close()
