"""Real processes for durability tests: a Temporal dev server on a db file that outlives it,
and `python worker.py` that can be killed with SIGKILL.

Both build on `run.Process` and `devserver.command`, so tests restart exactly what
`make run` starts. Start them from the test's thread (the event loop's): children get
SIGTERM when the thread that started them ends (see run._die_with_parent).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import devserver
from run import ROOT, Process
from tests.support.http_service import LOCAL_SERVICES


async def start_dev_env() -> WorkflowEnvironment:
    """The dev server as tests, the history recorder and the benchmark use it: the venv's
    binary, the pydantic converter, the case search attributes, SQLite in WAL mode.

    Its store is in memory unless CASEWORK_TEST_TEMPORAL_DB names a file: a long soak
    (CASEWORK_SOAK_ACTIONS=100000) keeps gigabytes of closed runs' histories, more than the
    in-memory store held (the server crashed inside SQLite after about 355 runs)."""
    import os
    from datetime import timedelta

    from temporalio.contrib.pydantic import pydantic_data_converter

    from workflows.search_attributes import ALL

    return await WorkflowEnvironment.start_local(
        namespace="default",
        data_converter=pydantic_data_converter,
        search_attributes=ALL,
        ui=False,
        dev_server_existing_path=str(devserver.temporal_binary()),
        # start_local passes its own --log-level, so the level goes here, not in extra args.
        dev_server_log_level="error",
        dev_server_extra_args=devserver.SQLITE_PRAGMAS,
        dev_server_database_filename=os.environ.get("CASEWORK_TEST_TEMPORAL_DB") or None,
        # The default 5 s is tight on a busy 2-core machine.
        dev_server_startup_timeout=timedelta(seconds=30),
    )


def free_port() -> int:
    """A port nobody listens on right now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevServer:
    """`temporal server start-dev` on `db_file`; start, stop, kill and start again on the same file."""

    def __init__(
        self,
        db_file: Path,
        *,
        port: int | None = None,
        namespace: str = "default",
        ui_port: int | None = None,
        search_attribute_flags: bool = True,
        log_file: Path | None = None,
    ) -> None:
        self.db_file = Path(db_file)
        self.port = port or free_port()
        # a port of our own choosing may be taken by another process between free_port()
        # and the server's bind: then the first start may move to another one (never later,
        # when clients and restarts rely on it)
        self._may_move = port is None
        self.namespace = namespace
        self.log_file = log_file or self.db_file.with_suffix(".log")
        self._ui_port = ui_port
        self._search_attribute_flags = search_attribute_flags
        self._process = Process("temporal dev server", self._command())

    def _command(self) -> list[str]:
        return devserver.command(
            port=self.port,
            ui_port=self._ui_port,
            db_file=self.db_file,
            namespace=self.namespace,
            log_level="error",
            search_attribute_flags=self._search_attribute_flags,
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process.running

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def start(self) -> DevServer:
        """Start the process (again, after stop() or kill(): same file, same port)."""
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        self._process.output = open(self.log_file, "ab")
        self._process.start()
        return self

    async def wait_ready(self, timeout: float = 30.0, *, register: bool = True) -> Client:
        """Wait until the namespace answers; register missing search attributes (as `make run`
        does); return a client with the pydantic data converter."""
        for attempt in range(3):
            try:
                devserver.wait_for_port("127.0.0.1", self.port, timeout=timeout, alive=lambda: self.running)
                client = await devserver.connect_when_ready(
                    self.address, self.namespace, timeout=timeout, alive=lambda: self.running
                )
                break
            except devserver.NotReady:
                since_start = self.log_file.read_bytes()[self._log_offset:].decode(errors="replace")
                taken = attempt < 2 and "address already in use" in since_start
                if not (self._may_move and taken):
                    raise
                self._close_log()
                self.port = free_port()
                self._process = Process("temporal dev server", self._command())
                self.start()
        self._may_move = False
        if register:
            await devserver.ensure_search_attributes(client, self.namespace)
        return client

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        code = self._process.stop(timeout)
        self._close_log()
        return code

    def kill(self) -> int | None:
        """SIGKILL: a crash, no chance to flush."""
        code = self._process.kill()
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._process.output is not None:
            self._process.output.close()
            self._process.output = None


class _Service:
    """A project process (the worker, a gateway) run against a given Temporal server and task
    queue, with the settings given as CASEWORK_* variables; SIGKILL it and start it again."""

    kind = "service"

    def __init__(
        self,
        *,
        temporal_address: str,
        task_queue: str = "cases",
        data_dir: Path | None = None,
        namespace: str = "default",
        env: dict[str, str] | None = None,
        log_file: Path | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        overrides = {
            "CASEWORK_TEMPORAL_ADDRESS": temporal_address,
            "CASEWORK_TASK_QUEUE": task_queue,
            "CASEWORK_NAMESPACE": namespace,
            # the tests' HTTP services listen on loopback (tests/support/http_service.py)
            "CASEWORK_HTTP_ALLOW": LOCAL_SERVICES,
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }
        if data_dir is not None:
            overrides["CASEWORK_DATA_DIR"] = str(data_dir)
        self.env = {**os.environ, **overrides, **(env or {})}
        self.log_file = log_file
        self._process: Process | None = None

    def args(self) -> list[str]:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process else None

    def start(self):  # type: ignore[no-untyped-def]
        """Start a fresh process (call again after kill9() or stop())."""
        output = open(self.log_file, "ab") if self.log_file else None
        self._process = Process(self.kind, self.args(), env=self.env, output=output, cwd=ROOT)
        self._process.start()
        return self

    def kill9(self) -> int | None:
        """SIGKILL: the process dies mid-task, as in a crash."""
        return self._finish(self._process.kill() if self._process else None)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (graceful shutdown), then SIGKILL after `timeout`."""
        return self._finish(self._process.stop(timeout) if self._process else None)

    def _finish(self, code: int | None) -> int | None:
        if self._process is not None and self._process.output is not None:
            self._process.output.close()
            self._process.output = None
        return code


class WorkerProcess(_Service):
    """`python worker.py` against a given server and task queue."""

    kind = "worker"

    def args(self) -> list[str]:
        return [sys.executable, "worker.py"]


class GatewayProcess(_Service):
    """The gateway as `make run` starts it (`python -m uvicorn api.app:create_app --factory`)
    on 127.0.0.1 and a port of its own, kept across restarts."""

    kind = "gateway"

    def __init__(self, *, port: int | None = None, **kw: Any) -> None:
        self.port = port or free_port()
        super().__init__(**kw, extra={"CASEWORK_HTTP_HOST": "127.0.0.1", "CASEWORK_HTTP_PORT": str(self.port)})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until `GET /health` answers 200 (the gateway has migrated the read model, reached
        Temporal and deployed its definitions); RuntimeError if it exits or time runs out."""
        import asyncio
        import time

        import httpx

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if not self.running:
                    raise RuntimeError(f"the gateway on port {self.port} exited with code {self.returncode}")
                try:
                    if (await http.get(f"{self.url}/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway on port {self.port} did not answer /health within {timeout:.0f} s")
                await asyncio.sleep(0.1)

