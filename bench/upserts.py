"""What a search-attribute upsert and a larger answer cost the Temporal server per update.

One dev server, a worker in this process, 50 callers each updating its own workflow in a
loop, in phases of 8 s: a bare update; the same with one keyword-list upsert; with a 3 KB
answer; with both. For each phase: updates per second and the dev server's CPU per update
(`/proc`). This is why a case upserts its busy search attributes with its projection's
backstop write, not with every action (workflows/case.py, `_publish`).

    .venv/bin/python bench/upserts.py [--seconds 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.worker import Worker  # noqa: E402

from bench.bare_workflow import UpsertingWorkflow  # noqa: E402
from bench.common import CpuMeter, log, run_and_exit  # noqa: E402
from tests.support.processes import start_dev_env  # noqa: E402

MODES = ("plain", "upsert", "answer", "upsert+answer")


async def phase(handles: list, mode: str, seconds: float) -> int:
    done = 0
    stop = time.monotonic() + seconds

    async def caller(handle) -> None:
        nonlocal done
        while time.monotonic() < stop:
            await handle.execute_update(UpsertingWorkflow.touch, mode)
            done += 1

    await asyncio.gather(*(caller(h) for h in handles))
    return done


async def main(seconds: float, rounds: int) -> None:
    env = await start_dev_env()
    try:
        meter = CpuMeter({})
        async with Worker(env.client, task_queue="bench-upserts", workflows=[UpsertingWorkflow]):
            handles = [
                await env.client.start_workflow(UpsertingWorkflow.run, id=f"upserts-{uuid.uuid4().hex}", task_queue="bench-upserts")
                for _ in range(50)
            ]
            await phase(handles, "plain", 2)  # warm-up
            for r in range(rounds):
                for mode in MODES:
                    before = meter.read()
                    n = await phase(handles, mode, seconds)
                    spent = meter.spent(before, meter.read())
                    log(f"round {r + 1}  {mode:14} {n / seconds:7.1f} updates/s   dev server {spent['temporal'] * 1000 / n:6.2f} ms CPU per update")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    run_and_exit(main(args.seconds, args.rounds))
