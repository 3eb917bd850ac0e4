"""`/health` and `/ready` as a load balancer uses them: 200 only while the gateway can serve,
503 naming the check that failed (Temporal, the read model, a worker on the task queue)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.app import create_app
from settings import Settings
from tests.api.conftest import Gateway, gateway_settings
from tests.support.processes import DevServer
from worker import build_worker



def sqlite_settings(request: pytest.FixtureRequest, temporal_env: Any, data: Path) -> Settings:
    """A gateway's settings on the session's dev server, the read model on SQLite in `data`."""
    on_sqlite = SimpleNamespace(param="sqlite", getfixturevalue=request.getfixturevalue)
    return gateway_settings(on_sqlite, temporal_env, data, "ready")  # type: ignore[arg-type]


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
            yield http, app


async def test_ready_when_temporal_the_read_model_and_a_worker_are_there(gateway: Gateway) -> None:
    live = await gateway.http.get("/health")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = await gateway.http.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"temporal": "ok", "database": "ok", "worker": "ok"}}
    assert ready.headers["cache-control"] == "no-store"


async def test_not_ready_without_a_worker_on_the_task_queue(request: pytest.FixtureRequest, temporal_env: Any, tmp_path: Path) -> None:
    settings = sqlite_settings(request, temporal_env, tmp_path)
    async with served(settings) as (http, app):
        answer = await http.get("/ready")
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["temporal"] == "ok" and checks["database"] == "ok"
        assert checks["worker"] == f"no worker polls the task queue '{settings.task_queue}'"
        # a worker comes: the gateway is ready (the server lists a poller once it has polled)
        async with build_worker(temporal_env.client, settings, app.state.service.db):
            for _ in range(150):
                answer = await http.get("/ready")
                if answer.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert answer.json()["checks"]["worker"] == "ok"
        assert (await http.get("/health")).status_code == 200


async def test_not_ready_while_the_read_model_is_behind_the_code(request: pytest.FixtureRequest, temporal_env: Any, tmp_path: Path) -> None:
    settings = sqlite_settings(request, temporal_env, tmp_path)
    async with served(settings) as (http, app):
        db = app.state.service.db
        current, head = await db.migration_state()
        assert current == head
        async with db.engine.begin() as conn:  # as if another release's gateway had migrated it back
            await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        answer = await http.get("/ready")
        assert answer.status_code == 503
        assert answer.json()["checks"]["database"] == f"the read model is at revision 0001, the code needs {head}"
        assert answer.json()["checks"]["temporal"] == "ok"


async def test_not_ready_when_temporal_is_gone(request: pytest.FixtureRequest, temporal_env: Any, tmp_path: Path) -> None:
    server = DevServer(tmp_path / "temporal.db").start()
    try:
        await server.wait_ready()
        settings = sqlite_settings(request, temporal_env, tmp_path).model_copy(update={"temporal_address": server.address})
        async with served(settings) as (http, _app):
            assert (await http.get("/ready")).json()["checks"]["temporal"] == "ok"
            server.stop()
            answer = await http.get("/ready")
            assert answer.status_code == 503
            checks = answer.json()["checks"]
            assert checks["temporal"] != "ok" and checks["worker"] != "ok" and checks["database"] == "ok"
            assert server.address not in answer.text and str(server.port) not in answer.text
            assert (await http.get("/health")).status_code == 200
    finally:
        server.stop()
