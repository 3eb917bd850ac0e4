"""Many open cases: the worker's memory (P5) and an action's latency (P6) as cases pile up.

One run, one dev server, `worker.py` and the gateway as subprocesses (as `make run` starts
them). Cases are opened in steps up to each `--levels` count (travel requests at their
`approve` task, through the gateway, 20 at a time). At each level, after the backstop
writes have settled:

- P5: the worker's resident memory (VmRSS), and the gateway's;
- P6: `--rounds` task actions (claim, then revoke, ...) each on a case picked at random
  among those open, through the gateway, interleaved with a bare Temporal update (a handler
  that only returns, on a worker in this process). At 10 cases every case stays in the
  worker's cache; at 10,000 most are not (it keeps CASEWORK_WORKER_CACHED_CASES, 1,000 by
  default) and an action first replays its case's history. Then as many actions on a case
  among the newest 500, a working set that the cache holds.

    .venv/bin/python bench/open_cases.py [--levels 10,1000,10000] [--rounds 200]

P6 is the action's median at the highest level divided by its median at the lowest, with
the bare update's medians at the same levels beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_workflow import BareWorkflow  # noqa: E402
from bench.common import TRAVEL_INPUTS, gateway_and_worker, log, percentile, run_and_exit, token  # noqa: E402
from tests.support.processes import start_dev_env  # noqa: E402

OPENERS = 20
# the second measurement: actions on the most recently opened cases, a working set that fits
# the worker's cache (the usual shape: most actions are on cases that moved lately)
HOT = 500


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def open_case(http: aiohttp.ClientSession, alice: dict[str, str]) -> str:
    async with http.post("/cases", json={"definition": "travel-request", "inputs": TRAVEL_INPUTS}, headers=alice) as r:
        r.raise_for_status()
        case_id = (await r.json())["caseInstanceId"]
    async with http.post(f"/tasks/{case_id}.submit/complete", json={"justification": "bench"}, headers=alice) as r:
        r.raise_for_status()
    return f"{case_id}.approve"


async def open_up_to(http: aiohttp.ClientSession, alice: dict[str, str], tasks: list[str], level: int) -> float:
    t0 = time.perf_counter()
    todo = level - len(tasks)

    async def opener(n: int) -> None:
        for _ in range(n):
            tasks.append(await open_case(http, alice))

    share = [todo // OPENERS + (1 if i < todo % OPENERS else 0) for i in range(OPENERS)]
    await asyncio.gather(*(opener(n) for n in share if n))
    return time.perf_counter() - t0


async def measure(
    http: aiohttp.ClientSession, bob: dict[str, str], bare: object, tasks: list[str], held: set[str], rng: random.Random, rounds: int
) -> tuple[list[float], list[float]]:
    """`rounds` actions, each on a case picked at random among `tasks`, each followed by a
    bare update; the first 10 warm up."""
    action_ms: list[float] = []
    bare_ms: list[float] = []
    for i in range(rounds + 10):
        task = rng.choice(tasks)
        action = "revoke" if task in held else "claim"
        t0 = time.perf_counter()
        async with http.put(f"/tasks/{task}/{action}", headers=bob) as r:
            await r.read()
        t1 = time.perf_counter()
        r.raise_for_status()
        (held.discard if action == "revoke" else held.add)(task)
        await bare.execute_update(BareWorkflow.touch, i)  # type: ignore[attr-defined]
        t2 = time.perf_counter()
        if i >= 10:
            action_ms.append((t1 - t0) * 1000)
            bare_ms.append((t2 - t1) * 1000)
    return action_ms, bare_ms


async def main(levels: list[int], rounds: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    env = await start_dev_env()
    pids: dict[str, int] = {}
    stack = gateway_and_worker(env.client.service_client.config.target_host, data, {"CASEWORK_TASK_QUEUE": "bench-cases"}, pids)
    results: list[tuple[int, float, float, list[float], list[float], list[float]]] = []
    try:
        async with (
            stack as url,
            Worker(env.client, task_queue="bench-bare", workflows=[BareWorkflow]),
            httpx.AsyncClient(base_url=url, timeout=60) as setup,
            aiohttp.ClientSession(base_url=url, timeout=aiohttp.ClientTimeout(total=120)) as http,
        ):
            alice, bob = await token(setup, "alice"), await token(setup, "bob")
            bare = await env.client.start_workflow(BareWorkflow.run, id=f"bare-{uuid.uuid4().hex}", task_queue="bench-bare")
            tasks: list[str] = []
            held: set[str] = set()
            rng = random.Random(7)
            for level in levels:
                before = len(tasks)
                took = await open_up_to(http, alice, tasks, level)
                log(f"{level:>6} cases open ({level - before} opened in {took:.0f} s); settling")
                await asyncio.sleep(15)  # the backstop writes (GATEWAY_GRACE, 10 s) are done by then
                action_ms, bare_ms = await measure(http, bob, bare, tasks, held, rng, rounds)
                hot_ms, _ = await measure(http, bob, bare, tasks[-HOT:], held, rng, rounds)
                # after the actions, whose cases (at the higher levels) were mostly replayed
                worker_mb, gateway_mb = rss_mb(pids["worker"]), rss_mb(pids["gateway"])
                results.append((level, worker_mb, gateway_mb, action_ms, bare_ms, hot_ms))
                log(f"{level:>6} open: worker RSS {worker_mb:6.0f} MB, gateway RSS {gateway_mb:6.0f} MB; "
                    f"action p50 {statistics.median(action_ms):6.1f} ms p95 {percentile(action_ms, 0.95):6.1f}; "
                    f"on the newest {HOT}: p50 {statistics.median(hot_ms):6.1f} ms; bare update p50 {statistics.median(bare_ms):5.1f} ms")
    finally:
        await env.shutdown()

    log(f"\n| open cases | worker RSS MB | gateway RSS MB | action p50 ms (any case) | p95 | action p50 ms (newest {HOT}) | bare update p50 ms | any ÷ bare | newest ÷ bare |")
    log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for level, worker_mb, gateway_mb, action_ms, bare_ms, hot_ms in results:
        a50, b50, h50 = statistics.median(action_ms), statistics.median(bare_ms), statistics.median(hot_ms)
        log(f"| {level:,} | {worker_mb:.0f} | {gateway_mb:.0f} | {a50:.1f} | {percentile(action_ms, 0.95):.1f} | {h50:.1f} | {b50:.1f} | {a50 / b50:.2f} | {h50 / b50:.2f} |")
    low, high = results[0], results[-1]
    p6 = statistics.median(high[3]) / statistics.median(low[3])
    p6_hot = statistics.median(high[5]) / statistics.median(low[5])
    bare_drift = statistics.median(high[4]) / statistics.median(low[4])
    log(f"\nP6 = action p50 at {high[0]:,} ÷ at {low[0]:,}: {p6:.2f} on any open case, {p6_hot:.2f} on the newest {HOT} "
        f"(the bare update's drift over the same levels: {bare_drift:.2f})")
    if len(results) > 1:
        per_case = (high[1] - results[-2][1]) / max(1, high[0] - results[-2][0]) * 1024
        log(f"worker memory from {results[-2][0]:,} to {high[0]:,} cases: {per_case:.1f} KB per case")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,1000,10000", help="open-case counts, ascending")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    run_and_exit(main([int(x) for x in args.levels.split(",")], args.rounds))
