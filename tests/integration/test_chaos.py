"""Chaos: clients act on shared cases through two gateways while a worker, a gateway and the
Temporal dev server are killed with SIGKILL, in turn, every few seconds, and started again
(the dev server on the same SQLite file and port).

Each client retries an action with the same Idempotency-Key and body on a connection error,
429, 503 or 504 until it gets a 2xx or a final 4xx, and records every answer; a 5xx that is
not one of those (a 502 "refused", a 500) is an anomaly, since nothing here can never
succeed. Every
state change of these cases is one acknowledged action (each answer's ETag is its case
version), so the 2xx answers of a case, ordered by ETag, are its whole recorded life. From
them the test knows the task at every version and checks, with every process up again:

- the read model never held a state its case did not record: each snapshot sampled from the
  database during the chaos (case version and task row, read in one transaction) is the task
  at that version, and each task listed by `GET /tasks` meanwhile is one the case recorded;
- each acknowledged action is in its case exactly once: the versions of the 2xx answers are
  2, 3, ... up to the case's own version, none twice, and the audit trail's entries are those
  actions in that order (one per action; case-file merges name their distinctive key);
- every acknowledged key sent again gets its first answer (status, body, ETag, token);
- no case is wedged: a fresh action on each succeeds;
- the lists, once they report `reached` for the tokens of those fresh actions, show each
  case's tasks exactly as the case's own query does, field by field (and `GET /cases` each
  case as `GET /cases/{id}`), and the database holds each case's version.

About 90 s in all on 2 cores (60 s of chaos, about 15 kills, 400 to 900 acknowledged
actions). What happened goes to chaos.log in the test's folder (kills, restarts, each answer
that was retried); a failed run also writes failures.txt there.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import devserver
from tests.api.conftest import HERE as API_TESTS, user_id, write_directory
from tests.support.processes import DevServer, GatewayProcess, WorkerProcess

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

CHAOS_SECONDS = 60.0
KILL_EVERY = 4.0  # seconds between kills, give or take a third
CASES = 8
CLIENTS_PER_CASE = 2  # rev1 and rev2 compete for each case's task
# 2xx answers per client at most: a case's answers stay well inside the workflow's window
# of 256 remembered keys, so every acknowledged key can be sent again at the end.
MAX_ACKS_PER_CLIENT = 100
ACTION_TIMEOUT_SECONDS = 5
# An action not answered (2xx or final 4xx) this long after it was first sent: a wedged case.
ACTION_DEADLINE = 90.0
RETRY_STATUSES = frozenset({429, 503, 504})
AUDITED = {"claim": "claim", "save": "save", "revoke": "revoke", "merge": "casefile"}


@dataclass
class Answer:
    """One action as a client sent it and the answer that ended its retries."""

    key: str
    client: int
    case_id: str
    kind: str  # claim, save, revoke, merge
    method: str
    path: str
    user: str
    body: Any
    status: int = 0
    answer: Any = None
    etag: str | None = None
    token: str | None = None
    gateway: int = 0  # the one it was first sent to
    attempts: int = 0
    retried_on: list[str] = field(default_factory=list)
    took: float = 0.0  # seconds from the first attempt to the final answer

    @property
    def version(self) -> int:
        assert self.etag is not None, f"{self.key}: a {self.status} without ETag"
        return int(self.etag.strip('"'))


class Wedged(AssertionError):
    pass


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return {"text": resp.text[:500]}


def moment(text: str) -> datetime:
    """The API's `...Z` and SQLite's naive UTC text as one aware datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def task_state(view: dict[str, Any]) -> tuple[Any, ...]:
    """What an action changes of a task, comparable across the API and the database."""
    return (view["taskState"], view["assignee"], view["owner"], json.dumps(view["output"], sort_keys=True),
            moment(view["lastModified"]))


# ------------------------------------------------------------------ the processes


