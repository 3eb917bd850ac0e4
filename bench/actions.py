"""Latency of a task action through the gateway against a bare Temporal update round trip.

One run, one dev server. The gateway and `worker.py` run as subprocesses, as `make run` starts
them; the baseline is an update to a workflow whose handler only returns, on a worker of its
own in this process. The two are measured interleaved (one of each per round), so a noisy
neighbour slows both alike, and the figure to quote is their ratio.

    .venv/bin/python bench/actions.py [--rounds 300] [--breakdown]

With `--breakdown` each round also sends the same command straight to a second case as the
gateway does (`CaseWorkflow.act`, from this process: the case's own update round trip), then
writes the change it answers into the read model as the gateway does
(`store.projection.write_change`, from this process): the gateway's time less the update's
is HTTP, the token check, FastAPI and pydantic, and the service layer (and the write, when
the gateway writes before it answers).

Throughput under concurrency is bench/throughput.py; the read model's lag and what a list
pays to see the caller's own action, bench/freshness.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from typing import Any

import aiohttp
import httpx
from sqlalchemy import event
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_workflow import BareWorkflow  # noqa: E402
from bench.common import case_at_approve, gateway_and_worker, percentile, run_and_exit, token  # noqa: E402
from settings import Settings  # noqa: E402
from store import projection  # noqa: E402
from store.db import Database  # noqa: E402
from store.directory import Directory  # noqa: E402
from tests.support.processes import start_dev_env  # noqa: E402
from workflows.case import ActionRequest, ActionResult, CaseWorkflow  # noqa: E402
from workflows.engine.commands import Claim, Revoke  # noqa: E402


class StatementTimes:
    """Time spent executing each kind of statement (its first words), from the driver's
    cursor events of this process's engine."""

    def __init__(self, db: Database) -> None:
        self.times: dict[str, list[float]] = {}
        self.writes = 0
        engine = db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        key = " ".join(statement.split()[:6])[:70]
        self.times.setdefault(key, []).append((time.perf_counter() - conn.info.pop("bench_t0")) * 1000)


async def main(rounds: int, breakdown: bool) -> None:
    data = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    env = await start_dev_env()
    stack = gateway_and_worker(env.client.service_client.config.target_host, data, {"CASEWORK_TASK_QUEUE": "bench-cases"})
    try:
        async with (
            stack as url,
            Worker(env.client, task_queue="bench-bare", workflows=[BareWorkflow]),
            httpx.AsyncClient(base_url=url, timeout=60) as http,
            # the timed requests: aiohttp, as in throughput.py (the lighter client)
            aiohttp.ClientSession(base_url=url, timeout=aiohttp.ClientTimeout(total=60)) as load,
        ):
            alice, bob = await token(http, "alice"), await token(http, "bob")
            approve = await case_at_approve(http, alice)
            bare = await env.client.start_workflow(BareWorkflow.run, id=f"bare-{uuid.uuid4().hex}", task_queue="bench-bare")
            if breakdown:
                direct = env.client.get_workflow_handle((await case_at_approve(http, alice)).rsplit(".", 1)[0])
                bob_actor = Directory.load(ROOT / "examples" / "directory.yaml").find("bob").to_actor()
                db = Database(Settings(data_dir=data).read_model_url)
                statements = StatementTimes(db)

            gateway_ms: list[float] = []
            bare_ms: list[float] = []
            act_ms: list[float] = []
            write_ms: list[float] = []
            for i in range(rounds + 20):  # the first 20 rounds warm up and are not counted
                action = "claim" if i % 2 == 0 else "revoke"
                t0 = time.perf_counter()
                async with load.put(f"/tasks/{approve}/{action}", headers=bob) as r:
                    await r.read()
                t1 = time.perf_counter()
                r.raise_for_status()
                await bare.execute_update(BareWorkflow.touch, i)
                t2 = time.perf_counter()
                if i >= 20:
                    gateway_ms.append((t1 - t0) * 1000)
                    bare_ms.append((t2 - t1) * 1000)
                if breakdown:
                    cmd = (Claim if action == "claim" else Revoke)(actor=bob_actor, item_id="approve")
                    t3 = time.perf_counter()
                    result = await direct.execute_update(
                        CaseWorkflow.act, ActionRequest(command=cmd), id=uuid.uuid4().hex, result_type=ActionResult
                    )
                    t4 = time.perf_counter()
                    outcome = await projection.write_change(db, result.change) if result.change is not None else "no change"
                    t5 = time.perf_counter()
                    if outcome != "written":
                        raise SystemExit(f"round {i}: writing the change of {direct.id} gave {outcome!r}")
                    if i >= 20:
                        act_ms.append((t4 - t3) * 1000)
                        write_ms.append((t5 - t4) * 1000)
                        statements.writes += 1
                    else:
                        statements.times.clear()
            if breakdown:
                await db.close()
    finally:
        await env.shutdown()

    g50, g95 = statistics.median(gateway_ms), percentile(gateway_ms, 0.95)
    b50, b95 = statistics.median(bare_ms), percentile(bare_ms, 0.95)
    print(f"rounds: {rounds} (each: one gateway task action, one bare update)")
    print(f"task action through the gateway  p50 {g50:7.2f} ms   p95 {g95:7.2f} ms")
    print(f"bare Temporal update round trip  p50 {b50:7.2f} ms   p95 {b95:7.2f} ms")
    print(f"ratio gateway / bare             p50 {g50 / b50:7.2f}      p95 {g95 / b95:7.2f}")
    if breakdown:
        a50, w50 = statistics.median(act_ms), statistics.median(write_ms)
        print("breakdown (p50; from this process, on a second case):")
        print(f"  CaseWorkflow.act update        p50 {a50:7.2f} ms   p95 {percentile(act_ms, 0.95):7.2f} ms   ({a50 / b50:.2f} bare updates)")
        print(f"  write_change of its answer     p50 {w50:7.2f} ms   p95 {percentile(write_ms, 0.95):7.2f} ms   ({w50 / b50:.2f} bare updates)")
        print(f"  gateway minus the update       p50 {g50 - a50:7.2f} ms               ({(g50 - a50) / b50:.2f} bare updates)"
              "   (HTTP, token, FastAPI, pydantic, the service; and the write if it comes before the answer)")
        print("  the write's statements (time in the driver per write, mean; the rest is the commit, the session, SQLAlchemy, aiosqlite):")
        for sql, ms in sorted(statements.times.items(), key=lambda kv: -sum(kv[1])):
            print(f"    {sum(ms) / statements.writes:6.2f} ms  {len(ms) / statements.writes:4.1f}x  {sql}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--breakdown", action="store_true", help="also time the case's own update and the read-model write")
    args = parser.parse_args()
    run_and_exit(main(args.rounds, args.breakdown))
