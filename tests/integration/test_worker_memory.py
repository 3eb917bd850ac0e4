"""A worker's memory stays bounded by its cache, however many cases are open: cases the
worker evicts are freed (gc_tuning.EvictionCollector), and a case's input no longer holds
what the run has taken in (its definition, its carried state)."""

from __future__ import annotations

import asyncio
import gc
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

import gc_tuning
from settings import Settings
from store.db import Database
from tests.integration.conftest import EXAMPLES, Cases, load
from tests.support.http_service import LOCAL_SERVICES
from worker import build_worker
from workflows.actor import Actor
from workflows.case import CaseWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")

CACHED = 10
OPENED = 160
ALICE = Actor(user_id="alice", username="alice", groups=["employees"])
TRAVEL = {"traveller": "alice", "destination": "Oslo", "amount": 200, "ledger_url": "http://127.0.0.1:9"}


def live_instances(case_ids: set[str]) -> list[CaseWorkflow]:
    """The workflow objects of these cases still in memory, garbage not yet collected included
    (gc.get_objects does not collect)."""
    return [o for o in gc.get_objects() if isinstance(o, CaseWorkflow) and getattr(o, "_state", None) is not None
            and o._state.case_id in case_ids]


async def test_cases_evicted_from_the_cache_are_freed(temporal_env: WorkflowEnvironment, tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await db.init()
    settings = Settings(task_queue=f"mem-{uuid.uuid4().hex[:8]}", data_dir=tmp_path, http_allow=LOCAL_SERVICES,
                        worker_cached_cases=CACHED)
    travel = load(EXAMPLES / "travel-request.yaml")
    try:
        async with build_worker(temporal_env.client, settings, db):
            cases = Cases(temporal_env.client, settings.task_queue, db)
            travel = await cases.deploy(travel)
            collector = gc_tuning.eviction_collector(CACHED)
            before = collector.collections
            ids: set[str] = set()
            for _ in range(OPENED // 10):
                handles = await asyncio.gather(*(cases.start(travel, ALICE, TRAVEL)
                                                 for _ in range(10)))
                # each case runs its first workflow task (a query waits for it)
                views = await asyncio.gather(*(Cases.view(h, ALICE) for h in handles))
                assert all(v is not None and v.state == "Active" for v in views)
                ids |= {h.id for h in handles}
            # at most a collector's interval of evicted instances are left, then it runs
            every = collector.every
            for _ in range(100):
                alive = len(live_instances(ids))
                if alive <= CACHED + every and collector.collections > before:
                    break
                await asyncio.sleep(0.1)
            assert collector.collections > before, "no full collection ran after the evictions"
            assert alive <= CACHED + every, f"{alive} instances of {OPENED} cases still in memory (cache {CACHED})"
            # what a cached case's input still holds: its settings, not its definition or state
            for instance in live_instances(ids):
                assert instance._input.definition is None and instance._input.state is None
                assert instance._state.definition is not None
    finally:
        await db.close()
