"""The processes' logs with CASEWORK_LOG_FORMAT=json: every line of the gateway and the worker
is one JSON object naming its process, and the lines logged while a request is served carry
that request's id, which its answer carries in `X-Request-Id`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from tests.support.processes import DevServer, GatewayProcess, WorkerProcess


def json_lines(path: Path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines, f"{path.name} is empty"
    return [json.loads(line) for line in lines]  # a line that is not JSON fails here


async def test_json_logs_with_request_ids(tmp_path: Path) -> None:
    dev = DevServer(tmp_path / "temporal.db", log_file=tmp_path / "temporal.log").start()
    common = dict(temporal_address=dev.address, task_queue=f"logs-{uuid.uuid4().hex[:6]}", data_dir=tmp_path,
                  env={"CASEWORK_LOG_FORMAT": "json"})
    worker = WorkerProcess(**common, log_file=tmp_path / "worker.log")
    gateway = GatewayProcess(**common, log_file=tmp_path / "gateway.log")
    try:
        await dev.wait_ready()
        worker.start()
        gateway.start()
        await gateway.wait_ready()
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            mine = await http.get("/cases", headers={"Authorization": "Bearer not-a-token", "X-Request-Id": "lb-7f3a"})
            assert mine.status_code == 401 and mine.headers["x-request-id"] == "lb-7f3a"
            odd = await http.get("/cases", headers={"Authorization": "Bearer not-a-token", "X-Request-Id": "two words\tand a tab"})
            assert odd.status_code == 401
            new_id = odd.headers["x-request-id"]
            assert new_id != "two words\tand a tab" and len(new_id) == 32
            plain = await http.get("/health")
            assert plain.headers["x-request-id"] not in (new_id, "lb-7f3a")
    finally:
        gateway.stop()
        worker.stop()
        dev.stop()
    gateway_lines = json_lines(tmp_path / "gateway.log")
    assert {line["process"] for line in gateway_lines} == {"gateway"}
    rejected = [line for line in gateway_lines if line["message"].startswith("rejected a bearer token")]
    assert {line.get("request_id") for line in rejected} >= {"lb-7f3a", new_id}
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in gateway_lines)
    assert "not-a-token" not in (tmp_path / "gateway.log").read_text()
    worker_lines = json_lines(tmp_path / "worker.log")
    assert {line["process"] for line in worker_lines} == {"worker"}
    assert any("worker on task queue" in line["message"] for line in worker_lines)
