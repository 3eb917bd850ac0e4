"""What the benchmarks share: percentiles, and waiting for a gateway subprocess to answer."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from run import Process
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def wait_health(url: str, procs: list[Process], tries: int = 600) -> None:
    """Until `GET /health` answers 200; a process that exits meanwhile ends the benchmark."""
    async with httpx.AsyncClient() as http:
        for _ in range(tries):
            for p in procs:
                if not p.running:
                    raise SystemExit(f"{p.name} exited: {p.describe_exit()}")
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the gateway did not come up")


@asynccontextmanager
async def gateway_and_worker(temporal_address: str, data: Path, env: dict[str, str]) -> AsyncIterator[str]:
    """`worker.py` and the gateway (uvicorn, as `make run` starts it) as subprocesses on a free
    port, with `CASEWORK_*` settings from `env`; yields the gateway's URL once it answers."""
    port = free_port()
    child_env = {
        **os.environ, "CASEWORK_TEMPORAL_ADDRESS": temporal_address, "CASEWORK_DATA_DIR": str(data),
        "CASEWORK_HTTP_PORT": str(port), **env,
    }
    logs = open(data / "processes.log", "ab")
    worker = Process("worker", [sys.executable, "worker.py"], env=child_env, output=logs, cwd=ROOT).start()
    gateway = Process(
        "gateway",
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port), "--log-level", "warning"],
        env=child_env, output=logs, cwd=ROOT,
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_health(url, [worker, gateway])
        yield url
    finally:
        gateway.stop()
        worker.stop()
        logs.close()
