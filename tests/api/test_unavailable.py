"""When no worker answers: the gateway says "retry with the same key" (504) or "busy" (429),
never "failed", and a retried key is applied once when a worker comes back."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from settings import Settings
from tests.api.conftest import HERE, write_directory
from worker import build_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_actions_without_a_worker_ask_for_a_retry_and_the_retry_lands_once(temporal_env: WorkflowEnvironment, tmp_path: Path) -> None:
    write_directory(tmp_path / "directory.yaml")
    settings = Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=f"no-worker-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path,
        directory=tmp_path / "directory.yaml",
        definitions=HERE / "definitions",
        action_timeout_seconds=3.0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            async def token(name: str) -> dict[str, str]:
                r = await http.post("/oauth2/token", data={"grant_type": "password", "username": name, "password": f"{name}-pw"})
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            author = await token("author")
            started = await http.post("/cases", json={"definition": "review", "inputs": {"subject": "s"}}, headers=author)
            assert started.status_code == 201  # starting needs no worker
            cid = started.json()["caseInstanceId"]
            keyed = {**author, "Idempotency-Key": "merge-1"}
            slow = await http.put(f"/cases/{cid}/casefile", json={"n": 1}, headers=keyed)
            assert slow.status_code == 504 and slow.headers["retry-after"]
            assert "same Idempotency-Key" in slow.json()["detail"]
            # many actions at once: Temporal admits 10 in flight per case and refuses the rest
            answers = await asyncio.gather(*[
                http.put(f"/cases/{cid}/casefile", json={"k": i}, headers={**author, "Idempotency-Key": f"burst-{i}"})
                for i in range(30)
            ])
            statuses = sorted({a.status_code for a in answers})
            assert set(statuses) <= {429, 503, 504} and 429 in statuses, statuses
            assert all(a.headers.get("retry-after") for a in answers)
            # a worker comes back; the retried key is applied once
            async with build_worker(temporal_env.client, settings, app.state.service.db):
                again = await http.put(f"/cases/{cid}/casefile", json={"n": 1}, headers=keyed)
                assert again.status_code == 200 and again.json()["n"] == 1
                history = (await http.get(f"/cases/{cid}/history", headers=author)).json()
                merges = [h for h in history if h["action"] == "casefile" and h["detail"] == "changed: n"]
                assert len(merges) == 1
