"""Recorded workflow histories replay against the current CaseWorkflow (DESIGN.md section 4:
cases outlive deployments, so a change to workflow code must not change what an old
history's commands were). See tests/histories/README.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.histories.record import SCENARIOS, run_histories
from tests.integration.conftest import Cases, HttpService
from worker import sandbox
from workflows.case import CaseWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
FILES = sorted(HISTORIES.glob("*.json"))


def replayer(*workflows: type) -> Replayer:
    return Replayer(workflows=list(workflows or [CaseWorkflow]), data_converter=pydantic_data_converter, workflow_runner=sandbox())


def recorded() -> list[WorkflowHistory]:
    # The JSON holds no workflow id; the file's name stands in for it.
    return [WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8")) for path in FILES]


async def replay(histories: list[WorkflowHistory], *workflows: type) -> dict[str, Exception | None]:
    """Each history's replay failure (None: it replayed), by its workflow id.

    `replay_workflows(..., raise_on_replay_failure=False)` answers only the failures, keyed
    by run id; the iterator it is built on gives one result per history, so a history that
    was not replayed at all cannot pass unnoticed."""

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    out: dict[str, Exception | None] = {}
    async with replayer(*workflows).workflow_replay_iterator(each()) as results:
        async for result in results:
            out[result.history.workflow_id] = result.replay_failure
    assert len(out) == len(histories)
    return out


async def test_recorded_histories_replay() -> None:
    assert len(FILES) >= 5, f"the recorded histories are missing from {HISTORIES} (python -m tests.histories.record)"
    assert any(path.stem.endswith(".run2") for path in FILES), "the runs of a case that continued as new"
    failures = await replay(recorded())
    assert len(failures) == len(FILES)
    assert {name: repr(failure) for name, failure in failures.items() if failure is not None} == {}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_fresh_history_replays(cases: Cases, http_service: HttpService, name: str) -> None:
    """Caught even before the histories are re-recorded: what the current code writes, it replays."""
    workflows = await SCENARIOS[name](cases, http_service)
    histories = [
        WorkflowHistory.from_json(f"{file}.run{n}", history.to_json())  # through JSON, as the files are
        for file, workflow_id in workflows.items()
        for n, history in enumerate(await run_histories(cases.client, workflow_id), start=1)
    ]
    assert histories
    failures = await replay(histories)
    assert {wid: repr(failure) for wid, failure in failures.items() if failure is not None} == {}


@workflow.defn(name="CaseWorkflow", sandboxed=False)
class ChangedCaseWorkflow:
    """A deliberately incompatible CaseWorkflow: it starts with a timer the recorded runs never had."""

    @workflow.run
    async def run(self, inp: dict[str, Any]) -> None:
        await workflow.sleep(timedelta(seconds=1))


async def test_a_changed_workflow_fails_the_replay() -> None:
    """The check can fail: a changed workflow does not replay a recorded history."""
    history = WorkflowHistory.from_json("travel-request", (HISTORIES / "travel-request.json").read_text(encoding="utf-8"))
    failures = await replay([history], ChangedCaseWorkflow)
    failure = failures["travel-request"]
    assert isinstance(failure, workflow.NondeterminismError), repr(failure)
    assert (await replay([history]))["travel-request"] is None  # and the real one does replay it
