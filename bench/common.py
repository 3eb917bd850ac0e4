"""What the benchmarks share: percentiles, and waiting for a gateway subprocess to answer."""

from __future__ import annotations

import asyncio

import httpx

from run import Process


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def wait_health(url: str, procs: list[Process], tries: int = 600) -> None:
    """Until `GET /health` answers 200; a process that exits meanwhile ends the benchmark."""
    async with httpx.AsyncClient() as http:
        for _ in range(tries):
            for p in procs:
                if not p.running:
                    raise SystemExit(f"{p.name} exited: {p.describe_exit()}")
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the gateway did not come up")
