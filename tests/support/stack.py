"""A whole system of real processes for a test: one dev server, workers and gateways on one
task queue and one read model (the data folder's SQLite, or a PostgreSQL URL), the API
tests' directory and definitions, and the directory's users logged in through a gateway."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import HERE as API_TESTS, USERS, write_directory
from tests.support.processes import DevServer, GatewayProcess, WorkerProcess

# a definition whose process task calls `{service}/book` (tests of workers and activities)
BOOKING = Path(__file__).parent / "definitions" / "booking.yaml"


@dataclass
class Stack:
    data: Path
    workers: int = 1
    gateways: int = 1
    database_url: str | None = None
    ui_port: int | None = None  # the dev server's Web UI, when a test looks at it
    env: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        write_directory(self.data / "directory.yaml")
        self.dev = DevServer(self.data / "temporal.db", log_file=self.data / "temporal.log", ui_port=self.ui_port)
        self.settings_env = {
            "CASEWORK_DIRECTORY": str(self.data / "directory.yaml"),
            "CASEWORK_DEFINITIONS": str(API_TESTS / "definitions"),
            **({"CASEWORK_DATABASE_URL": self.database_url} if self.database_url else {}),
            **self.env,
        }
        self.task_queue = f"stack-{uuid.uuid4().hex[:6]}"
        common: dict[str, Any] = dict(task_queue=self.task_queue, data_dir=self.data, env=self.settings_env)
        self._common = common
        self.worker_list: list[WorkerProcess] = []
        self.gateway_list: list[GatewayProcess] = []

    @property
    def cli_env(self) -> dict[str, str]:
        """What `casework` needs to reach this system (the variables of its processes)."""
        return {**self.settings_env, "CASEWORK_TEMPORAL_ADDRESS": self.dev.address, "CASEWORK_TASK_QUEUE": self.task_queue,
                "CASEWORK_DATA_DIR": str(self.data)}

    async def start(self) -> Stack:
        self.dev.start()
        await self.dev.wait_ready()
        common = {**self._common, "temporal_address": self.dev.address}
        self.worker_list = [WorkerProcess(**common, log_file=self.data / f"worker{i}.log") for i in range(self.workers)]
        self.gateway_list = [GatewayProcess(**common, log_file=self.data / f"gateway{i}.log") for i in range(self.gateways)]
        for w in self.worker_list:
            w.start()
        # one gateway at a time: the first makes the token signing key the others share
        for g in self.gateway_list:
            g.start()
            await g.wait_ready()
        async with httpx.AsyncClient(base_url=self.gateway_list[0].url, timeout=20.0) as http:
            for name in USERS:
                resp = await http.post("/oauth2/token", data={"grant_type": "password", "username": name, "password": f"{name}-pw"})
                resp.raise_for_status()
                self.tokens[name] = resp.json()["access_token"]
        return self

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def stop(self) -> None:
        for p in [*self.gateway_list, *self.worker_list]:
            p.stop()
        self.dev.stop()
