"""The expression budget's estimate beside what the CEL library takes (workflows/expression_cost.py).

For each expression and data size: the estimated steps, the time they stand for at
STEPS_PER_SECOND, the library's measured time (median of `--rounds`), and their ratio. A
ratio of 1 or more means the estimate is an upper bound on this machine; the budget's
MAX_STEPS stands for about a quarter of a second. Also what handing the library only the
variables an expression reads saves on a large case file.

    .venv/bin/python bench/expressions.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cel  # noqa: E402

from workflows.engine import expressions  # noqa: E402
from workflows.expression_cost import MAX_STEPS, STEPS_PER_SECOND, steps  # noqa: E402


def cases() -> list[tuple[str, dict[str, Any]]]:
    xs = list(range(2000))
    rows = [{"a": i, "b": "yy"} for i in range(2000)]
    return [
        ("xs.map(a, a * 2).size()", {"xs": xs}),
        ("xs.map(a, [a, a, a, a, a, a, a, a]).size()", {"xs": xs[:1000]}),
        ("xs.map(a, ys).size()", {"xs": xs[:500], "ys": xs[:100]}),
        ("xs.map(a, s).size()", {"xs": xs[:1000], "s": "x" * 10_000}),
        ("xs.filter(a, a % 2 == 0).size()", {"xs": xs}),
        ("xs.map(a, {'k': a}).size()", {"xs": xs}),
        ("rows.map(r, r.a).size()", {"rows": rows}),
        ("rows.filter(r, r.a > 5).size() > 0", {"rows": rows[:1000]}),
        ("xs.exists(a, a in ys && false)", {"xs": xs, "ys": xs[:1000]}),
        ("xs.all(a, xs.exists(b, b == a))", {"xs": xs[:1000]}),
        ("rows.size() > 0", {"rows": rows * 10}),
        ("(s + s + s + s + s + s + s + s).size()", {"s": "x" * 500_000}),
    ]


def timed(program: cel.Program, data: dict[str, Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        program.execute(data)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"budget {MAX_STEPS:,} steps = {MAX_STEPS / STEPS_PER_SECOND * 1000:.0f} ms at {STEPS_PER_SECOND:,} steps/s\n")
    print(f"| expression | estimated steps | estimated ms | measured ms (median of {args.rounds}) | estimate ÷ measured |")
    print("|---|---:|---:|---:|---:|")
    ratios = []
    for expr, data in cases():
        est = steps(expr, data)
        real = timed(cel.compile(expr), data, args.rounds)
        ratio = est / STEPS_PER_SECOND / real
        ratios.append(ratio)
        print(f"| `{expr}` | {est:,} | {est / STEPS_PER_SECOND * 1000:.1f} | {real * 1000:.1f} | {ratio:.1f} |", flush=True)
    print(f"\nratios: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}")

    # the variables an expression reads, against the whole case file
    case_file = {"approved": True, "rows": [{"a": i, "b": "yy"} for i in range(20_000)]}
    whole = statistics.median(_each(lambda: cel.evaluate("approved == true", case_file), args.rounds))
    reads = statistics.median(_each(lambda: expressions.run("approved == true", case_file), args.rounds))
    print(f"\n`approved == true` beside 20,000 rows: whole file {whole * 1000:.2f} ms, only what it reads (with its bound) {reads * 1000:.3f} ms")


def _each(fn: Any, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


if __name__ == "__main__":
    main()
