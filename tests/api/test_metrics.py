"""`/metrics`: the gateway's requests by route template and status, and the worker's Temporal
SDK metrics on the address of CASEWORK_WORKER_METRICS_ADDRESS."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import Gateway
from tests.support.processes import WorkerProcess, free_port


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when it is absent)."""
    for line in text.splitlines():
        if not labels and line.startswith(name + " "):  # a sample without labels
            return float(line.rsplit(" ", 1)[1])
        if not line.startswith(name + "{"):
            continue
        # the labels end at the last brace: a route template has braces of its own
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.rsplit("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_the_gateway_counts_requests_by_route_and_status(gateway: Gateway) -> None:
    case = await gateway.start()
    task = f"{case['caseInstanceId']}.review"
    route = "/tasks/{taskId}/claim"

    def claims(text: str, status: str) -> float:
        return sample(text, "casework_http_requests_total", method="PUT", route=route, status=status)

    before = (await gateway.http.get("/metrics")).text
    assert (await gateway.call("PUT", f"/tasks/{task}/claim", "rev1")).status_code == 200
    assert (await gateway.call("PUT", f"/tasks/{task}/claim", "outsider")).status_code == 404
    assert (await gateway.call("GET", "/no/such/path", "rev1")).status_code == 404
    answer = await gateway.http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    after = answer.text
    assert claims(after, "200") - claims(before, "200") == 1
    assert claims(after, "404") - claims(before, "404") == 1
    assert sample(after, "casework_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert sample(after, "casework_http_request_duration_seconds_count", method="PUT", route=route) >= 2
    # labels are route templates: no case id, task id or user in the text
    assert case["caseInstanceId"] not in after and "rev1" not in after and "outsider" not in after


async def test_the_worker_serves_the_sdk_metrics(temporal_env: Any, tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    worker = WorkerProcess(
        temporal_address=temporal_env.client.service_client.config.target_host, task_queue="metrics-test", data_dir=tmp_path,
        log_file=tmp_path / "worker.log", extra={"CASEWORK_WORKER_METRICS_ADDRESS": address},
    ).start()
    try:
        text = ""
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(150):
                assert worker.running, (tmp_path / "worker.log").read_text()
                try:
                    answer = await http.get(f"http://{address}/metrics")
                    if answer.status_code == 200 and 'task_queue="metrics-test"' in answer.text:
                        text = answer.text
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        assert text, "the worker never served its task queue's metrics"
        assert re.search(r'^temporal_\w+\{[^}]*task_queue="metrics-test"', text, re.M)
    finally:
        assert worker.stop() == 0

