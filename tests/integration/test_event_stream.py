"""The live event stream (`GET /events`) through real gateway processes: a client gets every
entry of a scripted case in the case's order, once, and resumes with `Last-Event-ID` on its
gateway restarted after a kill; a pool member outside the case hears of the task offered to
them and claimed away, and nothing else; an outsider's stream gets heartbeats and nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import HERE as API_TESTS, user_id, write_directory
from tests.api.test_metrics import sample
from tests.support.processes import DevServer, GatewayProcess, WorkerProcess


@dataclass
class Stream:
    """One SSE client: the events it got (id, kind, data) and the comment lines (heartbeats)."""

    url: str
    token: str
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    comments: int = 0

    async def run(self, http: httpx.AsyncClient, last_id: int | None = None) -> None:
        """Read until the connection ends (the gateway dies) or the task is cancelled."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        fields: dict[str, str] = {}
        try:
            async with http.stream("GET", f"{self.url}/events", headers=headers, timeout=httpx.Timeout(30.0, read=None)) as resp:
                assert resp.status_code == 200, await resp.aread()
                assert resp.headers["content-type"].startswith("text/event-stream")
                async for line in resp.aiter_lines():
                    if line.startswith(":"):
                        self.comments += 1
                    elif line == "":
                        if "data" in fields:
                            self.events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                        fields = {}
                    else:
                        name, _, value = line.partition(":")
                        fields[name] = value[1:] if value.startswith(" ") else value
        except (httpx.RemoteProtocolError, httpx.ReadError):
            pass  # the gateway went away mid-stream

    def of_case(self, case_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        return [e for e in self.events if e[2]["caseInstanceId"] == case_id]


async def until(check: Any, seconds: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        assert loop.time() < deadline, "not reached in time"
        await asyncio.sleep(0.1)


async def test_a_stream_gets_every_entry_once_in_order_and_resumes_on_another_gateway(tmp_path: Path) -> None:
    write_directory(tmp_path / "directory.yaml")
    dev = DevServer(tmp_path / "temporal.db", log_file=tmp_path / "temporal.log").start()
    env = {"CASEWORK_DIRECTORY": str(tmp_path / "directory.yaml"), "CASEWORK_DEFINITIONS": str(API_TESTS / "definitions"),
           "CASEWORK_EVENTS_HEARTBEAT_SECONDS": "1"}
    common = dict(temporal_address=dev.address, task_queue=f"events-{uuid.uuid4().hex[:6]}", data_dir=tmp_path, env=env)
    worker = WorkerProcess(**common, log_file=tmp_path / "worker.log")
    gateways = [GatewayProcess(**common, log_file=tmp_path / f"gateway{i}.log") for i in range(2)]
    tasks: list[asyncio.Task[None]] = []
    try:
        await dev.wait_ready()
        worker.start()
        gateways[0].start()
        await gateways[0].wait_ready()
        gateways[1].start()  # after the first: it made the token signing key
        await gateways[1].wait_ready()
        async with httpx.AsyncClient(timeout=20.0) as http:
            tokens = {}
            for name in ("author", "rev1", "rev2", "outsider"):
                resp = await http.post(f"{gateways[0].url}/oauth2/token",
                                       data={"grant_type": "password", "username": name, "password": f"{name}-pw"})
                tokens[name] = resp.json()["access_token"]

            async def call(gw: int, method: str, path: str, user: str, **kw: Any) -> httpx.Response:
                resp = await http.request(method, f"{gateways[gw].url}{path}", headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)
                assert resp.status_code < 300, resp.text
                return resp

            bad = await http.get(f"{gateways[0].url}/events", headers={"Authorization": f"Bearer {tokens['rev1']}", "Last-Event-ID": "x"})
            assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["detail"]
            assert (await http.get(f"{gateways[0].url}/events")).status_code == 401

            reviewer = Stream(gateways[0].url, tokens["rev1"])
            outsider = Stream(gateways[1].url, tokens["outsider"])
            pool = Stream(gateways[1].url, tokens["rev2"])
            tasks += [asyncio.create_task(s.run(http)) for s in (reviewer, outsider, pool)]
            await until(lambda: outsider.comments >= 1 and pool.comments >= 1)  # the streams are open and beating
            scraped = (await http.get(f"{gateways[1].url}/metrics")).text
            assert sample(scraped, "casework_event_streams") == 2  # the outsider's and the pool member's
            await asyncio.sleep(0.5)  # both hubs have read the feed's head

            # rev1 is on the case team from its start, so every entry is his whatever the moment
            # the reader resolves it; rev2 is only in the reviewers' pool
            team = {"users": [{"userId": user_id("rev1")}]}
            body = {"definition": "review", "inputs": {"subject": "events"}, "caseTeam": team}
            case = (await call(0, "POST", "/cases", "author", json=body)).json()
            cid = case["caseInstanceId"]
            task = f"{cid}.review"
            await call(0, "PUT", f"/tasks/{task}/claim", "rev1")
            await until(lambda: any(e[1] == "TaskClaimed" for e in reviewer.of_case(cid)))

            # the reviewer's gateway dies; the case goes on through the other one
            gateways[0].kill9()
            await asyncio.wait_for(tasks[0], 10)
            seen_before = list(reviewer.events)
            await call(1, "PUT", f"/tasks/{task}", "rev1", json={"verdict": "draft"})
            await call(1, "PUT", f"/cases/{cid}/casefile", "author", json={"note": "while the stream was down"})
            # the killed gateway comes back: a fresh process, whose reader starts at the feed's
            # head; only Last-Event-ID brings back what happened while it was away
            gateways[0].start()
            await gateways[0].wait_ready()
            await asyncio.sleep(1.0)
            tasks[0] = asyncio.create_task(reviewer.run(http, last_id=seen_before[-1][0]))
            await call(1, "POST", f"/tasks/{task}/complete", "rev1", json={"verdict": "accept"})

            history = (await call(1, "GET", f"/cases/{cid}/history", "author")).json()
            await until(lambda: len(reviewer.of_case(cid)) >= len(history))
            await asyncio.sleep(1.0)  # anything extra, or anything for the outsider, would show by now
            mine = reviewer.of_case(cid)
            # every entry the case recorded, once, in its order, with the typed event's kind
            assert [e[2]["seq"] for e in mine] == list(range(len(history)))
            assert [e[1] for e in mine] == [(h["event"] or {}).get("kind", "AuditEntry") for h in history]
            ids = [e[0] for e in reviewer.events]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
            claimed = next(e for e in mine if e[1] == "TaskClaimed")
            assert claimed[2]["task"]["planItemId"] == "review" and claimed[2]["caseName"] == "Review of events"
            assert outsider.of_case(cid) == [] and outsider.comments >= 2
            # rev2 (the reviewers' pool, not in the case): the task offered, then claimed away
            # and worked on by rev1, not the case's own changes (the case file)
            heard = [e[1] for e in pool.of_case(cid)]
            assert "TaskClaimed" in heard and "ItemTransitioned" in heard, heard
            assert "CaseFileChanged" not in heard and all(e[2]["planItemId"] == "review" for e in pool.of_case(cid))

            # a gateway that stops ends its streams cleanly (the clients reconnect elsewhere)
            gateways[1].stop()
            await asyncio.wait_for(asyncio.gather(tasks[1], tasks[2]), 10)
            log = (tmp_path / "gateway1.log").read_text()
            assert "without completing response" not in log and "Traceback" not in log
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for gw in gateways:
            gw.stop()
        worker.stop()
        dev.stop()