class Cluster:
    """The dev server, two workers and two gateways on one task queue and one read model
    (the data folder they share); `chaos` kills and restarts them, `ensure_up` restarts
    whatever died on its own. What happens goes to chaos.log, with seconds since the start."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.log = open(data / "chaos.log", "a", buffering=1)
        self.dev = DevServer(data / "temporal.db", log_file=data / "temporal.log")
        queue = f"chaos-{uuid.uuid4().hex[:6]}"
        env = {
            "CASEWORK_DIRECTORY": str(data / "directory.yaml"),
            "CASEWORK_DEFINITIONS": str(API_TESTS / "definitions"),
            "CASEWORK_ACTION_TIMEOUT_SECONDS": str(ACTION_TIMEOUT_SECONDS),
        }
        common = dict(temporal_address=self.dev.address, task_queue=queue, data_dir=data, env=env)
        self.workers = [WorkerProcess(**common, log_file=data / f"worker{i}.log") for i in range(2)]
        self.gateways = [GatewayProcess(**common, log_file=data / f"gateway{i}.log") for i in range(2)]
        self.kills: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.t0 = time.monotonic()

    def note(self, text: str) -> None:
        self.log.write(f"{time.monotonic() - self.t0:7.2f} {text}\n")

    def _process(self, name: str) -> Any:
        kind, i = name[:-1], int(name[-1])
        return self.dev if kind == "temporal" else (self.workers if kind == "worker" else self.gateways)[i]

    async def _ready(self, name: str, logged: int) -> None:
        if name.startswith("temporal"):
            await devserver.connect_when_ready(self.dev.address, timeout=30, alive=lambda: self.dev.running)
        elif name.startswith("gateway"):
            await self._process(name).wait_ready(timeout=30)
        else:
            await self._worker_ready(self._process(name), logged)

    @staticmethod
    def _polling_lines(worker: WorkerProcess) -> int:
        assert worker.log_file is not None
        return worker.log_file.read_bytes().count(b"worker on task queue") if worker.log_file.exists() else 0

    async def _worker_ready(self, worker: WorkerProcess, before: int, timeout: float = 30.0) -> None:
        """Until the worker's log says it polls (each start that gets there logs one line)."""
        deadline = time.monotonic() + timeout
        while self._polling_lines(worker) <= before:
            if not worker.running:
                raise RuntimeError(f"the worker exited with code {worker.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not poll within {timeout:.0f} s")
            await asyncio.sleep(0.1)

    async def start(self, name: str, within: float = 90.0) -> None:
        """Start (again) and wait until it serves; a start that fails (a worker or gateway
        that could not reach Temporal, down at that moment) is tried again."""
        deadline = time.monotonic() + within
        attempt = 0
        while True:
            attempt += 1
            process = self._process(name)
            logged = self._polling_lines(process) if isinstance(process, WorkerProcess) else 0
            started = time.monotonic()
            process.start()
            try:
                await self._ready(name, logged)
                self.note(f"{name} up after {time.monotonic() - started:.1f} s")
                return
            except Exception as exc:
                self.note(f"{name} start {attempt} failed: {exc}")
                self._sigkill(name)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start within {within:.0f} s; see {self.data}") from exc
                await asyncio.sleep(0.5)

    async def start_all(self) -> None:
        await self.start("temporal0")
        await asyncio.gather(self.start("worker0"), self.start("worker1"), self.start("gateway0"))
        # the second gateway after the first: the first one made the token signing key
        await self.start("gateway1")

    def _sigkill(self, name: str) -> int | None:
        process = self._process(name)
        return process.kill() if isinstance(process, DevServer) else process.kill9()

    def kill(self, name: str) -> None:
        code = self._sigkill(name)
        self.kills[name.rstrip("01")] += 1
        self.note(f"SIGKILL {name} (exit {code})")

    async def ensure_up(self, busy: frozenset[str] = frozenset()) -> None:
        """Start whatever exited without being killed (`busy`: being started again now)."""
        for name in ("temporal0", "worker0", "worker1", "gateway0", "gateway1"):
            process = self._process(name)
            if name not in busy and not process.running:
                self.unexpected.append(f"{name} exited on its own with code {process.returncode}")
                self.note(f"{name} found dead (exit {process.returncode}); starting it")
                await self.start(name)

    async def chaos(self, until: float, rng: random.Random) -> None:
        """Every KILL_EVERY seconds (give or take a third) SIGKILL the next of the victims that
        is up, and start it again after a moment, without waiting for it: a slow start (a
        Python process on a busy machine takes seconds) overlaps the next kill."""
        victims = ["worker0", "gateway0", "temporal0", "worker1", "gateway1", "temporal0"]
        restarting: dict[str, asyncio.Task[None]] = {}
        turn = 0

        async def restart(name: str, after: float) -> None:
            await asyncio.sleep(after)
            await self.start(name)

        try:
            while True:
                pause = KILL_EVERY * rng.uniform(0.67, 1.33)
                if time.monotonic() + pause >= until:
                    break
                await asyncio.sleep(pause)
                for name, task in list(restarting.items()):
                    if task.done():
                        del restarting[name]
                        task.result()  # a process that could not be started fails the test
                await self.ensure_up(frozenset(restarting))
                for _ in victims:
                    name = victims[turn % len(victims)]
                    turn += 1
                    if name not in restarting:
                        self.kill(name)
                        restarting[name] = asyncio.create_task(restart(name, rng.uniform(0.1, 1.5)))
                        break
        finally:
            await asyncio.gather(*restarting.values())

    def stop(self) -> None:
        for process in [*self.gateways, *self.workers]:
            process.stop(5)
        self.dev.stop(5)
        self.log.close()


