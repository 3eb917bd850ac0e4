"""`make bench`: the quick benchmarks one after the other, each with its own dev server,
gateway and worker (about six minutes on 2 cores):

    bench/actions.py     a task action's latency vs a bare update (P1)
    bench/throughput.py  actions and case starts per second under concurrency (P2, P3)
    bench/freshness.py   the read model's lag; a list right after the caller's own action

    .venv/bin/python -m bench [extra arguments are not passed on: run a script alone for those]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["actions.py", "throughput.py", "freshness.py"]


def main() -> int:
    for script in SCRIPTS:
        print(f"\n===== bench/{script}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / script)], cwd=HERE.parent)
        if code != 0:
            print(f"bench/{script} exited with {code}", flush=True)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
