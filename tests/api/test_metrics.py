"""`/metrics`: the gateway's requests by route template and status, and the worker's Temporal
SDK metrics on the address of CASEWORK_WORKER_METRICS_ADDRESS."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import HERE as API_TESTS, Gateway
from tests.support import http_service
from tests.support.processes import WorkerProcess, free_port
from tests.support.stack import BOOKING, Stack


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





async def test_the_read_model_lag_and_the_open_cases_are_measured_where_they_happen(tmp_path: Path) -> None:
    """The gateway times the changes it writes (each action's), the worker those no gateway
    saw (here a process task's outcome), and the worker counts the open cases."""
    service, server = http_service.serve()
    service.answer("/book", (200, {"reference": "R-1"}))
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    (definitions / "booking.yaml").write_text(BOOKING.read_text())
    (definitions / "review.yaml").write_text((API_TESTS / "definitions" / "review.yaml").read_text())
    address = f"127.0.0.1:{free_port()}"
    stack = Stack(tmp_path / "system", env={
        "CASEWORK_DEFINITIONS": str(definitions), "CASEWORK_WORKER_METRICS_ADDRESS": address, "CASEWORK_WORKER_GAUGE_SECONDS": "0.2",
    })
    try:
        await stack.start()
        async with httpx.AsyncClient(base_url=stack.gateway_list[0].url, timeout=20.0) as http:
            async def ok(method: str, path: str, user: str, **kw: Any) -> httpx.Response:
                resp = await http.request(method, path, headers=stack.auth(user), **kw)
                assert resp.status_code < 300, resp.text
                return resp

            for subject in ("one", "two", "three"):
                await ok("POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": subject}})
            closed = (await ok("POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": "closed"}})).json()
            await ok("PUT", f"/tasks/{closed['caseInstanceId']}.review/claim", "rev1")
            await ok("POST", f"/tasks/{closed['caseInstanceId']}.review/complete", "rev1", json={"verdict": "reject"})
            booked = (await ok("POST", "/cases", "author", json={"definition": "booking", "inputs": {"service": service.url}})).json()

            async def worker_metrics() -> str:
                try:
                    answer = await http.get(f"http://{address}/metrics")
                except httpx.HTTPError:
                    return ""
                return answer.text if answer.status_code == 200 else ""

            text = ""
            for _ in range(300):
                text = await worker_metrics()
                if sample(text, "casework_open_cases") == 4 and sample(text, "casework_projection_lag_seconds_count") >= 1:
                    break
                await asyncio.sleep(0.1)
            # four cases open (the closed one is not), and the process task's outcome, which no
            # gateway saw, was written by the worker
            assert sample(text, "casework_open_cases") == 4, text[-2000:]
            assert sample(text, "casework_projection_lag_seconds_count") >= 1
            # in seconds, with the gateway's buckets (not the SDK's millisecond ones)
            assert re.search(r'^casework_projection_lag_seconds_bucket\{[^}]*le="0\.25"', text, re.M), text[-3000:]
            case = (await ok("GET", f"/cases/{booked['caseInstanceId']}", "author")).json()
            assert case["file"]["reference"] == "R-1"
            # the gateway wrote the five starts itself, before answering them (and the actions,
            # but for a closing case's last change, which the worker may write first)
            gateway_text = (await http.get("/metrics")).text
            assert sample(gateway_text, "casework_projection_lag_seconds_count") >= 5
    finally:
        server.shutdown()
        stack.stop()
