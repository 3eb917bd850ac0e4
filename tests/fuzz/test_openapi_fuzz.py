"""Schemathesis against the gateway's own OpenAPI document: every operation of the three
faces gets generated requests, valid and invalid, from a signed-in administrator and from a
plain user, and no answer may be a 5xx or stray from the schema (status codes, bodies,
content types). `make fuzz` runs it (bounded: `CASEWORK_FUZZ_EXAMPLES` examples per
operation and caller, 40 by default); `.ci/run` calls it after `make test`.

The system is real: a Temporal dev server, `worker.py` and the gateway under uvicorn as
`make run` starts them, with the example definitions and directory, in a folder of its own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import DevServer, GatewayProcess, WorkerProcess

EXAMPLES = int(os.environ.get("CASEWORK_FUZZ_EXAMPLES", "40"))
CALLERS = ("admin", "alice")  # every permission; a plain employee


@dataclass
class System:
    url: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data: Path = tmp_path_factory.mktemp("fuzz")
    dev = DevServer(data / "temporal.db", log_file=data / "temporal.log").start()
    common = dict(temporal_address=dev.address, task_queue=f"fuzz-{uuid.uuid4().hex[:6]}", data_dir=data)
    worker = WorkerProcess(**common, log_file=data / "worker.log")
    gateway = GatewayProcess(**common, log_file=data / "gateway.log")
    try:
        asyncio.run(dev.wait_ready())
        worker.start()
        gateway.start()
        asyncio.run(gateway.wait_ready())
        tokens = {}
        for name in CALLERS:
            resp = httpx.post(f"{gateway.url}/oauth2/token", data={"grant_type": "password", "username": name, "password": f"{name}-demo"})
            assert resp.status_code == 200, resp.text
            tokens[name] = resp.json()["access_token"]
        yield System(gateway.url, tokens)
    finally:
        gateway.stop()
        worker.stop()
        dev.stop()
    for log in ("gateway.log", "worker.log"):
        text = (data / log).read_text(errors="replace") if (data / log).exists() else ""
        assert "Traceback" not in text, f"{log} holds a traceback:\n{text[-4000:]}"


CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.mark.parametrize("caller", CALLERS)
def test_no_server_error_and_answers_follow_the_schema(system: System, caller: str) -> None:
    """The schemathesis command line (its pytest plugin does not run on pytest 9), with a
    fixed seed so that a failure can be replayed."""
    run = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "run", f"{system.url}/openapi.json",
         "--checks", CHECKS, "--header", f"Authorization: Bearer {system.tokens[caller]}",
         "--max-examples", str(EXAMPLES), "--phases", "examples,fuzzing", "--seed", "20261201",
         "--workers", "2", "--request-timeout", "30", "--generation-database", "none",
         # a valid request of the event stream never ends (tests/integration/test_event_stream.py)
         "--exclude-path", "/events"],
        capture_output=True, text=True, timeout=900,
    )
    output = run.stdout + run.stderr
    print(output[-3000:])  # the summary: operations, cases generated, seed (pytest -s shows it)
    assert run.returncode == 0, output
