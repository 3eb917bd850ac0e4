"""Latency of the read-model lists at 100,000 cases, against a Temporal query of one case.

For each backend (a SQLite file; PostgreSQL in a throwaway cluster, tests/support/postgres.py)
the read model is migrated and seeded with N cases cloned from real engine projections
(bench/seed_read_model.py), the query plans of each list's SQL are printed, and then the real
gateway (uvicorn running `api.app:create_app`, as bench/actions.py and `make run` start it)
and `worker.py` are started on it, with a directory of ~200 users and one Temporal dev server.

Each round measures, in a rotating order, one of each:
- PM to-do: `GET /api/1.0/workflow/cases` (25 rows) by the user with the largest inbox;
- PM search, rare and common word: `GET /api/1.0/workflow/cases/advanced-search/paged?search=
  <word>&start=1&limit=25` by a PM_ALLCASES user (the page and its total);
- native tasks: `GET /tasks` (the default page, 100 rows) by the same user as the to-do list,
  and by a user who sees almost nothing (`starter`: only the three live cases below), for whom
  the page cannot fill early;
- the baseline: a raw Temporal query (`CaseWorkflow.case`) of one live case, from this process.
A noisy neighbour slows all of them alike; quote the ratios to the baseline.

    .venv/bin/python bench/lists.py [--cases 100000] [--rounds 200] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.seed_read_model import (  # noqa: E402
    COMMON_WORD,
    PASSWORD,
    RARE_WORD,
    People,
    SeedReport,
    actor_of,
    make_people,
    seed,
    write_directory,
)
from bench.common import gateway_and_worker, log, percentile, run_and_exit  # noqa: E402
from store import native_lists, pm_lists  # noqa: E402
from store.db import Database  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tests.support.processes import start_dev_env  # noqa: E402
from workflows.case import CaseWorkflow  # noqa: E402
from workflows.public import principals_of  # noqa: E402

WARMUP = 20
TODO = "/api/1.0/workflow/cases"
SEARCH = "/api/1.0/workflow/cases/advanced-search/paged"
TASKS = "/tasks"


# ------------------------------------------------------------------ plans


@dataclass
class Plan:
    name: str
    sql: str
    lines: list[str]


async def list_plans(db: Database, people: People, inbox_user: str) -> list[Plan]:
    """The SQL each list runs, captured from the store's own list functions (called as the
    endpoints call them), then explained on the same connection: EXPLAIN QUERY PLAN on
    SQLite, EXPLAIN on PostgreSQL."""
    captured: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    user = actor_of(people.by_id[inbox_user])
    admin = actor_of(people.admin)
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("PM to-do (rows)", lambda: pm_lists.todo(
            db, pm_lists.Caller(user.user_id, principals_of(user)), pm_lists.parse_filters(), with_total=False)),
        *[
            (f"PM search '{w}' (rows, then total)", lambda w=w: pm_lists.advanced_search(
                db, pm_lists.Caller(admin.user_id, principals_of(admin), all_cases=True),
                pm_lists.parse_filters(search=w, start="1", limit="25"), with_total=True))
            for w in (RARE_WORD, COMMON_WORD)
        ],
        *[
            (f"native GET /tasks by {who} (rows)", lambda a=a: native_lists.tasks(
                db, principals_of(a), native_lists.TaskFilter(), native_lists.Page(offset=0, size=100, descending=True)))
            for who, a in (("the to-do user", user), ("a user with few tasks", actor_of(people.starter)))
        ],
    ]
    plans: list[Plan] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        for name, call in calls:
            captured.clear()
            await call()
            statements = list(captured)
            for i, (sql, params) in enumerate(statements):
                label = name if len(statements) == 1 else f"{name} [{'rows' if i == 0 else 'total'}]"
                plans.append(Plan(label, sql, await explain(db, sql, params)))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    return plans


async def explain(db: Database, sql: str, params: Any) -> list[str]:
    params = tuple(params) if isinstance(params, (list, tuple)) else params
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)).all()
            # (id, parent, notused, detail): indent by depth
            depth: dict[int, int] = {0: -1}
            out = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, -1) + 1
                out.append("  " * depth[node] + detail)
            return out
        custom = [r[0] for r in (await conn.exec_driver_sql("EXPLAIN " + sql, params)).all()]
        # asyncpg prepares every statement and keeps it per connection; from its sixth
        # execution PostgreSQL may run a generic plan, made without the parameters' values,
        # when it costs no more than the custom ones did. Show that plan too.
        await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        await conn.exec_driver_sql(f"PREPARE bench_plan AS {sql}")
        try:
            args = ", ".join(sql_literal(p) for p in params)
            generic = [r[0] for r in (await conn.exec_driver_sql(f"EXPLAIN EXECUTE bench_plan({args})" if args else "EXPLAIN EXECUTE bench_plan")).all()]
        finally:
            await conn.exec_driver_sql("DEALLOCATE bench_plan")
            await conn.exec_driver_sql("RESET plan_cache_mode")
        if generic == custom:
            return custom
        return ["custom plan (with the values):", *custom, "generic plan (PostgreSQL may switch to it after 5 executions):", *generic]


def sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(sql_literal(v) for v in value) + "]"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text.replace("'", "''") + "'"


# ------------------------------------------------------------------ one backend


@dataclass
class Result:
    backend: str
    report: SeedReport
    maintenance_s: float
    plans: list[Plan]
    samples: dict[str, list[float]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


LABELS = {
    "todo": "PM to-do list (25 rows)",
    "search_rare": f"PM advanced search '{RARE_WORD}', paged",
    "search_common": f"PM advanced search '{COMMON_WORD}', paged",
    "tasks": "native GET /tasks (100 rows)",
    "tasks_few": "native GET /tasks, a user with few tasks",
    "temporal": "Temporal query of one case",
}


async def run_backend(backend: str, url: str, people: People, n: int, rounds: int, env: Any, work: Path) -> Result:
    log(f"\n=== {backend}: seeding {n} cases")
    db = Database(url)
    await db.init()
    report = await seed(db, people, n, log=log)
    log(f"  seeded in {report.seconds:.1f} s: cases {report.cases}, delegations {report.delegations}, "
        f"delegation principals {report.principals}, participations {report.participations}")
    log(f"  case statuses: {report.statuses}")
    if report.cases != n or report.delegations < n:
        raise SystemExit(f"seeding went wrong: {report.cases} cases, {report.delegations} delegations")
    t0 = time.perf_counter()
    if not db.is_sqlite:
        # what autovacuum would get to on its own, done now so it does not run mid-measurement
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")
    maintenance = time.perf_counter() - t0
    inbox_user, inbox = report.inboxes.most_common(1)[0]
    sizes = sorted(report.inboxes.values())
    log(f"  to-do inboxes: {len(sizes)} users, median {statistics.median(sizes):.0f}, largest {inbox} "
        f"({people.by_id[inbox_user].username}: the benchmark's user)")

    plans = await list_plans(db, people, inbox_user)
    await db.close()
    for p in plans:
        log(f"\n  plan: {p.name}")
        for line in p.lines:
            log(f"    {line}")

    result = Result(backend, report, maintenance, plans)
    result.facts["inbox_user"] = people.by_id[inbox_user].username
    result.facts["inbox"] = inbox
    result.facts["inbox_median"] = statistics.median(sizes)

    data = work / f"data-{backend}"
    data.mkdir()
    settings = {
        "CASEWORK_TASK_QUEUE": f"bench-lists-{backend}", "CASEWORK_DATABASE_URL": url,
        "CASEWORK_DIRECTORY": str(work / "directory.yaml"),
    }
    async with gateway_and_worker(env.client.service_client.config.target_host, data, settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            async def token(username: str) -> dict[str, str]:
                r = await http.post("/oauth2/token", data={"grant_type": "password", "username": username, "password": PASSWORD})
                r.raise_for_status()
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            user_h = await token(people.by_id[inbox_user].username)
            admin_h = await token(people.admin.username)
            starter_h = await token(people.starter.username)

            # the baseline's live cases, through the gateway and the worker
            live = []
            for i in range(3):
                inputs = {"traveller": people.starter.username, "destination": "Bergen", "amount": 2500 + i,
                          "ledger_url": "http://127.0.0.1:9"}
                r = await http.post("/cases", json={"definition": "travel-request", "inputs": inputs}, headers=starter_h)
                r.raise_for_status()
                live.append(r.json())
            handle = env.client.get_workflow_handle(live[0]["caseInstanceId"])
            starter = actor_of(people.starter)

            async def temporal() -> None:
                view = await handle.query(CaseWorkflow.case, starter)
                assert view is not None

            def get(path: str, headers: dict[str, str], params: dict[str, Any] | None = None) -> Callable[[], Awaitable[None]]:
                async def call() -> None:
                    r = await http.get(path, headers=headers, params=params)
                    if r.status_code != 200:
                        raise SystemExit(f"GET {path} {params}: {r.status_code} {r.text[:500]}")
                return call

            calls: dict[str, Callable[[], Awaitable[None]]] = {
                "todo": get(TODO, user_h),
                "search_rare": get(SEARCH, admin_h, {"search": RARE_WORD, "start": 1, "limit": 25}),
                "search_common": get(SEARCH, admin_h, {"search": COMMON_WORD, "start": 1, "limit": 25}),
                "tasks": get(TASKS, user_h),
                "tasks_few": get(TASKS, starter_h),
                "temporal": temporal,
            }

            # what each call returns, once, for the report
            todo_rows = (await http.get(TODO, headers=user_h)).json()
            todo_total = (await http.get(TODO + "/paged", headers=user_h)).json()["total"]
            for key, word in (("search_rare", RARE_WORD), ("search_common", COMMON_WORD)):
                page = (await http.get(SEARCH, headers=admin_h, params={"search": word, "start": 1, "limit": 25})).json()
                result.facts[f"{key}_total"] = page["total"]
                result.facts[f"{key}_rows"] = len(page["data"])
            result.facts["todo_rows"] = len(todo_rows)
            result.facts["todo_total"] = todo_total
            result.facts["tasks_rows"] = len((await http.get(TASKS, headers=user_h)).json())
            result.facts["tasks_few_rows"] = len((await http.get(TASKS, headers=starter_h)).json())
            log(f"\n  answers: to-do {result.facts['todo_rows']} rows of {todo_total}; "
                f"search '{RARE_WORD}' {result.facts['search_rare_rows']} of {result.facts['search_rare_total']}; "
                f"search '{COMMON_WORD}' {result.facts['search_common_rows']} of {result.facts['search_common_total']}; "
                f"tasks {result.facts['tasks_rows']} rows; tasks of '{people.starter.username}' {result.facts['tasks_few_rows']} rows")

            keys = list(calls)
            samples: dict[str, list[float]] = {k: [] for k in keys}
            log(f"  measuring: {WARMUP} warm-up rounds, then {rounds}")
            for i in range(rounds + WARMUP):
                shift = i % len(keys)  # rotate the order, so none is always first or last
                for key in keys[shift:] + keys[:shift]:
                    t = time.perf_counter()
                    await calls[key]()
                    if i >= WARMUP:
                        samples[key].append((time.perf_counter() - t) * 1000)
            result.samples = samples
    print_table([result])
    return result


def print_table(results: list[Result]) -> None:
    log("")
    log(f"{'backend':<11} {'endpoint':<44} {'p50 ms':>8} {'p95 ms':>8} {'ratio p50':>10} {'ratio p95':>10}")
    for r in results:
        base = r.samples["temporal"]
        b50, b95 = statistics.median(base), percentile(base, 0.95)
        for key, label in LABELS.items():
            s = r.samples[key]
            p50, p95 = statistics.median(s), percentile(s, 0.95)
            log(f"{r.backend:<11} {label:<44} {p50:8.2f} {p95:8.2f} {p50 / b50:10.2f} {p95 / b95:10.2f}")


# ------------------------------------------------------------------ main


async def main(n: int, rounds: int, backends: list[str], keep: bool) -> None:
    log(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{n} cases, {rounds} rounds, backends {', '.join(backends)}")
    work = Path(tempfile.mkdtemp(prefix="casework-bench-lists-"))
    people = make_people()
    write_directory(people, work / "directory.yaml")
    env = await start_dev_env()
    results: list[Result] = []
    cluster: PostgresCluster | None = None
    try:
        for backend in backends:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{work / 'read-model.db'}"
            elif backend == "postgresql":
                cluster = PostgresCluster().start()
                url = cluster.url
            else:
                raise SystemExit(f"unknown backend {backend!r}: sqlite or postgresql")
            results.append(await run_backend(backend, url, people, n, rounds, env, work))
            if cluster is not None:
                cluster.stop()
                cluster = None
    finally:
        if cluster is not None:
            cluster.stop()
        await env.shutdown()
        if keep:
            log(f"kept {work} (the SQLite read model, the directory, the processes' logs)")
        else:
            shutil.rmtree(work, ignore_errors=True)

    log(f"\n=== summary: {n} cases, {rounds} rounds; ratio = the list's latency / a Temporal query of one case")
    for r in results:
        extra = f", VACUUM ANALYZE {r.maintenance_s:.1f} s" if r.maintenance_s > 0.05 else ""
        log(f"{r.backend}: seeded {r.report.cases} cases, {r.report.delegations} delegations, "
            f"{r.report.principals} delegation principals, {r.report.participations} participations "
            f"in {r.report.seconds:.1f} s{extra}; to-do of {r.facts['inbox_user']}: {r.facts['todo_total']} open tasks "
            f"(median inbox {r.facts['inbox_median']:.0f}); search totals '{RARE_WORD}' {r.facts['search_rare_total']}, "
            f"'{COMMON_WORD}' {r.facts['search_common_total']}")
    print_table(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (SQLite file, logs)")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    run_and_exit(main(args.cases, args.rounds, backends, args.keep))
