"""OpenTelemetry traces end to end: with CASEWORK_OTLP_ENDPOINT set, the gateway and the
worker export their spans by OTLP over HTTP to a collector (here a receiver on loopback that
decodes the protobuf requests), and one trace runs from the HTTP request through the
gateway's Temporal calls into the workflow and the activities it runs."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from tests.support import http_service
from tests.support.stack import BOOKING, Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    links: tuple[str, ...] = ()  # the span ids this span links to


class Collector:
    """An OTLP/HTTP trace receiver: every span of every export, by service."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    attrs = {a.key: a.value.string_value for a in resource.resource.attributes}
                    for scope in resource.scope_spans:
                        for s in scope.spans:
                            collector.spans.append(Span(attrs.get("service.name", ""), s.name, s.trace_id.hex(),
                                                        s.span_id.hex(), s.parent_span_id.hex(),
                                                        tuple(link.span_id.hex() for link in s.links)))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trace_of(self, service: str, name: str) -> list[Span]:
        """Every span of the (newest) trace holding the span named `name` of `service`."""
        roots = [s for s in self.spans if s.service == service and s.name == name]
        if not roots:
            return []
        return [s for s in self.spans if s.trace_id == roots[-1].trace_id]


async def test_one_trace_runs_from_the_request_through_the_workflow_into_its_activities(tmp_path: Path) -> None:
    collector = Collector()
    service, server = http_service.serve()
    service.answer("/book", (200, {"reference": "T-1"}))
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    (definitions / "booking.yaml").write_text(BOOKING.read_text())
    stack = Stack(tmp_path / "system", env={
        "CASEWORK_DEFINITIONS": str(definitions), "CASEWORK_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export every 0.2 s instead of 5 s
    })
    try:
        await stack.start()
        async with httpx.AsyncClient(base_url=stack.gateway_list[0].url, timeout=20.0) as http:
            started = await http.post("/cases", headers=stack.auth("author"), json={"definition": "booking", "inputs": {"service": service.url}})
            assert started.status_code == 201, started.text
            cid = started.json()["caseInstanceId"]
            for _ in range(300):
                listed = await http.get(f"/tasks/case/{cid}", headers=stack.auth("rev1"))
                if listed.status_code == 200 and listed.json():
                    break
                await asyncio.sleep(0.1)
            claimed = await http.put(f"/tasks/{cid}.confirm/claim", headers=stack.auth("rev1"))
            assert claimed.status_code == 200, claimed.text
            await http.get("/health")
            await http.get("/metrics")
            # a request after the probes: once its span is exported, theirs would have been
            last = await http.get(f"/cases/{cid}", headers=stack.auth("author"))
            assert last.status_code == 200

        def names(spans: list[Span]) -> set[tuple[str, str]]:
            return {(s.service, s.name) for s in spans}

        def handled(trace: list[Span]) -> list[Span]:
            """The worker's spans of the update that the trace's client span sent."""
            sent = {s.span_id for s in trace if s.name == "StartWorkflowUpdate:act"}
            return [s for s in collector.spans if s.service == "casework-worker" and sent & set(s.links)]

        start_trace: list[Span] = []
        claim_trace: list[Span] = []
        for _ in range(200):
            start_trace = collector.trace_of("casework-gateway", "POST /cases")
            claim_trace = collector.trace_of("casework-gateway", "PUT /tasks/{taskId}/claim")
            after_probes = any(s.service == "casework-gateway" and s.name == "GET /cases/{caseId}" for s in collector.spans)
            if ("casework-worker", "RunActivity:http_call") in names(start_trace) and len(handled(claim_trace)) >= 2 and after_probes:
                break
            await asyncio.sleep(0.1)

        # the start: the gateway's request, its update-with-start, the workflow's run on the
        # worker, and the process task's activity, in one trace
        assert {("casework-gateway", "POST /cases"), ("casework-gateway", "StartUpdateWithStartWorkflow:CaseWorkflow"),
                ("casework-worker", "RunWorkflow:CaseWorkflow"), ("casework-worker", "RunActivity:http_call")} <= names(start_trace), \
            names(start_trace)
        # an action: the request and its update in the request's trace; the workflow's
        # validation and handling of it belong to the case's own trace (the one its start
        # began), linked to the update that asked for them: a case is one long trace
        assert {("casework-gateway", "PUT /tasks/{taskId}/claim"), ("casework-gateway", "StartWorkflowUpdate:act")} <= names(claim_trace)
        assert {s.name for s in handled(claim_trace)} == {"ValidateUpdate:act", "HandleUpdate:act"}
        assert {s.trace_id for s in handled(claim_trace)} == {start_trace[0].trace_id}
        # each span's parent is in its trace (no orphan across the process boundary)
        for trace in (start_trace, claim_trace):
            ids = {s.span_id for s in trace}
            roots = [s for s in trace if s.parent_id not in ids]
            assert len(roots) == 1 and roots[0].service == "casework-gateway", roots
        # spans are named by route templates and types, never by ids; probes are not traced
        by_name: dict[str, int] = defaultdict(int)
        for s in collector.spans:
            by_name[s.name] += 1
            assert cid not in s.name
        assert "GET /cases/{caseId}" in by_name
        assert not any(n.startswith(("GET /health", "GET /metrics")) for n in by_name), sorted(by_name)
    finally:
        server.shutdown()
        collector.server.shutdown()
        stack.stop()


async def test_an_endpoint_that_is_not_a_url_is_one_line_at_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "worker.py"], capture_output=True, text=True, timeout=60,
                         env={"CASEWORK_OTLP_ENDPOINT": "collector:4318", "PATH": "/usr/bin:/bin", "CASEWORK_DATA_DIR": str(tmp_path)},
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 1 and run.stderr.strip().startswith("CASEWORK_OTLP_ENDPOINT:"), run.stderr
    assert "Traceback" not in run.stderr
