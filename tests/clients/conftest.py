"""A running system for the seeds' own client examples (a browser page, PHP scripts): a
Temporal dev server, `worker.py` and the gateway under uvicorn as `make run` starts them,
with the example definitions and directory, and one case in bob's to-do list (alice's
travel request, submitted; bob, a manager, took its approval)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.support.processes import DevServer, GatewayProcess, WorkerProcess, free_port


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def render(url: str, profile: Path) -> str:
    """The page's DOM in headless Chromium once its scripts and their requests are done
    (Chromium's virtual time runs until the page is idle, or the budget is spent)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run `make test` (it installs Debian's chromium) or apt-get install chromium")
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


@dataclass
class System:
    gateway: str
    token: str  # bob's access token
    title: str  # the case in his to-do list
    page_origin_port: int  # a port whose http://127.0.0.1 origin the gateway lets call it


def _token(gateway: str, username: str) -> dict[str, str]:
    resp = httpx.post(f"{gateway}/oauth2/token", data={"grant_type": "password", "username": username, "password": f"{username}-demo"})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """On the session's event loop (an asyncio.run of its own would replace the loop the
    other tests of the session run on)."""
    data = tmp_path_factory.mktemp("clients")
    page_port = free_port()
    dev = DevServer(data / "temporal.db", log_file=data / "temporal.log").start()
    common = dict(temporal_address=dev.address, task_queue=f"clients-{uuid.uuid4().hex[:6]}", data_dir=data)
    worker = WorkerProcess(**common, log_file=data / "worker.log")
    gateway = GatewayProcess(**common, log_file=data / "gateway.log", env={"CASEWORK_CORS_ORIGINS": f"http://127.0.0.1:{page_port}"})
    try:
        await dev.wait_ready()
        worker.start()
        gateway.start()
        await gateway.wait_ready()
        alice, bob = (_token(gateway.url, name) for name in ("alice", "bob"))
        start = httpx.post(
            f"{gateway.url}/cases", headers=alice,
            json={"definition": "travel-request", "inputs": {"traveller": "alice", "destination": "Lisbon", "amount": 1800, "ledger_url": "http://127.0.0.1:9"}},
        )
        assert start.status_code == 201, start.text
        case = start.json()["caseInstanceId"]
        done = httpx.post(f"{gateway.url}/tasks/{case}.submit/complete", headers=alice, json={"justification": "a conference"})
        assert done.status_code == 200, done.text
        claimed = httpx.put(f"{gateway.url}/tasks/{case}.approve/claim", headers=bob)
        assert claimed.status_code == 200, claimed.text
        yield System(gateway.url, bob["Authorization"].removeprefix("Bearer "), start.json()["name"], page_port)
    finally:
        gateway.stop()
        worker.stop()
        dev.stop()
