"""Latency of a task action through the gateway against a bare Temporal update round trip.

One run, one dev server. The gateway and `worker.py` run as subprocesses, as `make run` starts
them; the baseline is an update to a workflow whose handler only returns, on a worker of its
own in this process. The two are measured interleaved (one of each per round), so a noisy
neighbour slows both alike, and the figure to quote is their ratio.

    .venv/bin/python bench/actions.py [--rounds 300]

Throughput under concurrency is bench/throughput.py; the read model's lag and what a list
pays to see the caller's own action, bench/freshness.py.
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
from pathlib import Path

import httpx
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_workflow import BareWorkflow  # noqa: E402
from bench.common import case_at_approve, gateway_and_worker, percentile, token  # noqa: E402
from tests.support.processes import start_dev_env  # noqa: E402


async def main(rounds: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    env = await start_dev_env()
    stack = gateway_and_worker(env.client.service_client.config.target_host, data, {"CASEWORK_TASK_QUEUE": "bench-cases"})
    try:
        async with stack as url, Worker(env.client, task_queue="bench-bare", workflows=[BareWorkflow]), httpx.AsyncClient(base_url=url, timeout=60) as http:
            alice, bob = await token(http, "alice"), await token(http, "bob")
            approve = await case_at_approve(http, alice)
            bare = await env.client.start_workflow(BareWorkflow.run, id=f"bare-{uuid.uuid4().hex}", task_queue="bench-bare")

            gateway_ms: list[float] = []
            bare_ms: list[float] = []
            for i in range(rounds + 20):  # the first 20 rounds warm up and are not counted
                action = "claim" if i % 2 == 0 else "revoke"
                t0 = time.perf_counter()
                r = await http.put(f"/tasks/{approve}/{action}", headers=bob)
                t1 = time.perf_counter()
                r.raise_for_status()
                await bare.execute_update(BareWorkflow.touch, i)
                t2 = time.perf_counter()
                if i >= 20:
                    gateway_ms.append((t1 - t0) * 1000)
                    bare_ms.append((t2 - t1) * 1000)
    finally:
        await env.shutdown()

    g50, g95 = statistics.median(gateway_ms), percentile(gateway_ms, 0.95)
    b50, b95 = statistics.median(bare_ms), percentile(bare_ms, 0.95)
    print(f"rounds: {rounds} (each: one gateway task action, one bare update)")
    print(f"task action through the gateway  p50 {g50:7.2f} ms   p95 {g95:7.2f} ms")
    print(f"bare Temporal update round trip  p50 {b50:7.2f} ms   p95 {b95:7.2f} ms")
    print(f"ratio gateway / bare             p50 {g50 / b50:7.2f}      p95 {g95 / b95:7.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    asyncio.run(main(parser.parse_args().rounds))
    # The SDK's native threads can abort the interpreter while it finalizes (see
    # tests/conftest.py); the figures are printed, so leave without finalizing.
    sys.stdout.flush()
    os._exit(0)