# ------------------------------------------------------------------ the clients


class Clients:
    def __init__(self, cluster: Cluster, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.cluster = cluster
        self.http = http
        self.tokens = tokens
        self.answers: list[Answer] = []
        self.anomalies: list[str] = []
        self.stop = asyncio.Event()

    async def send(self, client: int, case_id: str, kind: str, method: str, path: str, user: str,
                   body: Any = None, *, key: str | None = None, gateway: int | None = None, record: bool = True) -> Answer:
        """Until a 2xx or a final 4xx: the same key and body each time, alternating gateways."""
        gw = client % 2 if gateway is None else gateway
        answer = Answer(key or f"c{client}-{uuid.uuid4().hex[:12]}", client, case_id, kind, method, path, user, body, gateway=gw)
        began = time.monotonic()
        deadline = began + ACTION_DEADLINE
        while True:
            answer.attempts += 1
            url = self.cluster.gateways[gw].url + path
            headers = {"Authorization": f"Bearer {self.tokens[user]}", "Idempotency-Key": answer.key}
            pause = 0.3
            try:
                resp = await self.http.request(method, url, json=body, headers=headers)
            except httpx.TransportError as exc:
                answer.retried_on.append(type(exc).__name__)
            else:
                if resp.status_code not in RETRY_STATUSES:
                    answer.status = resp.status_code
                    answer.answer = _json(resp)
                    answer.etag = resp.headers.get("etag")
                    answer.token = resp.headers.get("casework-consistency")
                    answer.took = time.monotonic() - began
                    if resp.status_code >= 500:
                        self.anomalies.append(f"{kind} {answer.key}: a final {resp.status_code}: {resp.text[:200]}")
                    if 200 <= resp.status_code < 300 and kind != "start" and not (answer.etag and answer.token):
                        self.anomalies.append(f"{kind} {answer.key}: a {resp.status_code} without ETag or Casework-Consistency")
                    if record:
                        self.answers.append(answer)
                    return answer
                answer.retried_on.append(str(resp.status_code))
                problem = _json(resp)
                detail = problem.get("detail", "") if isinstance(problem, dict) and resp.status_code != 504 else ""
                self.cluster.note(f"{resp.status_code} to {kind} {answer.key} on case {case_id} through gateway{gw} {detail}")
                if resp.status_code in (429, 503, 504) and "retry-after" not in resp.headers:
                    self.anomalies.append(f"{answer.key}: {resp.status_code} without Retry-After: {resp.text[:200]}")
                pause = min(float(resp.headers.get("retry-after", "1")), 1.0)
            if time.monotonic() > deadline:
                raise Wedged(f"{kind} {answer.key} on case {case_id}: no final answer after {ACTION_DEADLINE:.0f} s "
                             f"({answer.attempts} attempts: {Counter(answer.retried_on)})")
            gw = 1 - gw
            await asyncio.sleep(pause)

    async def read(self, path: str, user: str, gateway: int, *, within: float = 60.0, **kw: Any) -> Any:
        """GET through one gateway, again while it answers 429, 503 or 504 or not at all."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}", **kw.pop("headers", {})}
        deadline = time.monotonic() + within
        while True:
            try:
                resp = await self.http.get(self.cluster.gateways[gateway].url + path, headers=headers, **kw)
                if resp.status_code not in RETRY_STATUSES:
                    assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text[:300]}"
                    return resp
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise Wedged(f"GET {path} through gateway{gateway}: no answer within {within:.0f} s")
            await asyncio.sleep(0.5)

    async def run(self, client: int, case_id: str, user: str, rng: random.Random) -> None:
        """Claim the review; when it is ours, save a draft, merge into the case file and
        revoke; when the other reviewer holds it (409), merge into the case file instead."""
        task = f"/tasks/{case_id}.review"
        acks, n = 0, 0

        async def act(kind: str, method: str, path: str, body: Any = None) -> Answer:
            nonlocal acks, n
            n += 1
            answer = await self.send(client, case_id, kind, method, path, user, body, gateway=(client + n) % 2)
            acks += 200 <= answer.status < 300
            return answer

        def merge_body() -> dict[str, int]:
            # a key of its own, so the audit trail names this very merge
            return {f"m{client}_{uuid.uuid4().hex[:10]}": n}

        while not self.stop.is_set() and acks < MAX_ACKS_PER_CLIENT - 4:
            claimed = await act("claim", "PUT", f"{task}/claim")
            if claimed.status == 200:
                for kind, method, path, body in (
                    ("save", "PUT", task, {"verdict": f"v{client}-{uuid.uuid4().hex[:10]}", "score": n}),
                    ("merge", "PUT", f"/cases/{case_id}/casefile", merge_body()),
                    ("revoke", "PUT", f"{task}/revoke", None),
                ):
                    if self.stop.is_set():
                        break
                    done = await act(kind, method, path, body)
                    if done.status != 200:
                        self.anomalies.append(f"{kind} {done.key} by the task's holder answered {done.status}: {done.answer}")
                    await asyncio.sleep(rng.uniform(0.1, 0.4))
            elif claimed.status == 409:
                await asyncio.sleep(rng.uniform(0.1, 0.4))
                await act("merge", "PUT", f"/cases/{case_id}/casefile", merge_body())
            else:
                self.anomalies.append(f"claim {claimed.key} answered {claimed.status}: {claimed.answer}")
            await asyncio.sleep(rng.uniform(0.2, 0.6))


# ------------------------------------------------------------------ sampling the read model


def read_snapshot(db_file: Path, case_ids: list[str]) -> list[tuple[Any, ...]]:
    """(case, version, item, taskState, assignee, owner, output, lastModified) of each task
    row, with its case's version, read in one transaction (one WAL snapshot)."""
    marks = ",".join("?" * len(case_ids))
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5, isolation_level=None)
    try:
        conn.execute("BEGIN")
        versions = dict(conn.execute(f"SELECT case_id, version FROM cases WHERE case_id IN ({marks})", case_ids))
        rows = conn.execute(
            "SELECT case_id, item_id, task_state, assignee, owner, output, last_modified FROM delegations "
            f"WHERE case_id IN ({marks})", case_ids,
        ).fetchall()
        conn.execute("COMMIT")
    finally:
        conn.close()
    return [(c, versions.get(c), item, state, assignee, owner, json.dumps(json.loads(output), sort_keys=True), moment(modified))
            for c, item, state, assignee, owner, output, modified in rows]


