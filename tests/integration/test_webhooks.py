"""Webhooks end to end, through the real gateway and worker processes and a receiver on
loopback: every event of a scripted case arrives, verified with the `standardwebhooks`
library, once per delivery id and in the case's order, across a receiver outage and a worker
killed in the middle of a delivery; filters and access hold; a delivery that keeps failing is
set aside, listed, and replayed with its id."""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tests.api.conftest import HERE as API_TESTS, user_id, write_directory
from tests.integration.test_event_stream import until
from tests.support.processes import DevServer, GatewayProcess, WorkerProcess


@dataclass
class Receiver:
    """Records every request (path, headers, body); answers per path: `up` 204, `down` 503,
    `hold` keeps the request open until released, then 204."""

    url: str = ""
    got: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    modes: dict[str, str] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    held: int = 0

    def on(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for p, h, b in self.got if p == path]


def serve() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            mode = receiver.modes.get(self.path, "up")
            if mode == "hold":
                receiver.held += 1
                receiver.release.wait(30)
            self.send_response(503 if mode == "down" else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server


def verified(secret: str, deliveries: list[tuple[dict[str, str], bytes]]) -> dict[str, dict[str, Any]]:
    """Each delivery checked with the library; by webhook-id, the payload (the same in every
    attempt of one id)."""
    by_id: dict[str, dict[str, Any]] = {}
    for headers, body in deliveries:
        payload = Webhook(secret).verify(body, headers)  # raises on a bad signature or an old timestamp
        assert by_id.setdefault(headers["webhook-id"], payload) == payload
    return by_id


async def test_webhooks_arrive_verified_once_per_id_in_order_through_outages_and_a_killed_worker(tmp_path: Path) -> None:
    write_directory(tmp_path / "directory.yaml")
    receiver, server = serve()
    dev = DevServer(tmp_path / "temporal.db", log_file=tmp_path / "temporal.log").start()
    env = {"CASEWORK_DIRECTORY": str(tmp_path / "directory.yaml"), "CASEWORK_DEFINITIONS": str(API_TESTS / "definitions"),
           "CASEWORK_WEBHOOK_POLL_SECONDS": "0.1", "CASEWORK_WEBHOOK_RETRY_SECONDS": "0.3",
           "CASEWORK_WEBHOOK_TIMEOUT_SECONDS": "1", "CASEWORK_WEBHOOK_MAX_ATTEMPTS": "6"}
    common = dict(temporal_address=dev.address, task_queue=f"hooks-{uuid.uuid4().hex[:6]}", data_dir=tmp_path, env=env)
    worker = WorkerProcess(**common, log_file=tmp_path / "worker.log")
    gateway = GatewayProcess(**common, log_file=tmp_path / "gateway.log")
    try:
        await dev.wait_ready()
        worker.start()
        gateway.start()
        await gateway.wait_ready()
        async with httpx.AsyncClient(base_url=gateway.url, timeout=20.0) as http:
            tokens = {}
            for name in ("author", "rev1", "outsider", "admin"):
                resp = await http.post("/oauth2/token", data={"grant_type": "password", "username": name, "password": f"{name}-pw"})
                tokens[name] = resp.json()["access_token"]

            async def call(method: str, path: str, user: str, expect: int | None = None, **kw: Any) -> httpx.Response:
                resp = await http.request(method, path, headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)
                assert resp.status_code == expect if expect else resp.status_code < 300, resp.text
                return resp

            # bad input: a URL the allow-list refuses, a malformed secret; nothing is created
            refused = await call("POST", "/subscriptions", "rev1", 422, json={"url": "http://10.9.9.9/hook"})
            assert "CASEWORK_HTTP_ALLOW" in refused.json()["detail"]
            await call("POST", "/subscriptions", "rev1", 422, json={"url": f"{receiver.url}/hook", "secret": "not-base64!"})
            assert (await call("GET", "/subscriptions", "rev1")).json() == []

            subs = {}
            for user, path, rule in (("rev1", "/hook", {}), ("rev1", "/filtered", {"types": ["TaskClaimed"]}),
                                     ("outsider", "/outsider", {}), ("rev1", "/broken", {"types": ["TaskClaimed"]})):
                made = (await call("POST", "/subscriptions", user, 201, json={"url": f"{receiver.url}{path}", "filter": rule})).json()
                assert made["secret"].startswith("whsec_") and made["state"] == "active"
                subs[path] = made
            # another user's subscription does not exist for them; an operator sees it
            await call("GET", f"/subscriptions/{subs['/hook']['id']}", "outsider", 404)
            assert "secret" not in (await call("GET", f"/subscriptions/{subs['/hook']['id']}", "admin")).json()
            receiver.modes["/broken"] = "down"

            # rev1 is on the case team from its start, so every entry is his whatever the moment
            # the dispatcher resolves it
            team = {"users": [{"userId": user_id("rev1")}]}
            case = (await call("POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": "hooks"}, "caseTeam": team})).json()
            cid = case["caseInstanceId"]
            task = f"{cid}.review"
            await call("PUT", f"/tasks/{task}/claim", "rev1")

            # the receiver is down for a while: the deliveries wait and are retried
            receiver.modes["/hook"] = "down"
            await call("PUT", f"/tasks/{task}", "rev1", json={"verdict": "draft"})
            await until(lambda: sum(1 for h, _ in receiver.on("/hook")) >= 3)
            await asyncio.sleep(1.0)
            receiver.modes["/hook"] = "up"

            # the worker is killed while a delivery is in the receiver's hands
            receiver.modes["/hook"] = "hold"
            held_before = receiver.held
            await call("PUT", f"/cases/{cid}/casefile", "author", json={"note": "during the kill"})
            await until(lambda: receiver.held > held_before)
            worker.kill9()
            receiver.modes["/hook"] = "up"
            receiver.release.set()
            worker.start()
            await call("POST", f"/tasks/{task}/complete", "rev1", json={"verdict": "accept"})

            history = (await call("GET", f"/cases/{cid}/history", "author")).json()

            def of_case() -> list[dict[str, Any]]:
                payloads = verified(subs["/hook"]["secret"], receiver.on("/hook")).values()
                return [p for p in payloads if p["data"]["caseInstanceId"] == cid]

            await until(lambda: len(of_case()) >= len(history), seconds=60)
            got = verified(subs["/hook"]["secret"], receiver.on("/hook"))
            mine = [p for p in got.values() if p["data"]["caseInstanceId"] == cid]
            # once per delivery id, every entry once, in the case's order of first arrival
            assert [p["data"]["seq"] for p in mine] == list(range(len(history)))
            assert [p["type"] for p in mine] == [(h["event"] or {}).get("kind", "AuditEntry") for h in history]
            assert len(receiver.on("/hook")) > len(got)  # some ids came more than once: the outage, the kill

            filtered = verified(subs["/filtered"]["secret"], receiver.on("/filtered"))
            assert [p["type"] for p in filtered.values()] == ["TaskClaimed"]
            assert receiver.on("/outsider") == []

            # the broken receiver's delivery is set aside after its attempts, then replayed
            broken = subs["/broken"]["id"]

            async def failed() -> list[dict[str, Any]]:
                return (await call("GET", f"/subscriptions/{broken}/deliveries?status=failed", "rev1")).json()

            for _ in range(300):
                if await failed():
                    break
                await asyncio.sleep(0.1)
            [aside] = await failed()
            assert aside["attempts"] == 6 and "503" in aside["lastError"] and aside["kind"] == "TaskClaimed"
            tries = len(receiver.on("/broken"))
            # (one more than recorded when an attempt was under way as the worker was killed)
            assert tries >= 6 and {h["webhook-id"] for h, _ in receiver.on("/broken")} == {aside["id"]}
            receiver.modes["/broken"] = "up"
            await call("POST", f"/subscriptions/{broken}/deliveries/{aside['id']}/replay", "rev1", 202)
            await until(lambda: len(receiver.on("/broken")) == tries + 1)
            last_headers, _ = receiver.on("/broken")[-1]
            assert last_headers["webhook-id"] == aside["id"]
            for _ in range(100):
                listed = (await call("GET", f"/subscriptions/{broken}/deliveries", "rev1")).json()
                if listed[0]["status"] == "delivered":
                    break
                await asyncio.sleep(0.1)
            assert listed[0]["status"] == "delivered" and listed[0]["attempts"] == 1

            # paused: nothing is sent; resumed: what happened meanwhile arrives
            await call("POST", f"/subscriptions/{subs['/filtered']['id']}/pause", "rev1")
            second = (await call("POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": "paused"}})).json()
            await call("PUT", f"/tasks/{second['caseInstanceId']}.review/claim", "rev1")
            await asyncio.sleep(1.5)
            assert len(verified(subs["/filtered"]["secret"], receiver.on("/filtered"))) == 1
            await call("POST", f"/subscriptions/{subs['/filtered']['id']}/resume", "rev1")
            await until(lambda: len(verified(subs["/filtered"]["secret"], receiver.on("/filtered"))) == 2)

            await call("DELETE", f"/subscriptions/{broken}", "rev1", 204)
            await call("GET", f"/subscriptions/{broken}", "rev1", 404)
    finally:
        receiver.release.set()
        gateway.stop()
        worker.stop()
        dev.stop()
        server.shutdown()
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
