"""Two workers and two gateways against one Temporal dev server, the read model on
PostgreSQL, as deploy/README.md lays a cluster out: clients drive cases through both
gateways, and midway one worker and one gateway are stopped as an orchestrator stops them
(SIGTERM). Clients whose gateway went away send the same request, with the same
Idempotency-Key, to the other one, as a load balancer would. Once both stops have ended, every
client runs one more case through what is left.

Checked afterwards: both stopped processes ended cleanly (exit 0); every case went through
its whole life with each action in its audit trail exactly once; each case as listed by
either gateway equals the case's own answer; the read model holds each case's version."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from store.db import Database
from store.projection import stored_versions
from tests.support.postgres import PostgresCluster
from tests.support.stack import Stack

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

CLIENTS = 6
CASES_PER_CLIENT = 4
# each case: start, claim, save, complete the review, complete the publish task
STEPS = 5
RETRY_STATUSES = frozenset({429, 503, 504})
DEADLINE = 90.0  # seconds one action may take, retries included, before it counts as wedged


class Gateways:
    """Both gateways' clients; one that is being stopped takes no new requests."""

    def __init__(self, stack: Stack) -> None:
        self.http = [httpx.AsyncClient(base_url=g.url, timeout=20.0) for g in stack.gateway_list]
        self.down: set[int] = set()
        self.retried: Counter[str] = Counter()

    def pick(self, preferred: int) -> int:
        up = [i for i in range(len(self.http)) if i not in self.down]
        return preferred if preferred in up else up[0]

    async def send(self, preferred: int, method: str, path: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        """Until a 2xx or a final 4xx: on a lost connection or a retryable status, the same
        request (same key) again, to whichever gateway is up."""
        key = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempt = 0
        while True:
            i = self.pick((preferred + attempt) % len(self.http))
            attempt += 1
            try:
                resp = await self.http[i].request(method, path, headers={**headers, "Idempotency-Key": key}, **kw)
                if resp.status_code not in RETRY_STATUSES:
                    return resp
                self.retried[str(resp.status_code)] += 1
            except httpx.TransportError as exc:
                self.retried[type(exc).__name__] += 1
            if loop.time() - started > DEADLINE:
                raise AssertionError(f"{method} {path} unanswered after {DEADLINE:.0f} s")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        for h in self.http:
            await h.aclose()


async def test_two_workers_two_gateways_on_postgresql_with_one_of_each_stopped_midway(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    name = f"two_{uuid.uuid4().hex[:12]}"
    url = postgres_cluster.create_database(name)
    stack = Stack(tmp_path, workers=2, gateways=2, database_url=url)
    gateways: Gateways | None = None
    try:
        await stack.start()
        gateways = Gateways(stack)
        acks = 0
        stopped: dict[str, int | None] = {}
        ended: dict[str, int] = {}
        midway = CLIENTS * CASES_PER_CLIENT * STEPS // 3
        stopping: asyncio.Task[None] | None = None

        async def stop_one_of_each() -> None:
            gateways.down.add(0)  # the load balancer takes it out first
            async def stop(name: str, process: Any, timeout: float) -> None:
                stopped[name] = await asyncio.to_thread(process.stop, timeout)
                ended[name] = acks  # acknowledged by the time it had ended

            await asyncio.gather(stop("gateway", stack.gateway_list[0], 30.0), stop("worker", stack.worker_list[0], 40.0))

        async def step(n: int, method: str, path: str, user: str, **kw: Any) -> httpx.Response:
            nonlocal acks, stopping
            resp = await gateways.send(n, method, path, stack.auth(user), **kw)
            assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
            acks += 1
            if acks >= midway and stopping is None:
                stopping = asyncio.create_task(stop_one_of_each())
            return resp

        tokens: list[str] = []

        async def client(c: int, cases: int) -> list[str]:
            reviewer = ("rev1", "rev2")[c % 2]
            ids = []
            for k in range(cases):
                started = await step(c, "POST", "/cases", "author", json={"definition": "review", "inputs": {"subject": f"c{c}k{k}n{cases}"}})
                cid = started.json()["caseInstanceId"]
                ids.append(cid)
                await step(c + 1, "PUT", f"/tasks/{cid}.review/claim", reviewer)
                await step(c, "PUT", f"/tasks/{cid}.review", reviewer, json={"verdict": "draft"})
                await step(c + 1, "POST", f"/tasks/{cid}.review/complete", reviewer, json={"verdict": "accept"})
                last = await step(c, "POST", f"/tasks/{cid}.publish/complete", "author", json={})
                tokens.append(last.headers["Casework-Consistency"])
            return ids

        case_ids = [cid for ids in await asyncio.gather(*(client(c, CASES_PER_CLIENT) for c in range(CLIENTS))) for cid in ids]
        assert stopping is not None
        await stopping
        # the survivors carry on alone: once the stopped gateway and worker have ended, every
        # client runs one more case, through whatever is left
        survivor_acks = acks
        case_ids += [cid for ids in await asyncio.gather(*(client(c, 1) for c in range(CLIENTS))) for cid in ids]
        assert acks - survivor_acks == CLIENTS * STEPS
        # both ended as a stop asks: the worker exits 0; uvicorn, once it has shut down (its
        # requests answered, our lifespan's end logged), raises the SIGTERM again, so that
        # its parent sees why it ended: -15, not the -9 of a kill after the stop timeout
        assert stopped == {"gateway": -15, "worker": 0}, stopped
        assert ended["gateway"] < acks and ended["worker"] < acks, (ended, acks)
        assert "gateway stopped: its requests answered" in (tmp_path / "gateway0.log").read_text()
        assert acks == CLIENTS * (CASES_PER_CLIENT + 1) * STEPS

        survivor = gateways.http[1]
        admin = stack.auth("admin")
        # the list waits until the read model holds every case's last action (their tokens)
        answer = await survivor.get("/cases", params={"numberOfResults": 100}, headers={**admin, "Casework-Consistency": ",".join(tokens)})
        assert answer.headers["Casework-Consistency-Status"] == "reached"
        listed = answer.json()
        by_id = {c["id"]: c for c in listed}
        versions = {}
        for cid in case_ids:
            own = await survivor.get(f"/cases/{cid}", headers=admin)
            case = own.json()
            assert case["state"] == "Completed", cid
            history = (await survivor.get(f"/cases/{cid}/history", headers=admin)).json()
            acted = Counter((h["action"], h.get("planItemId")) for h in history if h["action"] in ("claim", "save", "complete"))
            # each acknowledged action once, retried or not
            assert acted[("claim", "review")] == 1 and acted[("save", "review")] == 1, (cid, acted)
            assert acted[("complete", "review")] == 1 and acted[("complete", "publish")] == 1, (cid, acted)
            summary = {k: case[k] for k in by_id[cid]}
            assert by_id[cid] == summary, cid
            versions[cid] = case["caseVersion"]
        db = Database(url)
        try:
            assert await stored_versions(db, case_ids) == versions
        finally:
            await db.close()
    finally:
        if gateways is not None:
            await gateways.close()
        stack.stop()
        postgres_cluster.drop_database(name)