async def sample_database(db_file: Path, case_ids: list[str], seen: set[tuple[Any, ...]], stop: asyncio.Event) -> int:
    count = 0
    while not stop.is_set():
        try:
            seen.update(await asyncio.to_thread(read_snapshot, db_file, case_ids))
            count += 1
        except sqlite3.Error:
            pass  # a writer was killed mid-commit; the next snapshot reads past it
        await asyncio.sleep(0.2)
    return count


async def sample_lists(clients: Clients, seen: set[tuple[Any, ...]], stop: asyncio.Event) -> int:
    count, gw = 0, 0
    while not stop.is_set():
        gw = 1 - gw
        try:
            resp = await clients.http.get(
                f"{clients.cluster.gateways[gw].url}/tasks", params={"numberOfResults": 1000},
                headers={"Authorization": f"Bearer {clients.tokens['author']}"},
            )
        except httpx.TransportError:
            resp = None
        if resp is not None and resp.status_code == 200:
            seen.update((t["caseInstanceId"], *task_state(t)) for t in resp.json())
            count += 1
        await asyncio.sleep(0.5)
    return count


# ------------------------------------------------------------------ the test


async def test_chaos_loses_doubles_and_invents_nothing(tmp_path: Path) -> None:
    began = time.monotonic()
    rng = random.Random(0x5EED)
    write_directory(tmp_path / "directory.yaml")
    cluster = Cluster(tmp_path)
    try:
        await cluster.start_all()
        async with httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=3.0)) as http:
            tokens = {}
            for name in ("author", "rev1", "rev2", "admin"):
                resp = await http.post(f"{cluster.gateways[0].url}/oauth2/token",
                                       data={"grant_type": "password", "username": name, "password": f"{name}-pw"})
                assert resp.status_code == 200, resp.text
                tokens[name] = resp.json()["access_token"]
            clients = Clients(cluster, http, tokens)
            await run_chaos(cluster, clients, rng, tmp_path, began)
    finally:
        cluster.stop()


