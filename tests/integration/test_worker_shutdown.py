"""A worker stopped (SIGTERM) while one of its activities runs lets it finish within
CASEWORK_WORKER_SHUTDOWN_GRACE_SECONDS, then exits 0: a process task's HTTP call in the
service's hands at the stop is answered and recorded once, not cancelled and sent again by
the next worker."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import BOOKING, Stack

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]



class HoldingService:
    """Answers POST /book only once `release` is set; counts the requests it got."""

    def __init__(self) -> None:
        self.requests = 0
        self.arrived = threading.Event()
        self.release = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                service.requests += 1
                service.arrived.set()
                service.release.wait(60)
                body = json.dumps({"reference": f"B-{service.requests}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def test_a_stopped_worker_lets_its_running_activity_finish_and_exits_cleanly(tmp_path: Path) -> None:
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    (definitions / "booking.yaml").write_text(BOOKING.read_text())
    service = HoldingService()
    stack = Stack(tmp_path / "system", env={"CASEWORK_DEFINITIONS": str(definitions), "CASEWORK_WORKER_SHUTDOWN_GRACE_SECONDS": "30"})
    try:
        await stack.start()
        worker = stack.worker_list[0]
        async with httpx.AsyncClient(base_url=stack.gateway_list[0].url, timeout=20.0) as http:
            started = await http.post("/cases", headers=stack.auth("author"),
                                      json={"definition": "booking", "inputs": {"service": service.url}})
            assert started.status_code == 201, started.text
            cid = started.json()["caseInstanceId"]
            assert await asyncio.to_thread(service.arrived.wait, 30), "the process task never called"

            stopping = asyncio.create_task(asyncio.to_thread(worker.stop, 60.0))
            # the worker waits for its activity: still running while the call is held
            await asyncio.sleep(2.0)
            assert worker.running and not stopping.done()
            service.release.set()
            assert await stopping == 0
            assert "will wait 0:00:30 before cancelling activities" in (tmp_path / "system" / "worker0.log").read_text()

            worker.start()  # the next worker carries the case on from what was recorded
            for _ in range(300):
                tasks = (await http.get(f"/tasks/case/{cid}", headers=stack.auth("rev1"))).json()
                if any(t["taskName"] == "Confirm the booking" for t in tasks):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the case did not go on: {tasks}")
            case = (await http.get(f"/cases/{cid}", headers=stack.auth("author"))).json()
            # the call answered during the grace is the one recorded; it was never sent again
            assert case["file"]["reference"] == "B-1" and service.requests == 1
    finally:
        service.release.set()
        service.server.shutdown()
        stack.stop()
