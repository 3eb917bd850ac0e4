"""How far the read model lags behind Temporal, and what a list pays to wait for the caller's
own action, against raw Temporal round trips measured in the same rounds.

One dev server; the gateway and `worker.py` as subprocesses (as `make run` starts them); the
read model is their SQLite file (or a throwaway PostgreSQL), which this process also reads directly
(`store.projection.stored_versions`, every POLL_SECONDS). Three travel-request cases wait at
their `approve` task: A for the action lag, B for the signal lag, C for the lists. Each round
does, one after the other:

1. **signal lag**: a Temporal signal `claim` / `revoke` (alternating; a `Claim` / `Revoke`
   command by bob) to case B, a change no gateway sees; from sending it until the read model
   holds a newer version (the case's projection activity writes it at once);
2. **bare signal**: a signal to a bare workflow that then runs one activity that does nothing
   (in this process): from sending it until that activity runs, the floor of step 1;
3. **bare update**: `execute_update` on the bare workflow (the floor of an update round trip);
4. **action lag**: bob's `PUT /tasks/A.approve/claim` or `/revoke`; from its HTTP answer until
   the read model holds the answer's version (its `ETag`). The gateway writes the change
   before answering, so this should be the first read;
5. **list, no action before**: after a pause of PAUSE_SECONDS, bob's `GET /tasks`, with no
   `Casework-Consistency` header;
6. **list after an action**: after the same pause, bob's action on C, then at once his
   `GET /tasks` with the action's `Casework-Consistency` header (only the list is timed).

The first WARMUP rounds are not counted. Quote the ratios.

    .venv/bin/python bench/freshness.py [--rounds 200] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from temporalio import activity
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_workflow import BareWorkflow  # noqa: E402
from bench.common import case_at_approve, gateway_and_worker, log, percentile, read_model, run_and_exit, token  # noqa: E402
from store import projection  # noqa: E402
from store.db import Database  # noqa: E402
from store.directory import Directory  # noqa: E402
from tests.support.processes import start_dev_env  # noqa: E402
from workflows.engine.commands import Claim, Revoke  # noqa: E402

WARMUP = 10
POLL_SECONDS = 0.001
GIVE_UP_SECONDS = 10.0
PAUSE_SECONDS = 0.05  # before each list and before the action that precedes the second list
BARE_QUEUE = "bench-bare"
CONSISTENCY = "Casework-Consistency"

_noted: dict[int, asyncio.Future[float]] = {}


@activity.defn(name="bare_noted")
async def bare_noted(n: int) -> None:
    fut = _noted.get(n)
    if fut is not None and not fut.done():
        fut.set_result(time.perf_counter())


def etag_version(r: httpx.Response) -> int:
    return int(r.headers["etag"].strip('W/"'))


async def until_stored(db: Database, case_id: str, at_least: int) -> tuple[float | None, int]:
    """Poll the read model until it holds `at_least` of the case: (when, reads it took), or
    (None, reads) after GIVE_UP_SECONDS."""
    deadline = time.perf_counter() + GIVE_UP_SECONDS
    reads = 0
    while True:
        reads += 1
        stored = (await projection.stored_versions(db, [case_id])).get(case_id, 0)
        now = time.perf_counter()
        if stored >= at_least:
            return now, reads
        if now > deadline:
            return None, reads
        await asyncio.sleep(POLL_SECONDS)


def row(name: str, samples: list[float], unit: str = "ms") -> str:
    if not samples:
        return f"  {name:<48} (no samples)"
    return f"  {name:<48} p50 {statistics.median(samples):8.2f} {unit}   p95 {percentile(samples, 0.95):8.2f} {unit}   max {max(samples):8.2f} {unit}"


async def main(rounds: int, backend: str) -> None:
    data = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    log(f"data: {data}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; read model: {backend}")
    with read_model(backend, data) as db_url:
        await run(rounds, data, db_url)


async def run(rounds: int, data: Path, db_url: str) -> None:
    env = await start_dev_env()
    settings = {"CASEWORK_TASK_QUEUE": "bench-cases", "CASEWORK_DATABASE_URL": db_url}
    stack = gateway_and_worker(env.client.service_client.config.target_host, data, settings)
    db = Database(db_url)
    bob_actor = Directory.load(ROOT / "examples" / "directory.yaml").find("bob").to_actor()
    m: dict[str, list[float]] = {k: [] for k in (
        "bare", "action", "action_lag", "signal_send", "signal_lag", "signal_lag_after_send", "bare_signal", "list_plain", "list_token",
    )}
    first_read = 0
    never: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    try:
        async with (
            stack as url,
            Worker(env.client, task_queue=BARE_QUEUE, workflows=[BareWorkflow], activities=[bare_noted]),
            httpx.AsyncClient(base_url=url, timeout=60) as http,
        ):
            alice, bob = await token(http, "alice"), await token(http, "bob")
            task_a, task_b, task_c = [await case_at_approve(http, alice) for _ in range(3)]
            case_a, case_b = task_a.rsplit(".", 1)[0], task_b.rsplit(".", 1)[0]
            handle_b = env.client.get_workflow_handle(case_b)
            bare = await env.client.start_workflow(BareWorkflow.run, id=f"bare-{uuid.uuid4().hex}", task_queue=BARE_QUEUE)
            await until_stored(db, case_b, 1)
            v_b = (await projection.stored_versions(db, [case_b]))[case_b]

            for i in range(rounds + WARMUP):
                counted = i >= WARMUP
                action = "claim" if i % 2 == 0 else "revoke"
                sample: dict[str, float] = {}

                cmd = (Claim if action == "claim" else Revoke)(actor=bob_actor, item_id="approve")
                t0 = time.perf_counter()
                await handle_b.signal(action, cmd)
                t1 = time.perf_counter()
                sample["signal_send"] = t1 - t0
                seen, _ = await until_stored(db, case_b, v_b + 1)
                if seen is None:
                    never["signal"] += 1
                    log(f"round {i}: the read model never held a version of {case_b} newer than {v_b} after a {action} signal")
                else:
                    sample["signal_lag"] = seen - t0
                    sample["signal_lag_after_send"] = seen - t1
                v_b = (await projection.stored_versions(db, [case_b]))[case_b]

                fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                _noted[i] = fut
                t0 = time.perf_counter()
                await bare.signal(BareWorkflow.poke, i)
                sample["bare_signal"] = await asyncio.wait_for(fut, GIVE_UP_SECONDS) - t0
                del _noted[i]

                t0 = time.perf_counter()
                await bare.execute_update(BareWorkflow.touch, i)
                sample["bare"] = time.perf_counter() - t0

                t0 = time.perf_counter()
                r = await http.put(f"/tasks/{task_a}/{action}", headers=bob)
                t1 = time.perf_counter()
                if r.status_code != 200:
                    raise SystemExit(f"round {i}: {action} of {task_a} answered {r.status_code}: {r.text}")
                sample["action"] = t1 - t0
                seen, reads = await until_stored(db, case_a, etag_version(r))
                if seen is None:
                    never["action"] += 1
                else:
                    sample["action_lag"] = seen - t1
                    first_read += counted and reads == 1

                # Both lists start from a quiet moment: what came before (the signals' activity
                # completions, in the worker and in this process) has had time to finish.
                await asyncio.sleep(PAUSE_SECONDS)
                t0 = time.perf_counter()
                r = await http.get("/tasks", headers=bob)
                sample["list_plain"] = time.perf_counter() - t0
                r.raise_for_status()
                statuses[f"plain: {r.headers.get('casework-consistency-status')}"] += counted

                await asyncio.sleep(PAUSE_SECONDS)
                r = await http.put(f"/tasks/{task_c}/{action}", headers=bob)
                if r.status_code != 200:
                    raise SystemExit(f"round {i}: {action} of {task_c} answered {r.status_code}: {r.text}")
                t0 = time.perf_counter()
                r = await http.get("/tasks", headers={**bob, CONSISTENCY: r.headers[CONSISTENCY]})
                sample["list_token"] = time.perf_counter() - t0
                r.raise_for_status()
                statuses[f"with token: {r.headers.get('casework-consistency-status')}"] += counted

                if counted:
                    for k, v in sample.items():
                        m[k].append(v * 1000)
    finally:
        await db.close()
        await env.shutdown()

    b50, bs50 = statistics.median(m["bare"]), statistics.median(m["bare_signal"])
    lp50, lt50 = statistics.median(m["list_plain"]), statistics.median(m["list_token"])
    log(f"\nrounds: {rounds} (+{WARMUP} warm-up), read model polled every {POLL_SECONDS * 1000:.0f} ms")
    log(row("bare update round trip", m["bare"]))
    log(row("task action through the gateway", m["action"]))
    log(row("read-model lag after an action's answer", m["action_lag"]))
    log(f"  {'':<48} held at the first read: {first_read} of {len(m['action_lag'])}; never: {never['action']}")
    log(row("signal sent (RPC)", m["signal_send"]))
    log(row("read-model lag after a signal (from sending)", m["signal_lag"]))
    log(row("  the same, from the signal's RPC answer", m["signal_lag_after_send"]))
    log(f"  {'':<48} never: {never['signal']}")
    log(row("bare signal until its activity runs", m["bare_signal"]))
    log(row("GET /tasks, no action before", m["list_plain"]))
    log(row("GET /tasks after an action, with its token", m["list_token"]))
    log(f"  Casework-Consistency-Status: {dict(statuses)}")
    log("ratios (p50):")
    log(f"  action lag / bare update                     {statistics.median(m['action_lag']) / b50:6.3f}" if m["action_lag"] else "")
    log(f"  signal lag / bare signal until its activity  {statistics.median(m['signal_lag']) / bs50:6.3f}" if m["signal_lag"] else "")
    log(f"  signal lag / bare update                     {statistics.median(m['signal_lag']) / b50:6.3f}" if m["signal_lag"] else "")
    log(f"  list with token / list without               {lt50 / lp50:6.3f}")
    log(f"  list without / bare update                   {lp50 / b50:6.3f}")
    log(f"  list with token / bare update                {lt50 / b50:6.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--backend", default="sqlite", help="the read model: sqlite or postgresql")
    args = parser.parse_args()
    run_and_exit(main(args.rounds, args.backend))
