"""What the benchmarks share: percentiles, waiting for a gateway subprocess to answer, tokens
and travel-request cases at their `approve` task, and the CPU time of this process and its
children (the gateway, the worker, the Temporal dev server)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from run import Process
from settings import Settings
from tests.support.postgres import PostgresCluster
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def log(line: str = "") -> None:
    print(line, flush=True)


def run_and_exit(main: Any) -> None:
    """Run a benchmark's `main` coroutine, then leave without finalizing the interpreter:
    the SDK's native threads can abort it while it finalizes (see tests/conftest.py), and the
    figures are printed by then."""
    asyncio.run(main)
    sys.stdout.flush()
    os._exit(0)


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
async def gateway_and_worker(
    temporal_address: str, data: Path, env: dict[str, str], pids: dict[str, int] | None = None
) -> AsyncIterator[str]:
    """`worker.py` and the gateway (uvicorn, as `make run` starts it) as subprocesses on a free
    port, with `CASEWORK_*` settings from `env`; yields the gateway's URL once it answers.
    `pids`, when given, gets the two processes' ids (as "gateway" and "worker")."""
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
    if pids is not None:
        pids.update(gateway=gateway.pid, worker=worker.pid)
    try:
        await wait_health(url, [worker, gateway])
        yield url
    finally:
        gateway.stop()
        worker.stop()
        logs.close()


@contextmanager
def read_model(backend: str, data: Path) -> Iterator[str]:
    """The read model's URL: "sqlite", the file the gateway and worker use by default in
    `data`; "postgresql", a throwaway cluster (tests/support/postgres.py), stopped after."""
    if backend == "sqlite":
        yield Settings(data_dir=data).read_model_url
        return
    if backend != "postgresql":
        raise SystemExit(f"unknown backend {backend!r} (sqlite, postgresql)")
    cluster = PostgresCluster().start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


# ------------------------------------------------------------------ cases and tokens

TRAVEL_INPUTS = {"traveller": "alice", "destination": "Oslo", "amount": 2500, "ledger_url": "http://127.0.0.1:9"}


async def token(http: httpx.AsyncClient, user: str) -> dict[str, str]:
    """Bearer headers of an example user (password: username + "-demo")."""
    r = await http.post("/oauth2/token", data={"grant_type": "password", "username": user, "password": f"{user}-demo"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def case_at_approve(http: httpx.AsyncClient, alice: dict[str, str]) -> str:
    """A travel-request case started by alice with her `submit` done (amount > 1000), so its
    `approve` task waits in the managers' pool; returns that task's id."""
    r = await http.post("/cases", json={"definition": "travel-request", "inputs": TRAVEL_INPUTS}, headers=alice)
    r.raise_for_status()
    case_id = r.json()["caseInstanceId"]
    r = await http.post(f"/tasks/{case_id}.submit/complete", json={"justification": "bench"}, headers=alice)
    r.raise_for_status()
    return f"{case_id}.approve"


# ------------------------------------------------------------------ CPU time

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int | str) -> float:
    """User + system CPU of one process (all its threads), from /proc; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


class CpuMeter:
    """CPU seconds per process between two readings: this benchmark process (its HTTP
    clients, its bare worker, the SDK's threads), the gateway, the worker, and the Temporal
    dev server (found among this process's children by its command line)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = {"bench": os.getpid(), **pids}
        for child in _children(os.getpid()):
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"temporal" in cmd and b"server" in cmd and child not in self.pids.values():
                self.pids["temporal"] = child

    def read(self) -> dict[str, float]:
        return {name: _cpu_seconds(pid) for name, pid in self.pids.items()}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before.get(name, 0.0) for name in after}
