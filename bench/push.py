"""How soon pushed changes arrive: the time from an action's answer to its event on the stream
(`GET /events`) and to its webhook delivery, against a bare Temporal update's round trip
measured in the same run; then deliveries per second with many subscriptions.

One dev server; the gateway and `worker.py` as subprocesses with their default settings (the
stream's reader polls the feed every 0.2 s, the webhook dispatcher every 0.2 s when idle); a
receiver and a stream client in this process.

    .venv/bin/python bench/push.py [--rounds 100] [--subscriptions 1000] [--actions 20]

Part 1: each round claims or revokes a task (alternately) as bob and notes when the answer
came; the stream (bob's) and one webhook subscription (bob's, TaskClaimed and TaskRevoked)
note when that case's event arrived. A bare update round trip is measured between rounds.

Part 2: `--subscriptions` subscriptions of bob's for TaskClaimed/TaskRevoked, then
`--actions` actions: deliveries per second from the first action to the last delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_workflow import BareWorkflow  # noqa: E402
from bench.common import case_at_approve, gateway_and_worker, log, percentile, run_and_exit  # noqa: E402
from tests.support.processes import start_dev_env  # noqa: E402

KINDS = ["TaskClaimed", "TaskRevoked"]


class Receiver:
    """Notes the arrival time of each delivery, by (case, seq), first arrival only."""

    def __init__(self) -> None:
        self.arrived: dict[tuple[str, int, str], float] = {}
        self.count = 0
        self.last = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        now = time.perf_counter()
        data = body["data"]
        self.arrived.setdefault((data["caseInstanceId"], data["seq"], request.path), now)
        self.count += 1
        self.last = now
        return web.Response(status=204)


async def stream(url: str, headers: dict[str, str], seen: dict[tuple[str, int], float], ready: asyncio.Event) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as s:
        async with s.get(f"{url}/events", headers={**headers, "Accept": "text/event-stream"}) as resp:
            ready.set()
            async for raw in resp.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    data = json.loads(line[5:])
                    seen.setdefault((data["caseInstanceId"], data["seq"]), time.perf_counter())


async def main(rounds: int, n_subscriptions: int, n_actions: int) -> None:
    env = await start_dev_env()
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{path:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    bare_queue = f"bare-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        settings_env = {"CASEWORK_HTTP_ALLOW": "127.0.0.1/32", "CASEWORK_WEBHOOK_MAX_PER_USER": str(n_subscriptions + 10)}
        async with Worker(env.client, task_queue=bare_queue, workflows=[BareWorkflow]), \
                gateway_and_worker(env.client.service_client.config.target_host, Path(tmp), settings_env) as url, \
                aiohttp.ClientSession(base_url=url) as http:

            async def token(user: str) -> dict[str, str]:
                async with http.post("/oauth2/token", data={"grant_type": "password", "username": user, "password": f"{user}-demo"}) as r:
                    return {"Authorization": f"Bearer {(await r.json())['access_token']}"}

            bob, alice, admin = await token("bob"), await token("alice"), await token("admin")
            bare = await env.client.start_workflow(BareWorkflow.run, id=f"bare-{uuid.uuid4().hex}", task_queue=bare_queue)
            await bare.execute_update(BareWorkflow.touch, 0)

            async def subscribe(path: str) -> None:
                body = {"url": f"{hook_url}{path}", "filter": {"types": KINDS}}
                async with http.post("/subscriptions", json=body, headers=bob) as r:
                    assert r.status == 201, await r.text()

            await subscribe("/one")
            seen: dict[tuple[str, int], float] = {}
            ready = asyncio.Event()
            reader = asyncio.create_task(stream(url, bob, seen, ready))
            await ready.wait()
            await asyncio.sleep(1.0)

            async with httpx.AsyncClient(base_url=url, timeout=30) as hx:
                task = await case_at_approve(hx, alice)
            case_id = task.split(".")[0]
            to_stream: list[float] = []
            to_hook: list[float] = []
            bare_ms: list[float] = []
            rng = random.Random(7)
            for i in range(rounds):
                # a pause of random length, so that actions do not fall into step with the
                # pollers (a reader that has just looked finds the next action at once)
                await asyncio.sleep(rng.uniform(0, 0.5))
                verb = "claim" if i % 2 == 0 else "revoke"
                async with http.put(f"/tasks/{task}/{verb}", headers=bob) as r:
                    assert r.status == 200, await r.text()
                answered = time.perf_counter()
                # (bob sees the case only while he holds its task: the history is read as an operator)
                async with http.get(f"/cases/{case_id}/history?offset=0&numberOfResults=1000", headers=admin) as r:
                    seq = len(await r.json()) - 1
                deadline = answered + 30
                while ((case_id, seq) not in seen or (case_id, seq, "/one") not in receiver.arrived) and time.perf_counter() < deadline:
                    await asyncio.sleep(0.002)
                if (case_id, seq) not in seen or (case_id, seq, "/one") not in receiver.arrived:
                    log((Path(tmp) / "processes.log").read_text()[-6000:])
                    raise SystemExit(f"round {i}: the event of entry {seq} did not arrive (stream: {(case_id, seq) in seen}; "
                                     f"stream has {sorted(seen)[-3:]}, hooks {sorted(receiver.arrived)[-3:]})")
                to_stream.append((seen[(case_id, seq)] - answered) * 1000)
                to_hook.append((receiver.arrived[(case_id, seq, "/one")] - answered) * 1000)
                t0 = time.perf_counter()
                await bare.execute_update(BareWorkflow.touch, i)
                bare_ms.append((time.perf_counter() - t0) * 1000)

            def line(name: str, xs: list[float]) -> str:
                p50, p95 = statistics.median(xs), percentile(xs, 0.95)
                b = statistics.median(bare_ms)
                return f"{name:<28} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms   p50 / bare update p50 {p50 / b:5.1f}"

            log(f"part 1: {rounds} actions (claim/revoke), one stream, one subscription")
            log(f"{'bare update round trip':<28} p50 {statistics.median(bare_ms):7.1f} ms  p95 {percentile(bare_ms, 0.95):7.1f} ms")
            log(line("answer -> stream event", to_stream))
            log(line("answer -> webhook delivery", to_hook))
            reader.cancel()

            # part 2: many subscriptions
            for i in range(n_subscriptions - 1):
                await subscribe(f"/many/{i}")
            before = receiver.count
            wanted = before + n_actions * n_subscriptions
            start = time.perf_counter()
            for i in range(n_actions):
                verb = "claim" if (rounds + i) % 2 == 0 else "revoke"
                async with http.put(f"/tasks/{task}/{verb}", headers=bob) as r:
                    assert r.status == 200, await r.text()
            deadline = time.perf_counter() + 600
            while receiver.count < wanted and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            took = receiver.last - start
            got = receiver.count - before
            if got < wanted - before or os.environ.get("BENCH_DIAGNOSE"):  # say where the others are
                import sqlite3

                with sqlite3.connect(Path(tmp) / "casework.db") as con:
                    log(f"deliveries by status: {con.execute('select status, count(*), max(attempts) from deliveries group by status').fetchall()}")
                    log("deliveries per subscription (count: subscriptions): " + str(con.execute(
                        "select n, count(*) from (select s.id, count(d.id) n from subscriptions s left join deliveries d "
                        "on d.subscription_id = s.id group by s.id) group by n").fetchall()))
                    log("deliveries per event (count: events): " + str(con.execute(
                        "select n, count(*) from (select feed_id, count(*) n from deliveries group by feed_id) group by n").fetchall()))
                    log(f"errors: {con.execute('select last_error, count(*) from deliveries group by last_error').fetchall()}")
                    log(f"subscription cursors: {con.execute('select min(cursor), max(cursor) from subscriptions').fetchall()}, "
                        f"feed head {con.execute('select max(id), count(*) from event_feed').fetchall()}, "
                        f"audit entries {con.execute('select count(*) from audit_entries').fetchall()}")
            log(f"part 2: {n_subscriptions} subscriptions x {n_actions} actions: {got} of {wanted - before} deliveries "
                f"in {took:.1f} s = {got / took:.0f} deliveries/s")
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--actions", type=int, default=20)
    args = parser.parse_args()
    run_and_exit(main(args.rounds, args.subscriptions, args.actions))
