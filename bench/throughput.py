"""Throughput under concurrency through the gateway, against raw Temporal on the same dev server.

- **actions**: N clients (default 50), each on its own travel-request case, alternate
  `PUT /tasks/{id}/claim` and `/revoke` on its `approve` task as fast as answers come (the
  managers bob and mike take the cases in turn). Baseline: N callers, each sending
  `execute_update` to its own bare workflow (bench/bare_workflow.py) in a loop.
- **starts**: C clients (default 20) send `POST /cases` (travel-request, no `caseInstanceId`:
  the gateway's update-with-start). Baselines at the same concurrency: `client.start_workflow`
  of the bare workflow, answered once the server has recorded the start, before any worker
  runs it (on a task queue no worker polls: a worker would fall behind these starts, and its
  backlog of first workflow tasks would run into the next phases); and
  `execute_update_with_start_workflow` of its `touch` update, answered once a worker (in this
  process) has run its first workflow task, as a case start is.

Phases alternate (gateway, bare, gateway, bare, ...), each `--seconds` long, after one short
warm-up phase of each kind that is not counted, with a pause between phases (`--settle`) so
that one phase's tail (the case's backstop projection GATEWAY_GRACE after each change, a
backlog of first workflow tasks) runs in neither. A phase's rate is its successful answers per
second, counted in one-second buckets (the first second left out); the figure to quote is the
ratio of the medians of those buckets over all phases of each kind (also given per round).
Each phase also reports the answers that were not a success, by status, and the CPU seconds
each process spent (this one: its clients and its bare worker; the gateway; the worker; the
Temporal dev server). The summary divides all of that CPU by the successful answers: other
load on the machine disturbs that figure far less than the rates.

    .venv/bin/python bench/throughput.py [--only actions,starts] [--seconds 15] [--rounds 2]
                                         [--clients 50] [--start-clients 20] [--backend sqlite]
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_workflow import BareWorkflow  # noqa: E402
from bench.common import TRAVEL_INPUTS, CpuMeter, case_at_approve, gateway_and_worker, log, percentile, read_model, run_and_exit, token  # noqa: E402
from tests.support.processes import start_dev_env  # noqa: E402

BARE_QUEUE = "bench-bare"
UNPOLLED_QUEUE = "bench-bare-unpolled"  # no worker: starts that are only recorded
WARMUP_SECONDS = 3.0
Op = Callable[[], Awaitable[str]]  # one request; returns "ok" or what went wrong


@dataclass
class Phase:
    kind: str
    seconds: float
    answers: list[tuple[float, float, str]] = field(default_factory=list)  # (ended at, ms, outcome)
    cpu: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    first_error: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> list[tuple[float, float, str]]:
        return [a for a in self.answers if a[2] == "ok"]

    def buckets(self) -> list[int]:
        """Successful answers per whole second of the phase, the first second left out."""
        counts = Counter(int(t) for t, _, outcome in self.answers if outcome == "ok" and t < self.seconds)
        return [counts.get(k, 0) for k in range(1, int(self.seconds))]

    def failures(self) -> Counter[str]:
        return Counter(outcome for _, _, outcome in self.answers if outcome != "ok")


async def run_phase(kind: str, ops: list[Op], seconds: float, meter: CpuMeter) -> Phase:
    """Every op in a loop of its own until `seconds` have passed (answers in flight then are
    awaited, and counted outside the buckets)."""
    phase = Phase(kind, seconds)
    start = time.perf_counter()
    end = start + seconds

    async def loop(op: Op) -> None:
        while (t0 := time.perf_counter()) < end:
            try:
                outcome = await op()
            except Exception as exc:  # a raw-Temporal call that failed: counted by its type
                outcome = type(exc).__name__
                phase.first_error.setdefault(outcome, str(exc)[:300])
            t1 = time.perf_counter()
            phase.answers.append((t1 - start, (t1 - t0) * 1000, outcome))

    cpu0 = meter.read()
    await asyncio.gather(*(loop(op) for op in ops))
    phase.cpu = CpuMeter.spent(cpu0, meter.read())
    phase.wall = time.perf_counter() - start
    return phase


def describe(phase: Phase) -> str:
    ok = phase.ok
    b = phase.buckets()
    lat = [ms for _, ms, _ in ok]
    fails = phase.failures()
    cpu = " ".join(f"{k} {v:.1f}s" for k, v in phase.cpu.items())
    per = " ".join(f"{k} {1000 * v / max(1, len(ok)):.2f}" for k, v in phase.cpu.items())
    return (
        f"  {phase.kind:<22} {statistics.median(b) if b else 0:7.1f}/s median   "
        f"({len(ok)} ok, p50 {statistics.median(lat) if lat else 0:6.1f} ms, p95 {percentile(lat, 0.95) if lat else 0:6.1f} ms)   "
        f"not ok: {dict(fails) or 0}\n"
        f"  {'':<22} CPU over {phase.wall:.1f} s: {cpu}; CPU ms per ok answer: {per}"
        + "".join(f"\n  {'':<22} first {k}: {v}" for k, v in phase.first_error.items())
    )


def summary(title: str, phases: list[Phase], kinds: list[str]) -> None:
    """The ratio of the medians of all buckets (gateway kind first), the same ratio per round
    (each gateway phase against the baseline phases of its own round: drift in the
    machine's load shows here), and the CPU that all processes spent per successful answer
    (what two free cores could do, whatever else was running)."""
    log(f"\n{title}")
    medians: dict[str, float] = {}
    cpu_per: dict[str, float] = {}
    for kind in kinds:
        mine = [p for p in phases if p.kind == kind]
        buckets = [n for p in mine for n in p.buckets()]
        medians[kind] = statistics.median(buckets) if buckets else 0.0
        ok = sum(len(p.ok) for p in mine)
        cpu_per[kind] = 1000 * sum(sum(p.cpu.values()) for p in mine) / max(1, ok)
        per_phase = ", ".join(f"{statistics.median(p.buckets()):.1f}" for p in mine)
        fails = sum((p.failures() for p in mine), Counter())
        log(f"  {kind:<24} median {medians[kind]:7.1f}/s   (per phase: {per_phase})   not ok: {dict(fails) or 0}   "
            f"CPU of all processes per ok answer {cpu_per[kind]:6.1f} ms")
    rounds = len(phases) // len(kinds)
    for kind in kinds[1:]:
        ratio = f"{medians[kinds[0]] / medians[kind]:.3f}" if medians[kind] else "n/a (no baseline answers)"
        paired = []
        for r in range(rounds):
            mine = phases[r * len(kinds):(r + 1) * len(kinds)]
            g = statistics.median(next(p for p in mine if p.kind == kinds[0]).buckets())
            b = statistics.median(next(p for p in mine if p.kind == kind).buckets())
            paired.append(f"{g / b:.3f}" if b else "n/a")
        log(f"  ratio {kinds[0]} / {kind}: {ratio}   (per round: {', '.join(paired)};   "
            f"by CPU per answer: {cpu_per[kind] / cpu_per[kinds[0]]:.3f})")


async def alternate(kinds: list[tuple[str, list[Op]]], seconds: float, rounds: int, settle: float, meter: CpuMeter) -> list[Phase]:
    for kind, ops in kinds:
        log(f"  warm-up {kind} ({WARMUP_SECONDS:.0f} s)")
        await run_phase(kind, ops, WARMUP_SECONDS, meter)
        await asyncio.sleep(settle)
    phases: list[Phase] = []
    for r in range(rounds):
        for kind, ops in kinds:
            phase = await run_phase(kind, ops, seconds, meter)
            log(describe(phase))
            phases.append(phase)
            await asyncio.sleep(settle)
    return phases


# ------------------------------------------------------------------ the operations


def gateway_action(http: aiohttp.ClientSession, task: str, headers: dict[str, str]) -> Op:
    """Claim, then revoke, then claim...: a 409 means the task is already the other way (a
    timed-out action that was applied after all), so the client turns too."""
    state = {"next": "claim"}

    async def op() -> str:
        async with http.put(f"/tasks/{task}/{state['next']}", headers=headers) as r:
            await r.read()
        if r.status in (200, 409):
            state["next"] = "revoke" if state["next"] == "claim" else "claim"
        return "ok" if r.status == 200 else str(r.status)

    return op


def bare_update(handle: object) -> Op:
    n = 0

    async def op() -> str:
        nonlocal n
        n += 1
        await handle.execute_update(BareWorkflow.touch, n)  # type: ignore[attr-defined]
        return "ok"

    return op


def gateway_start(http: aiohttp.ClientSession, headers: dict[str, str]) -> Op:
    async def op() -> str:
        async with http.post("/cases", json={"definition": "travel-request", "inputs": TRAVEL_INPUTS}, headers=headers) as r:
            await r.read()
        return "ok" if r.status == 201 else str(r.status)

    return op


def bare_start(client: Client) -> Op:
    async def op() -> str:
        await client.start_workflow(BareWorkflow.run, id=f"bare-start-{uuid.uuid4().hex}", task_queue=UNPOLLED_QUEUE)
        return "ok"

    return op


def bare_update_with_start(client: Client) -> Op:
    async def op() -> str:
        start = WithStartWorkflowOperation(
            BareWorkflow.run, id=f"bare-uws-{uuid.uuid4().hex}", task_queue=BARE_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        await client.execute_update_with_start_workflow(BareWorkflow.touch, 0, start_workflow_operation=start)
        return "ok"

    return op


# ------------------------------------------------------------------ main


async def main(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    log(f"data: {data}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; read model: {args.backend}")
    with read_model(args.backend, data) as db_url:
        await run(args, data, db_url)


async def run(args: argparse.Namespace, data: Path, db_url: str) -> None:
    only = set(args.only.split(","))
    env = await start_dev_env()
    pids: dict[str, int] = {}
    settings = {"CASEWORK_TASK_QUEUE": "bench-cases", "CASEWORK_DATABASE_URL": db_url}
    stack = gateway_and_worker(env.client.service_client.config.target_host, data, settings, pids)
    n = args.clients
    try:
        async with (
            stack as url,
            Worker(env.client, task_queue=BARE_QUEUE, workflows=[BareWorkflow]),
            httpx.AsyncClient(base_url=url, timeout=60) as http,
            # The measured requests go through aiohttp, the lighter client (pyproject's bench extra).
            aiohttp.ClientSession(
                base_url=url, timeout=aiohttp.ClientTimeout(total=60),
                connector=aiohttp.TCPConnector(limit=max(n, args.start_clients) + 10),
            ) as load,
        ):
            meter = CpuMeter(pids)
            log(f"processes: {meter.pids}")
            alice = await token(http, "alice")
            managers = [await token(http, "bob"), await token(http, "mike")]

            if "actions" in only:
                log(f"\nsetting up {n} cases at their approve task and {n} bare workflows")
                tasks: list[str] = []
                for i in range(0, n, 10):  # a few at a time: the setup is not what is measured
                    tasks += await asyncio.gather(*(case_at_approve(http, alice) for _ in range(min(10, n - i))))
                bares = [
                    await env.client.start_workflow(BareWorkflow.run, id=f"bare-{uuid.uuid4().hex}", task_queue=BARE_QUEUE)
                    for _ in range(n)
                ]
                log(f"actions: {n} concurrent clients, phases of {args.seconds:.0f} s, {args.rounds} rounds")
                phases = await alternate(
                    [
                        ("gateway claim/revoke", [gateway_action(load, t, managers[i % 2]) for i, t in enumerate(tasks)]),
                        ("bare update", [bare_update(h) for h in bares]),
                    ],
                    args.seconds, args.rounds, args.settle, meter,
                )
                summary(f"P2 actions per second, {n} concurrent clients", phases, ["gateway claim/revoke", "bare update"])

            if "starts" in only:
                c = args.start_clients
                log(f"\nstarts: {c} concurrent clients, phases of {args.seconds:.0f} s, {args.rounds} rounds")
                phases = await alternate(
                    [
                        ("gateway POST /cases", [gateway_start(load, alice) for _ in range(c)]),
                        ("bare start_workflow", [bare_start(env.client) for _ in range(c)]),
                        ("bare update-with-start", [bare_update_with_start(env.client) for _ in range(c)]),
                    ],
                    args.seconds, args.rounds, args.settle, meter,
                )
                summary(
                    f"P3 case starts per second, {c} concurrent clients", phases,
                    ["gateway POST /cases", "bare start_workflow", "bare update-with-start"],
                )
    finally:
        await env.shutdown()
    log(f"\nload average at the end {os.getloadavg()[0]:.2f}; processes' log: {data / 'processes.log'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="actions,starts", help="comma-separated: actions, starts")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measured phase")
    parser.add_argument("--rounds", type=int, default=2, help="measured phases of each kind")
    parser.add_argument("--settle", type=float, default=3.0, help="pause between phases")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients of the actions benchmark")
    parser.add_argument("--start-clients", type=int, default=20, help="concurrent clients of the starts benchmark")
    parser.add_argument("--backend", default="sqlite", help="the read model: sqlite or postgresql")
    run_and_exit(main(parser.parse_args()))