async def run_chaos(cluster: Cluster, clients: Clients, rng: random.Random, data: Path, began: float) -> None:
    # the cases, and each one's task at version 1
    case_ids: list[str] = []
    initial: dict[str, tuple[Any, ...]] = {}
    for i in range(CASES):
        # both reviewers in the team: the one who finds the task held by the other is told so
        # (409) and works on the case file instead (a reviewer outside the team would not see it)
        team = {"users": [{"userId": user_id(r), "caseRoles": ["reviewer"]} for r in ("rev1", "rev2")]}
        started = await clients.send(-1, "", "start", "POST", "/cases", "author",
                                     {"definition": "review", "inputs": {"subject": f"chaos {i}"}, "caseTeam": team},
                                     gateway=i % 2, record=False)
        assert started.status == 201, started.answer
        case_id = started.answer["caseInstanceId"]
        case_ids.append(case_id)
        tasks = (await clients.read(f"/tasks/case/{case_id}", "author", 0)).json()
        assert [t["planItemId"] for t in tasks] == ["review"] and tasks[0]["taskState"] == "Unassigned"
        initial[case_id] = task_state(tasks[0])

    # the chaos, with the clients and the samplers running
    until = time.monotonic() + CHAOS_SECONDS
    sampled_rows: set[tuple[Any, ...]] = set()
    listed_tasks: set[tuple[Any, ...]] = set()
    stop_sampling = asyncio.Event()
    samplers = [
        asyncio.create_task(sample_database(data / "casework.db", case_ids, sampled_rows, stop_sampling)),
        asyncio.create_task(sample_lists(clients, listed_tasks, stop_sampling)),
    ]
    runners = [
        asyncio.create_task(clients.run(c, case_ids[c // CLIENTS_PER_CASE], ("rev1", "rev2")[c % 2], random.Random(c)))
        for c in range(CASES * CLIENTS_PER_CASE)
    ]
    chaos_began = time.monotonic()
    try:
        await cluster.chaos(until, rng)
        await asyncio.sleep(max(0.0, until - time.monotonic()))
        clients.stop.set()
        chaos_seconds = time.monotonic() - chaos_began
        # every client finishes the action it is in (each bounded by ACTION_DEADLINE)
        await cluster.ensure_up()
        results = await asyncio.gather(*runners, return_exceptions=True)
        stop_sampling.set()
        db_samples, list_samples = await asyncio.gather(*samplers)
    except BaseException:
        for task in [*runners, *samplers]:
            task.cancel()
        await asyncio.gather(*runners, *samplers, return_exceptions=True)
        raise
    wedged = [r for r in results if isinstance(r, BaseException)]
    assert not wedged, f"clients failed: {wedged}"
    await cluster.ensure_up()
    during = list(clients.answers)

    # (2) every acknowledged key sent again, through the other gateway: its first answer
    acknowledged = [a for a in during if 200 <= a.status < 300]
    mismatches: list[str] = []
    semaphore = asyncio.Semaphore(16)

    async def resend(first: Answer) -> None:
        async with semaphore:
            again = await clients.send(first.client, first.case_id, first.kind, first.method, first.path, first.user,
                                       first.body, key=first.key, gateway=1 - first.gateway, record=False)
        theirs = (again.status, again.answer, again.etag, again.token)
        if theirs != (first.status, first.answer, first.etag, first.token):
            mismatches.append(f"{first.kind} {first.key} on {first.case_id}: first {first.status} {first.etag} "
                              f"{first.answer}; again {again.status} {again.etag} {again.answer}")

    await asyncio.gather(*(resend(a) for a in acknowledged))

    # (3) no case is wedged: a fresh action on each succeeds
    fresh: dict[str, Answer] = {}
    for i, case_id in enumerate(case_ids):
        fresh[case_id] = await clients.send(1000 + i, case_id, "merge", "PUT", f"/cases/{case_id}/casefile", "author",
                                            {f"final_{i}": i}, gateway=i % 2)
    not_taken = {c: (a.status, a.answer) for c, a in fresh.items() if a.status != 200}

    # the cases' own record: version, audit trail, file and tasks (through both gateways)
    views, histories, own_tasks = {}, {}, {}
    for i, case_id in enumerate(case_ids):
        views[case_id] = (await clients.read(f"/cases/{case_id}", "author", i % 2)).json()
        histories[case_id] = (await clients.read(f"/cases/{case_id}/history", "author", i % 2)).json()
        own_tasks[case_id] = (await clients.read(f"/tasks/case/{case_id}", "author", i % 2)).json()

    # (4) the lists, once they have reached the fresh actions' versions, show what the cases do
    tokens = ",".join(a.token for a in fresh.values() if a.token)
    listed: dict[int, tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for gw in (0, 1):
        deadline = time.monotonic() + 60
        while True:
            page = {"numberOfResults": 1000}
            tasks = await clients.read("/tasks", "author", gw, params=page, headers={"Casework-Consistency": tokens})
            cases = await clients.read("/cases", "admin", gw, params=page, headers={"Casework-Consistency": tokens})
            status = (tasks.headers.get("casework-consistency-status"), cases.headers.get("casework-consistency-status"))
            if status == ("reached", "reached") or time.monotonic() > deadline:
                listed[gw] = (f"{status}", tasks.json(), cases.json())
                break
            await asyncio.sleep(0.5)
    stored = await asyncio.to_thread(read_snapshot, data / "casework.db", case_ids)

    # ------------------------------------------------------------------ the verdicts
    answers = clients.answers
    by_case: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        if 200 <= a.status < 300:
            by_case[a.case_id].append(a)
    problems: list[str] = []
    timelines: dict[str, dict[int, tuple[Any, ...]]] = {}
    for case_id in case_ids:
        acks = sorted(by_case[case_id], key=lambda a: a.version)
        versions = [a.version for a in acks]
        final = views[case_id]["caseVersion"]
        # (1) each acknowledged action once: the answers' versions are the case's whole life
        doubled = [v for v, n in Counter(versions).items() if n > 1]
        if doubled:
            problems.append(f"case {case_id}: versions answered to more than one key: "
                            f"{[(a.key, a.kind, a.version) for a in acks if a.version in doubled]}")
        if sorted(set(versions)) != list(range(2, final + 1)):
            missing = sorted(set(range(2, final + 1)) - set(versions))
            problems.append(f"case {case_id} is at version {final}; no acknowledged answer has version(s) {missing} "
                            f"(a change nobody was told of), answers beyond it: {[v for v in versions if v > final]}")
        expected = [(AUDITED[a.kind], user_id(a.user), f"changed: {next(iter(a.body))}" if a.kind == "merge" else None) for a in acks]
        audited = [(e["action"], e["user"], e["detail"] if e["action"] == "casefile" else None)
                   for e in histories[case_id] if e["action"] in AUDITED.values()]
        if audited != expected:
            problems.append(f"case {case_id}: the audit trail is not the acknowledged actions in version order:\n"
                            f"  expected {len(expected)}: {diff_hint(expected, audited)}")
        others = Counter(e["action"] for e in histories[case_id] if e["action"] not in AUDITED.values())
        if set(others) - {"create", "start"}:
            problems.append(f"case {case_id}: audit entries no client made: {others}")
        file = views[case_id]["file"]
        lost = [a.key for a in acks if a.kind == "merge" and any(file.get(k) != v for k, v in a.body.items())]
        if lost:
            problems.append(f"case {case_id}: merges acknowledged but not in the case file: {lost}")
        # the task at each version
        timeline = {1: initial[case_id]}
        state = initial[case_id]
        for a in acks:
            if a.kind != "merge":
                state = task_state(a.answer)
            timeline[a.version] = state
        timelines[case_id] = timeline
        if task_state(own_tasks[case_id][0]) != timeline.get(final):
            problems.append(f"case {case_id}: its task {task_state(own_tasks[case_id][0])} is not the task of its last "
                            f"acknowledged answer {timeline.get(final)}")

    # the read model during the chaos: only recorded states, each at its own version
    invented = []
    for case_id, version, item, *row in sampled_rows:
        if timelines[case_id].get(version) != tuple(row):
            invented.append(f"case {case_id} at version {version}: stored {tuple(row)}, "
                            f"recorded {timelines[case_id].get(version)}")
    recorded = {(c, *s) for c, t in timelines.items() for s in t.values()}
    invented_listed = sorted(str(t) for t in listed_tasks - recorded)
    finals = {}
    for case_id, version, item, *row in stored:
        finals[case_id] = version
        if version != views[case_id]["caseVersion"] or tuple(row) != timelines[case_id].get(version):
            problems.append(f"case {case_id}: the read model holds version {version} {tuple(row)}; "
                            f"the case is at {views[case_id]['caseVersion']}")
    problems += [f"case {c}: not in the read model" for c in case_ids if c not in finals]

    # (4) lists against the cases' own answers
    summary_fields = ("id", "caseNumber", "name", "definition", "version", "state", "createdOn", "createdBy", "lastModified")
    for gw, (status, tasks, cases) in listed.items():
        if status != str(("reached", "reached")):
            problems.append(f"gateway {gw}: the lists did not reach the fresh actions' versions within 60 s: {status}")
        for case_id in case_ids:
            rows = sorted((t for t in tasks if t["caseInstanceId"] == case_id), key=lambda t: t["id"])
            own = sorted(own_tasks[case_id], key=lambda t: t["id"])
            if rows != own:
                problems.append(f"gateway {gw}: GET /tasks shows case {case_id} as {rows}, the case answers {own}")
            row = [c for c in cases if c["id"] == case_id]
            if [{k: r[k] for k in summary_fields} for r in row] != [{k: views[case_id][k] for k in summary_fields}]:
                problems.append(f"gateway {gw}: GET /cases shows case {case_id} as {row}, the case answers "
                                f"{ {k: views[case_id][k] for k in summary_fields} }")

    # what the run did
    statuses = Counter((a.kind, a.status) for a in during)
    retried = Counter(r for a in during for r in a.retried_on)
    slowest = max(during, key=lambda a: a.took)
    report = (
        f"chaos {chaos_seconds:.0f} s, whole test {time.monotonic() - began:.0f} s; kills {dict(cluster.kills)}; "
        f"unexpected exits {cluster.unexpected}; {len(during)} actions answered during the chaos "
        f"({len(acknowledged)} acknowledged): {dict(sorted(statuses.items()))}; "
        f"{sum(a.attempts - 1 for a in during)} retries: {dict(retried)}; slowest answer {slowest.took:.1f} s "
        f"({slowest.kind} {slowest.key}: {dict(Counter(slowest.retried_on))}); "
        f"{db_samples} database snapshots ({len(sampled_rows)} distinct rows), {list_samples} task lists; "
        f"{len(acknowledged)} keys sent again; versions {[finals.get(c) for c in case_ids]}; logs in {data}"
    )
    print(report)
    cluster.note(report)
    failures = [
        ("unexpected answers", clients.anomalies),
        ("keys sent again that got another answer", mismatches),
        ("cases that took no fresh action", [f"{c}: {s}" for c, s in not_taken.items()]),
        ("states the read model held that its case did not record at that version", invented),
        ("tasks GET /tasks listed that no case recorded", invented_listed),
        ("the cases against their answers, audit trails and lists", problems),
    ]
    if len(acknowledged) < 100 or sum(cluster.kills.values()) < 9:
        failures.append(("too little happened to tell anything", [report]))
    text = "\n".join(f"{title} ({len(found)}):\n  " + "\n  ".join(found[:20]) for title, found in failures if found)
    if text:
        (data / "failures.txt").write_text(text + f"\n{report}\n")
    assert not text, f"{text}\n{report}"


def diff_hint(expected: list[Any], actual: list[Any]) -> str:
    """Where two sequences part, with a little context."""
    at = next((i for i, (e, a) in enumerate(zip(expected, actual)) if e != a), min(len(expected), len(actual)))
    return (f"audited {len(actual)}; first difference at #{at}: expected {expected[at:at + 3]}, "
            f"audited {actual[at:at + 3]}")
