"""A realistic read model for the list benchmark (bench/lists.py): N cases cloned from real
projections.

The shapes come from the engine itself: the example definitions (travel request, expense
claim, employee onboarding) are started and driven (`start`, then claim, complete, assign,
balanced picks, process and sub-case results, pause, cancel) with placeholder actors, and each
resulting state is projected (`workflows.engine.projection.project`) and turned into rows by
the store's own functions (`store.projection._case_values`, `_delegation_values`). Each
clone then gets a new case id and number, a title rendered from varied inputs, real users of
a ~200-user directory in 21 groups (7 functions x 3 regions) in place of the placeholders,
regional groups in place of the definitions' groups, and dates spread over a year (open
cases recent, closed ones anywhere in it). Case numbers follow creation time.

Rows go in with executemany, a few thousand cases per transaction, not one projection write
per case.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, insert, select, text

from store.db import Database
from store.directory import hash_password
from store.projection import CANDIDATE, VIEWER, _case_values, _delegation_values
from store.tables import CaseNumberRow, CaseRow, DelegationPrincipalRow, DelegationRow, ParticipationRow
from workflows.actor import SYSTEM, Actor
from workflows.definition import Definition, compile_routes, load_document, parse_definition
from workflows.engine.commands import (
    Assign,
    AutoAssign,
    CaseCancelled,
    ChildDone,
    Claim,
    Complete,
    Pause,
    ProcessDone,
)
from workflows.engine.decide import decide, start
from workflows.engine.projection import CaseDoc, project
from workflows.engine.state import CaseState

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "examples" / "definitions"

# ------------------------------------------------------------------ the directory

REGIONS = ("north", "south", "east")
# The groups the example definitions name, each split by region (`managers-north`, ...).
FUNCTIONS = ("employees", "managers", "finance", "hr", "it", "facilities", "auditors")
# users per region in each function besides `employees` (everyone is an employee)
PER_REGION = {"managers": 10, "finance": 8, "hr": 5, "it": 5, "facilities": 4, "auditors": 2}
USERS_PER_REGION = 66
PASSWORD = "bench-pw"
ADMIN_ID = "00000000000000000000000000000001"
# A user in the groups the example definitions name as they are (not regional), so the
# benchmark can start live cases of them through the gateway for its Temporal baseline.
STARTER = "starter"

FIRST = (
    "anna", "ben", "carla", "dario", "elena", "farid", "greta", "hugo", "ines", "jonas", "kira", "luca", "maya",
    "nils", "olga", "pablo", "quinn", "rosa", "sven", "tara", "umar", "vera", "wim", "xenia", "yusuf", "zoe",
    "amir", "beatriz", "chen", "dana", "emil", "fatima", "goran", "hana", "ivan", "julia", "karim", "lena",
)
LAST = (
    "berg", "costa", "dahl", "evans", "fischer", "garcia", "haas", "ito", "jensen", "kowalski", "lind", "moreau",
    "novak", "okafor", "petrov", "quist", "rossi", "silva", "tanaka", "urban", "vogel", "weber", "xu", "yilmaz",
    "zeller", "adler", "brandt", "claes", "duarte", "engel",
)
# Travel destinations with their weights. `reykjavik` is the rare word of the search
# benchmark (a few hundred cases); `travel` (every travel request's title) the common one.
DESTINATIONS = {
    "Oslo": 30, "Berlin": 40, "Paris": 40, "Madrid": 25, "Lisbon": 20, "Rome": 25, "Vienna": 20, "Prague": 15,
    "Warsaw": 15, "Dublin": 15, "Amsterdam": 30, "Brussels": 30, "Zurich": 20, "Milan": 20, "Munich": 25,
    "Hamburg": 15, "Stockholm": 15, "Copenhagen": 15, "Helsinki": 10, "Athens": 10, "Budapest": 10,
    "London": 40, "Edinburgh": 8, "Barcelona": 20, "Lyon": 10, "Geneva": 10, "Tallinn": 5, "Riga": 5,
    "Vilnius": 5, "Reykjavik": 4,
}
RARE_WORD = "reykjavik"
COMMON_WORD = "travel"


@dataclass(frozen=True)
class BenchUser:
    id: str
    username: str
    first: str
    last: str
    region: str
    function: str  # "employees" for employees only
    groups: tuple[str, ...]
    reports_to: str | None = None


@dataclass
class People:
    users: list[BenchUser]
    admin: BenchUser
    starter: BenchUser
    # region -> function -> users, in pool order (the first are the busiest: see `pick`)
    pools: dict[str, dict[str, list[BenchUser]]]
    by_id: dict[str, BenchUser] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {u.id: u for u in [*self.users, self.admin, self.starter]}


def user_id(username: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_DNS, f"casework-bench:{username}").hex


def make_people(seed: int = 7) -> People:
    rng = random.Random(seed)
    names = [(f, l) for f in FIRST for l in LAST]
    rng.shuffle(names)
    users: list[BenchUser] = []
    pools: dict[str, dict[str, list[BenchUser]]] = {}
    n = 0
    for region in REGIONS:
        pools[region] = {f: [] for f in FUNCTIONS}
        functions = [f for f, k in PER_REGION.items() for _ in range(k)]
        functions += ["employees"] * (USERS_PER_REGION - len(functions))
        managers: list[str] = []
        for function in functions:
            first, last = names[n]
            n += 1
            username = f"{first}.{last}"
            groups = (f"employees-{region}",) + (() if function == "employees" else (f"{function}-{region}",))
            u = BenchUser(user_id(username), username, first.title(), last.title(), region, function, groups)
            if function == "managers":
                managers.append(u.id)
            users.append(u)
        # everyone reports to a manager of their region (managers to the first manager)
        first = len(users) - len(functions)
        for i in range(first, len(users)):
            u = users[i]
            boss = managers[0] if u.function == "managers" else managers[i % len(managers)]
            users[i] = u = replace(u, reports_to=None if u.id == managers[0] else boss)
            pools[region][u.function].append(u)
            if u.function != "employees":
                pools[region]["employees"].append(u)
    admin = BenchUser(ADMIN_ID, "admin", "Administrator", "", "", "admin", ())
    starter = BenchUser(user_id(STARTER), STARTER, "Bench", "Starter", "", "employees", ("employees",),
                        reports_to=pools[REGIONS[0]]["managers"][0].id)
    return People(users, admin, starter, pools)


def actor_of(u: BenchUser) -> Actor:
    permissions = ["PM_CASES", "PM_ALLCASES", "PM_SUPERVISOR"] if u.id == ADMIN_ID else ["PM_CASES"]
    return Actor(user_id=u.id, username=u.username, groups=list(u.groups), permissions=permissions, reports_to=u.reports_to)


def write_directory(people: People, path: Path) -> None:
    """The directory file (DESIGN.md section 6). Every user's password is `PASSWORD`; one
    argon2id hash serves them all (hashing 200 passwords would take most of a minute)."""
    hashed = hash_password(PASSWORD)
    groups = [{"id": f"{f}-{r}", "name": f"{f.title()} ({r})"} for r in REGIONS for f in FUNCTIONS]
    groups += [{"id": f, "name": f.title()} for f in FUNCTIONS]
    everyone = [*people.users, people.starter, people.admin]
    doc = {
        "groups": groups,
        "users": [
            {
                "id": u.id, "username": u.username, "firstName": u.first, "lastName": u.last,
                "email": f"{u.username}@example.com", "password": hashed, "groups": list(u.groups),
                "permissions": actor_of(u).permissions, "reportsTo": u.reports_to,
            }
            for u in everyone
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


# ------------------------------------------------------------------ shapes, from the engine

# Placeholder users in the shapes; each clone puts real users in their place.
S, M, F, H, H2, IT, FA = "P_S", "P_M", "P_F", "P_H", "P_H2", "P_I", "P_FA"
# Users the definitions name by username; mapped to a user of the clone's region.
NAMED = {"audrey": "auditors", "frank": "finance"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _placeholder(uid: str, *functions: str, reports_to: str | None = None) -> Actor:
    return Actor(user_id=uid, username=uid, groups=list(functions), permissions=["PM_CASES"], reports_to=reports_to)


ACTORS = {
    S: _placeholder(S, "employees", reports_to=M), M: _placeholder(M, "employees", "managers"),
    F: _placeholder(F, "employees", "finance"), H: _placeholder(H, "employees", "hr"),
    H2: _placeholder(H2, "employees", "hr"), IT: _placeholder(IT, "employees", "it"),
    FA: _placeholder(FA, "employees", "facilities"),
}
ADMIN_ACTOR = Actor(user_id="admin", username="admin", permissions=["PM_CASES", "PM_ALLCASES", "PM_SUPERVISOR"])

Step = Callable[[str], Any]  # item id -> command


def _drive(definition: Definition, starter: str, inputs: dict[str, Any], steps: list[Any]) -> CaseState:
    state = start(definition, case_id="template", case_number=1, actor=ACTORS[starter], inputs=inputs, team=[], at=T0).state
    for i, cmd in enumerate(steps, 1):
        state = decide(state, cmd, T0 + timedelta(hours=3 * i)).state
    return state


def _a(uid: str) -> Actor:
    return ACTORS[uid]


@dataclass
class Shape:
    name: str
    weight: float
    definition_id: str
    starter_function: str  # whose pool the starter comes from
    open: bool  # open cases are recent, closed ones anywhere in the year
    inputs: dict[str, Any]
    doc: CaseDoc


def build_shapes(definitions: dict[str, Definition]) -> list[Shape]:
    travel, expense, onboard = definitions["travel-request"], definitions["expense-claim"], definitions["employee-onboarding"]
    big = {"traveller": S, "destination": "Oslo", "amount": 2500, "ledger_url": "http://127.0.0.1:9"}
    small = {**big, "amount": 500}
    submit = Complete(actor=_a(S), item_id="submit", output={"justification": "customer visit"})
    claim_approve = Claim(actor=_a(M), item_id="approve")
    approve = Complete(actor=_a(M), item_id="approve", output={"approved": True})
    pick_book = AutoAssign(actor=SYSTEM, item_id="book", user_id=F)
    book = Complete(actor=_a(F), item_id="book", output={"bookingRef": "BK-1"})
    ledger = ProcessDone(actor=SYSTEM, item_id="ledger", attempt=1, ok=True)
    expenses = ChildDone(actor=SYSTEM, item_id="expenses", state="Completed", data={"reimbursed": 410})

    claim_receipts = Claim(actor=_a(S), item_id="receipts")
    lines = [{"date": "2026-01-03", "what": "hotel", "amount": 300}, {"date": "2026-01-04", "what": "train", "amount": 120}]
    within = Complete(actor=_a(S), item_id="receipts", output={"total": 420, "lines": lines})
    over = Complete(actor=_a(S), item_id="receipts", output={"total": 900, "lines": lines})
    pick_check = AutoAssign(actor=SYSTEM, item_id="check", user_id=F)
    check = Complete(actor=_a(F), item_id="check", output={"accepted": 410})
    claim_inputs = {"traveller": S, "budget": 800}

    hire = {"first_name": "Anna", "last_name": "Berg", "start_date": "2026-02-01", "hiring_manager": M,
            "services_url": "http://127.0.0.1:9"}
    hand_contract = Assign(actor=_a(H), item_id="contract", assignee=_a(H2))
    contract_go = Complete(actor=_a(H2), item_id="contract", output={"employee_number": 4711}, next="preparation")
    contract_stop = Complete(actor=_a(H2), item_id="contract", output={"employee_number": 4711}, next="close-file")
    kickoff = Complete(actor=_a(M), item_id="kickoff", output={"agenda": ["welcome", "tools"]})
    accounts = ProcessDone(actor=SYSTEM, item_id="accounts", attempt=1, ok=True, output={"username": "new.hire", "email": "n@example.com"})
    pick_workplace = AutoAssign(actor=SYSTEM, item_id="workplace", user_id=FA)
    claim_close = Claim(actor=_a(H), item_id="close-file")
    close = Complete(actor=_a(H), item_id="close-file", output={"reason": "withdrew"})
    cancel = CaseCancelled(actor=SYSTEM, reason="cancelled by an operator")
    pause = Pause(actor=_a(M))  # the holder of the approval pauses it

    specs: list[tuple[str, float, Definition, str, dict[str, Any], list[Any]]] = [
        # travel requests: half of the cases
        ("travel: submit (draft)", 4, travel, "employees", big, []),
        ("travel: approval in the managers' pool", 5, travel, "employees", big, [submit]),
        ("travel: approval claimed", 8, travel, "employees", big, [submit, claim_approve]),
        ("travel: booking assigned", 6, travel, "employees", big, [submit, claim_approve, approve, pick_book]),
        ("travel: approval claimed, paused", 1, travel, "employees", big, [submit, claim_approve, pause]),
        ("travel: cancelled", 4, travel, "employees", big, [submit, claim_approve, approve, pick_book, cancel]),
        ("travel: completed", 12, travel, "employees", small, [submit, pick_book, book, ledger, expenses]),
        ("travel: approved, completed", 10, travel, "employees", big,
         [submit, claim_approve, approve, pick_book, book, ledger, expenses]),
        # expense claims: a quarter
        ("expenses: receipts (draft)", 3, expense, "employees", claim_inputs, []),
        ("expenses: check assigned", 5, expense, "employees", claim_inputs, [claim_receipts, within, pick_check]),
        ("expenses: check and overrun assigned", 3, expense, "employees", claim_inputs, [claim_receipts, over, pick_check]),
        ("expenses: completed", 14, expense, "employees", claim_inputs, [claim_receipts, within, pick_check, check]),
        # onboardings: the rest
        ("onboarding: contract handed to HR (draft)", 2, onboard, "hr", hire, [hand_contract]),
        ("onboarding: first week to plan", 4, onboard, "hr", hire, [hand_contract, contract_go]),
        ("onboarding: laptop in IT's pool, desk assigned", 3, onboard, "hr", hire,
         [hand_contract, contract_go, kickoff, accounts, pick_workplace]),
        ("onboarding: file closed", 8, onboard, "hr", hire, [hand_contract, contract_stop, claim_close, close]),
        ("onboarding: cancelled", 4, onboard, "hr", hire, [hand_contract, contract_go, kickoff, cancel]),
    ]
    shapes = []
    for name, weight, definition, starter_function, inputs, steps in specs:
        state = _drive(definition, S if starter_function == "employees" else H, inputs, steps)
        doc = project(state)
        is_open = doc.app_status not in ("COMPLETED", "CANCELLED")
        shapes.append(Shape(name, weight, definition.id, starter_function, is_open, inputs, doc))
    return shapes


def load_definitions() -> dict[str, Definition]:
    out = {}
    for path in sorted(DEFINITIONS.glob("*.yaml")):
        d = parse_definition(load_document(path.read_text(encoding="utf-8")))
        out[d.id] = compile_routes(d)
    return out


# ------------------------------------------------------------------ cloning

CASE_DATES = ("created_on", "last_modified", "finished_at", "paused_until")
DELEGATION_DATES = ("delegated_at", "init_at", "due", "finished_at", "last_modified", "case_created_on",
                    "case_updated_on", "case_finished_at")
USER_COLUMNS = ("assignee", "owner", "previous_user")


@dataclass
class Template:
    shape: Shape
    case: dict[str, Any]
    delegations: list[tuple[dict[str, Any], list[str], list[str]]]  # values, candidates, viewers
    participations: list[tuple[str, str]]


def _template(shape: Shape) -> Template:
    doc = shape.doc
    dels = [(_delegation_values(doc, d), list(d.candidates), list(d.viewers)) for d in doc.delegations]
    return Template(shape, _case_values(doc), dels, [(p.principal, p.kind) for p in doc.participations])


class Cloner:
    def __init__(self, people: People, definitions: dict[str, Definition], shapes: list[Shape], now: datetime, seed: int) -> None:
        self.people = people
        self.definitions = definitions
        self.templates = [_template(s) for s in shapes]
        self.weights = [s.weight for s in shapes]
        self.now = now
        self.rng = random.Random(seed)
        self.destinations = list(DESTINATIONS)
        self.destination_weights = list(DESTINATIONS.values())
        # pool weights: the first users of a pool get more of its work (1/rank^0.4)
        self._pool_weights: dict[int, list[float]] = {}

    def pick(self, region: str, function: str) -> BenchUser:
        pool = self.people.pools[region][function]
        w = self._pool_weights.setdefault(len(pool), [1 / (i + 1) ** 0.4 for i in range(len(pool))])
        return self.rng.choices(pool, w)[0]

    def _other(self, region: str, function: str, not_this: str) -> str:
        """A user of the pool other than `not_this` (a contract goes to a colleague)."""
        while (u := self.pick(region, function)).id == not_this:
            pass
        return u.id

    def specs(self, n: int) -> list[tuple[datetime, int, str, str]]:
        """(created_on, template index, case id, region) for n cases, oldest first."""
        out = []
        for t in self.rng.choices(range(len(self.templates)), self.weights, k=n):
            if self.templates[t].shape.open:
                # open cases: mostly the last few weeks, some up to four months old
                age = min(self.rng.expovariate(1 / 20), 120)
            else:
                age = self.rng.uniform(0, 365)
            created = self.now - timedelta(days=age, seconds=self.rng.uniform(0, 3600))
            out.append((created, t, uuid.UUID(int=self.rng.getrandbits(128), version=4).hex, self.rng.choice(REGIONS)))
        out.sort()
        return out

    def clone(self, number: int, created: datetime, t: int, case_id: str, region: str) -> tuple[dict, list[dict], list[dict], list[dict]]:
        tpl = self.templates[t]
        shape = tpl.shape
        rng = self.rng
        starter = self.pick(region, shape.starter_function)
        boss = self.people.by_id[starter.reports_to] if starter.reports_to else self.pick(region, "managers")
        ids = {
            S: starter.id, F: self.pick(region, "finance").id, H: starter.id if shape.starter_function == "hr" else self.pick(region, "hr").id,
            H2: self._other(region, "hr", starter.id), IT: self.pick(region, "it").id, FA: self.pick(region, "facilities").id,
            # expense overruns go to the claimant's manager (REPORT_TO); other work to the pool
            M: boss.id if shape.definition_id == "expense-claim" else self.pick(region, "managers").id,
        }
        names = {u: self.people.pools[region][f][-1].username for u, f in NAMED.items()}

        def principal(p: str) -> str:
            kind, _, name = p.partition(":")
            if kind == "user":
                return f"user:{ids.get(name) or names.get(name) or name}"
            return f"group:{name}-{region}" if name in FUNCTIONS else p

        definition = self.definitions[shape.definition_id]
        if shape.definition_id == "travel-request":
            inputs: dict[str, Any] = {
                # the shape's route depends on the amount: keep it on the same side of 1000
                "traveller": starter.username,
                "amount": rng.randrange(100, 1000, 10) if shape.inputs["amount"] <= 1000 else rng.randrange(1100, 6000, 50),
                "destination": rng.choices(self.destinations, self.destination_weights)[0],
            }
        elif shape.definition_id == "expense-claim":
            inputs = {"traveller": starter.username, "budget": rng.randrange(300, 3000, 10)}
        else:
            first, last = rng.choice(FIRST).title(), rng.choice(LAST).title()
            inputs = {"first_name": first, "last_name": last, "name": f"{first} {last}",
                      "start_date": (created + timedelta(days=rng.randrange(14, 60))).date().isoformat(),
                      "hiring_manager": ids[M]}
        title = definition.render_title({**inputs, "caseNumber": number, "caseId": case_id})
        shift = created - T0

        case = dict(tpl.case)
        case.update(case_id=case_id, case_number=number, title=title, created_by=ids.get(case["created_by"], case["created_by"]))
        for k in CASE_DATES:
            if case[k] is not None:
                case[k] = case[k] + shift

        delegations, principals = [], []
        for values, candidates, viewers in tpl.delegations:
            d = dict(values)
            d.update(case_id=case_id, case_number=number, case_title=title, case_created_by=case["created_by"],
                     search_text=f"{title} {d['task_name']}".lower())
            for k in USER_COLUMNS:
                if d[k] is not None:
                    d[k] = ids.get(d[k], d[k])
            for k in DELEGATION_DATES:
                if d[k] is not None:
                    d[k] = d[k] + shift
            if d["input"]:
                d["input"] = {k: inputs.get(k, ids.get(v, v) if isinstance(v, str) else v) for k, v in d["input"].items()}
            delegations.append(d)
            # two placeholders may stand for one user: each principal once, as the projection has it
            for kind, ps in ((CANDIDATE, candidates), (VIEWER, viewers)):
                for p in dict.fromkeys(principal(p) for p in ps):
                    principals.append({"principal": p, "kind": kind, "case_number": number, "case_id": case_id,
                                       "del_index": d["del_index"]})
        parts = {}
        for p, kind in tpl.participations:
            parts[(principal(p), kind)] = None
        participations = [{"principal": p, "kind": k, "case_number": number, "case_id": case_id} for p, k in parts]
        return case, delegations, principals, participations


# ------------------------------------------------------------------ seeding


@dataclass
class SeedReport:
    cases: int
    delegations: int
    principals: int
    participations: int
    seconds: float
    shapes: Counter[str]
    statuses: dict[str, int]
    # open TO_DO delegations per assignee (id -> count), for choosing the benchmark's user
    inboxes: Counter[str]


async def seed(db: Database, people: People, n: int, *, chunk: int = 2000, seed: int = 11,
               now: datetime | None = None, log: Callable[[str], None] = print) -> SeedReport:
    """Insert n cloned cases into an empty, migrated read model; returns counts and time."""
    definitions = load_definitions()
    shapes = build_shapes(definitions)
    cloner = Cloner(people, definitions, shapes, (now or datetime.now(UTC)).replace(microsecond=0), seed)
    t0 = time.perf_counter()
    specs = cloner.specs(n)
    shape_counts: Counter[str] = Counter()
    inboxes: Counter[str] = Counter()
    tables = (CaseRow.__table__, DelegationRow.__table__, DelegationPrincipalRow.__table__, ParticipationRow.__table__)
    for first in range(0, n, chunk):
        batch: list[list[dict[str, Any]]] = [[], [], [], []]
        numbers = []
        for i, (created, t, case_id, region) in enumerate(specs[first:first + chunk], first + 1):
            case, dels, principals, parts = cloner.clone(i, created, t, case_id, region)
            shape_counts[cloner.templates[t].shape.name] += 1
            batch[0].append(case)
            batch[1].extend(dels)
            batch[2].extend(principals)
            batch[3].extend(parts)
            numbers.append({"number": i, "case_id": case_id, "created_at": created})
            for d in dels:
                if d["open"] and d["assignee"] and d["app_status"] == "TO_DO":
                    inboxes[d["assignee"]] += 1
        async with db.engine.begin() as conn:
            for table, rows in zip(tables, batch):
                if rows:
                    await conn.execute(insert(table), rows)
            await conn.execute(insert(CaseNumberRow.__table__), numbers)
        done = min(first + chunk, n)
        if done % (chunk * 10) == 0 or done == n:
            log(f"  seeded {done:>7} cases  ({time.perf_counter() - t0:6.1f} s)")
    async with db.engine.begin() as conn:
        if not db.is_sqlite:
            # explicit numbers do not move PostgreSQL's sequence; the gateway's next case
            # must get n + 1, as it would have
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('case_numbers', 'number'), :n)"), {"n": n})
    seconds = time.perf_counter() - t0
    counts = await count_rows(db)
    return SeedReport(counts["cases"], counts["delegations"], counts["delegation_principals"], counts["participations"],
                      seconds, shape_counts, await status_counts(db), inboxes)


async def count_rows(db: Database) -> dict[str, int]:
    out = {}
    async with db.engine.connect() as conn:
        for table in ("cases", "delegations", "delegation_principals", "participations"):
            out[table] = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
    return out


async def status_counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(CaseRow.app_status, func.count()).group_by(CaseRow.app_status))
        return dict(sorted((s, c) for s, c in rows.all()))
