"""A worker on its own task queue and store, and a local HTTP service for process tasks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from settings import Settings
from store import definitions as stored
from tests.support.http_service import HttpService, serve  # noqa: F401 - tests import HttpService from here
from store.db import Database
from worker import build_worker
from workflows.actor import Actor
from workflows.case import ActionRequest, ActionResult, CaseInput, CaseWorkflow
from workflows.definition import Definition, load_document, parse_definition
from tests.support.http_service import LOCAL_SERVICES

EXAMPLES = Path(__file__).parents[2] / "examples" / "definitions"


def load(path_or_text: str | Path) -> Definition:
    text = Path(path_or_text).read_text() if isinstance(path_or_text, Path) else path_or_text
    return parse_definition(load_document(text))


@dataclass
class Cases:
    client: Client
    queue: str
    db: Database
    search_attributes: bool = True

    async def deploy(self, definition: Definition) -> Definition:
        body = definition.model_dump(mode="json", by_alias=True, exclude={"version"})
        version, _ = await stored.deploy(self.db, definition.id, definition.name, definition.category, body, "test")
        return definition.model_copy(update={"version": version})

    async def start(self, definition: Definition, actor: Actor, inputs: dict[str, Any] | None = None, **kw: Any) -> WorkflowHandle:
        case_id = kw.pop("case_id", None) or uuid.uuid4().hex
        inp = CaseInput.new(case_id=case_id, case_number=1, definition=definition, actor=actor, inputs=inputs or {},
                        search_attributes=self.search_attributes, **kw)
        return await self.client.start_workflow(CaseWorkflow.run, inp, id=case_id, task_queue=self.queue)

    @staticmethod
    async def act(handle: WorkflowHandle, command: Any, key: str | None = None) -> ActionResult:
        return await handle.execute_update(CaseWorkflow.act, ActionRequest(command=command), id=key or uuid.uuid4().hex, result_type=ActionResult)

    @staticmethod
    async def view(handle: WorkflowHandle, actor: Actor) -> Any:
        return await handle.query(CaseWorkflow.case, actor)


async def _cases(env: WorkflowEnvironment, tmp: Path, search_attributes: bool) -> AsyncIterator[Cases]:
    db = Database(f"sqlite+aiosqlite:///{tmp / 'store.db'}")
    await db.init()
    settings = Settings(task_queue=f"it-{uuid.uuid4().hex[:8]}", data_dir=tmp, http_allow=LOCAL_SERVICES)
    async with build_worker(env.client, settings, db):
        yield Cases(env.client, settings.task_queue, db, search_attributes)
    await db.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def cases(temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cases]:
    async for c in _cases(temporal_env, tmp_path_factory.mktemp("cases"), True):
        yield c


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def skipping_cases(time_skipping_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cases]:
    # The time-skipping server has no visibility store, hence no search attributes.
    async for c in _cases(time_skipping_env, tmp_path_factory.mktemp("skipping"), False):
        yield c


@pytest.fixture(scope="session")
def http_service() -> Any:
    service, server = serve()
    yield service
    server.shutdown()
