"""A local HTTP service whose answers a test scripts per path, for process tasks and validators."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What the tests' workers may call (CASEWORK_HTTP_ALLOW): these services, on loopback.
LOCAL_SERVICES = "127.0.0.1/32"


@dataclass
class HttpService:
    """Answers per path are a list of (status, body) served in turn, the last one repeating."""

    url: str
    script: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def answer(self, path: str, *responses: tuple[int, Any]) -> None:
        self.script[path] = list(responses)

    def calls_to(self, path: str) -> list[Any]:
        return [body for p, body in self.calls if p == path]


def serve() -> tuple[HttpService, ThreadingHTTPServer]:
    """Start the service on a free loopback port; call `server.shutdown()` when done."""
    service = HttpService(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            service.calls.append((self.path, json.loads(raw) if raw else None))
            queue = service.script.get(self.path) or [(404, {"error": "not scripted"})]
            status, body = queue.pop(0) if len(queue) > 1 else queue[0]
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return service, server
