"""The example definitions and the demo directory that `make run` loads (examples/).

They are deployable (parse and validate), together they use every construct of the
definition format, every user, group and role they name exists in the directory, a
broken variant of each is refused with the exact path, and each case runs to its end
through the pure engine.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from store.directory import Directory
from tests import example_paths as paths
from tests.example_paths import DEFINITION_FILES, KNOWN, ROOT, definition, raw
import workflows.definition as format_model
from workflows.actor import Actor
from workflows.definition import (
    AssignmentRule,
    CaseTask,
    Definition,
    HumanTask,
    InputType,
    Milestone,
    ProcessTask,
    RouteType,
    Stage,
    Timer,
    UserEvent,
    load_document,
    parse_definition,
    validate_definition,
    walk,
)
from workflows.engine.commands import Assign, ChildDone, Claim, Complete, Plan, ProcessDone, TimerFired, Transition
from workflows.engine.decide import Decision, decide, start
from workflows.engine.errors import Conflict, Invalid, NotFound
from workflows.engine.state import CaseState, ItemState, TaskState

PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def definitions() -> dict[str, Definition]:
    return {path.stem: definition(path.stem) for path in DEFINITION_FILES}


@pytest.fixture(scope="module")
def directory() -> Directory:
    return paths.directory()


# ---------------------------------------------------------------- deployable


def test_there_are_the_three_examples() -> None:
    assert {"travel-request", "expense-claim", "employee-onboarding"} <= KNOWN


@pytest.mark.parametrize("path", DEFINITION_FILES, ids=lambda p: p.stem)
def test_example_parses_and_validates(path: Path) -> None:
    defn = parse_definition(load_document(path.read_text(encoding="utf-8")))
    assert defn.id == path.stem, "each file is named after its definition's id"
    assert [str(p) for p in validate_definition(defn, known_definitions=KNOWN)] == []


def test_the_engine_property_tests_drive_the_shipped_travel_request() -> None:
    """tests/unit/engine_helpers.EXAMPLE, the definition of the engine's property tests, is
    the travel request this folder ships (no file outside the repository)."""
    from tests.unit.engine_helpers import EXAMPLE, example_definition

    assert EXAMPLE.resolve() == (ROOT / "examples" / "definitions" / "travel-request.yaml").resolve()
    assert example_definition() == definition("travel-request")


def test_case_tasks_pass_what_their_sub_cases_need(definitions: dict[str, Definition]) -> None:
    for defn in definitions.values():
        for path, item, _ in walk(defn.plan):
            if not isinstance(item, CaseTask):
                continue
            sub = definitions[item.definition]
            needed = {name for name, spec in sub.inputs.items() if spec.required}
            assert needed <= set(item.inputs), f"{defn.id} {path}: {item.definition} needs {needed}"
            assert set(item.inputs) <= set(sub.inputs), f"{defn.id} {path}: inputs {item.definition} does not take"


# ---------------------------------------------------------------- every construct


def features(defn: Definition) -> set[str]:
    """What a definition uses, as `kind:value` strings."""
    out: set[str] = set()
    add = out.add
    for key in ("category", "description"):
        if getattr(defn, key):
            add(key)
    if PLACEHOLDER.search(defn.title):
        add("title template")
    for name, spec in defn.roles.items():
        if spec.users:
            add("role with users")
        if spec.groups:
            add("role with groups")
        if not spec.users and not spec.groups and name == defn.starterRole:
            add("empty role filled by starterRole")
    if defn.startedBy:
        add("startedBy")
    if defn.supervisors:
        add("supervisors")
    for spec in defn.inputs.values():
        add(f"input type:{spec.type.value}")
    for trigger in defn.triggers.values():
        add("trigger:set" if trigger.set is not None else "trigger:http")

    entries = walk(defn.plan)
    types = {item.id: item.type for _, item, _ in entries}
    for path, item, parent in entries:
        add(f"item:{item.type}")
        for kind in ("entry", "exit"):
            for sentry in getattr(item, kind):
                if sentry.on and sentry.if_:
                    add(f"{kind} sentry with on and if")
                elif sentry.on:
                    add(f"{kind} sentry with on")
        if item.required:
            add("required")
        if item.manualActivation:
            add("manualActivation")
        in_planning = path.rsplit(".", 1)[-1].startswith("planning[")
        if in_planning:
            listed_by = "plan" if parent == "casePlan" else types[parent]
            add(f"discretionary in planning of {listed_by}")
        elif item.discretionary:
            add("discretionary in stage items")
        if item.discretionary or in_planning:
            if item.plannableBy:
                add("plannableBy")
            if item.if_:
                add("if on discretionary item")
        if isinstance(item, HumanTask):
            rule = item.assignment.rule
            add(f"assignment:{rule.value}")
            if rule == AssignmentRule.EVALUATE:
                add("assignment:EVALUATE SYS_STARTER" if item.assignment.variable == "SYS_STARTER" else "assignment:EVALUATE variable")
            if rule == AssignmentRule.SELF_SERVICE_EVALUATE and item.assignment.variable:
                add("assignment:SELF_SERVICE_EVALUATE variable")
            if item.due:
                add("due")
            if item.input:
                add("input map")
            for spec in item.output.values():
                add(f"output type:{spec.type.value}")
                add(f"output required:{spec.required}")
            if item.validator:
                add("validator")
        if isinstance(item, ProcessTask):
            if item.http:
                add("processTask:http")
                if PLACEHOLDER.search(item.http.url):
                    add("http url from case data")
                if item.http.output:
                    add("http output")
            if item.trigger:
                trigger = defn.triggers[item.trigger]
                add("processTask:trigger set" if trigger.set is not None else "processTask:trigger http")
        if isinstance(item, CaseTask):
            if item.inputs:
                add("caseTask inputs")
            if item.output:
                add("caseTask output")
        if isinstance(item, Stage):
            if parent != "casePlan":
                add("nested stage")
            if not item.autoComplete:
                add("stage autoComplete false")
        if isinstance(item, Timer):
            add("timer after")
        if isinstance(item, UserEvent) and item.roles:
            add("userEvent roles")
        route = getattr(item, "route", None)
        if route is not None:
            add(f"route:{route.type.value}")
            if route.type == RouteType.EVALUATE and any(t.if_ is None for t in route.to):
                add("route:EVALUATE default target")
            if any(t.join == "all" for t in route.to):
                add("route join all")
    return out


ALL_FEATURES = (
    {f"item:{t}" for t in ("humanTask", "processTask", "caseTask", "stage", "milestone", "timer", "userEvent")}
    | {f"assignment:{r.value}" for r in AssignmentRule}
    | {f"route:{r.value}" for r in RouteType}
    | {f"input type:{t.value}" for t in InputType}
    | {f"output type:{t.value}" for t in InputType}
    | {
        "category", "description", "title template", "role with users", "role with groups",
        "empty role filled by starterRole", "startedBy", "supervisors", "trigger:set", "trigger:http",
        "entry sentry with on", "entry sentry with on and if", "exit sentry with on", "exit sentry with on and if",
        "required", "manualActivation", "discretionary in stage items", "discretionary in planning of humanTask",
        "discretionary in planning of stage", "plannableBy", "if on discretionary item",
        "assignment:EVALUATE variable", "assignment:EVALUATE SYS_STARTER", "assignment:SELF_SERVICE_EVALUATE variable",
        "due", "input map", "output required:True", "output required:False", "validator",
        "processTask:http", "http url from case data", "http output", "processTask:trigger set", "processTask:trigger http",
        "caseTask inputs", "caseTask output", "nested stage", "stage autoComplete false", "timer after", "userEvent roles",
        "route:EVALUATE default target", "route join all",
    }
)


def test_together_the_examples_use_every_construct(definitions: dict[str, Definition]) -> None:
    used = set().union(*(features(d) for d in definitions.values()))
    assert ALL_FEATURES - used == set()


# Keys of the format that no example writes, each with its reason. Every other key that a
# model of workflows/definition.py accepts appears in at least one example, so a key added
# to the format fails `test_every_key_of_the_format_appears_in_an_example` until an example
# (and docs/definitions.md) shows it.
NOT_IN_EXAMPLES = {
    "Definition.version": "set by the store on deploy, never written by authors",
    "Sentry.selectedBy": "set by route compilation (SELECT routes)",
    "Sentry.unless": "set by route compilation (EVALUATE routes)",
    "CaseTask.route": "the same route as on human and process tasks, which the examples show",
    "Validator.headers": "rendered like an http call's headers, which the examples show",
}
ITEM_MODELS = {m.model_fields["type"].annotation.__args__[0]: m for m in (HumanTask, ProcessTask, CaseTask, Stage, Milestone, Timer, UserEvent)}


def keys_written(doc: dict[str, Any]) -> dict[type, set[str]]:
    """The keys a definition document writes, by the model of workflows/definition.py that reads them."""
    used: dict[type, set[str]] = {}

    def take(model: type, value: dict[str, Any]) -> None:
        used.setdefault(model, set()).update(value)

    def item(raw_item: dict[str, Any]) -> None:
        model = ITEM_MODELS[raw_item["type"]]
        take(model, raw_item)
        for sentry in raw_item.get("entry", []) + raw_item.get("exit", []):
            take(format_model.Sentry, sentry)
        if "assignment" in raw_item:
            take(format_model.Assignment, raw_item["assignment"])
        if "route" in raw_item:
            take(format_model.Route, raw_item["route"])
            for target in raw_item["route"]["to"]:
                take(format_model.RouteTarget, target)
        if "http" in raw_item:
            take(format_model.HttpCall, raw_item["http"])
        if "validator" in raw_item:
            take(format_model.Validator, raw_item["validator"])
        if model is HumanTask:
            for spec in raw_item.get("output", {}).values():
                take(format_model.FieldSpec, spec)
        for child in raw_item.get("items", []) + raw_item.get("planning", []):
            item(child)

    take(Definition, doc)
    take(format_model.RootPlan, doc["plan"])
    for spec in doc.get("roles", {}).values():
        take(format_model.RoleSpec, spec)
    for spec in doc.get("inputs", {}).values():
        take(format_model.FieldSpec, spec)
    for trigger in doc.get("triggers", {}).values():
        take(format_model.Trigger, trigger)
        if "http" in trigger:
            take(format_model.HttpCall, trigger["http"])
    for child in doc["plan"].get("items", []) + doc["plan"].get("planning", []):
        item(child)
    return used


def _keys(model: type) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_every_key_of_the_format_appears_in_an_example() -> None:
    used: dict[type, set[str]] = {}
    for path in DEFINITION_FILES:
        for model, keys in keys_written(raw(path.stem)).items():
            used.setdefault(model, set()).update(keys)
    models = {m for m in vars(format_model).values() if isinstance(m, type) and issubclass(m, format_model.Model)}
    # every model of the format is read somewhere in the walk (a new one must be added to it)
    assert models - {format_model.Model, format_model.ItemBase} == set(used)
    common = _keys(format_model.ItemBase)
    unused = {f"ItemBase.{k}" for k in common - set().union(*(used[m] for m in ITEM_MODELS.values()))}
    for model, keys in used.items():
        own = _keys(model) - (common if model in ITEM_MODELS.values() else set())
        unused |= {f"{model.__name__}.{k}" for k in own - keys}
    assert unused == set(NOT_IN_EXAMPLES)


def test_the_enumerations_are_covered_in_full(definitions: dict[str, Definition]) -> None:
    items = [item for d in definitions.values() for _, item, _ in walk(d.plan)]
    assert {i.type for i in items} == {"humanTask", "processTask", "caseTask", "stage", "milestone", "timer", "userEvent"}
    assert {i.assignment.rule for i in items if isinstance(i, HumanTask)} == set(AssignmentRule)
    assert {i.route.type for i in items if getattr(i, "route", None)} == set(RouteType)
    assert {s.type for i in items if isinstance(i, HumanTask) for s in i.output.values()} == set(InputType)
    assert {s.type for d in definitions.values() for s in d.inputs.values()} == set(InputType)


# ---------------------------------------------------------------- the directory


def test_the_directory_loads(directory: Directory) -> None:
    usernames = {u.username for u in directory.users}
    assert {"admin", "alice", "erin", "bob", "mike", "carol", "frank", "audrey", "ivan", "fiona"} <= usernames
    assert {"hr"} <= {g for u in directory.users for g in u.groups}
    for user in directory.users:
        assert HEX32.match(user.id), user.username
        assert "PM_CASES" in user.permissions, user.username
        assert user.email == f"{user.username}@example.com"
    admin = directory.by_username("admin")
    assert admin is not None and admin.id == "00000000000000000000000000000001"
    assert {"PM_CASES", "PM_ALLCASES", "PM_FACTORY", "PM_SUPERVISOR", "PM_CANCELCASE", "PM_REASSIGNCASE", "PM_DELETECASE"} <= set(admin.permissions)


def test_reports_to_chains(directory: Directory) -> None:
    def boss(username: str) -> str | None:
        user = directory.by_username(username)
        assert user is not None
        above = directory.by_id(user.reports_to) if user.reports_to else None
        return above.username if above else None

    assert boss("alice") == "bob"
    assert boss("bob") == "mike"
    assert boss("carol") == "frank"
    assert boss("henry") == "hannah"
    for user in directory.users:  # every chain ends (no loops)
        seen, name = set(), user.username
        while name is not None:
            assert name not in seen, f"reportsTo loop through {name}"
            seen.add(name)
            name = boss(name)


def test_demo_passwords(directory: Directory) -> None:
    for user in directory.users:
        assert user.password.startswith("$argon2id$")
        assert directory.authenticate(user.username, f"{user.username}-demo") is user
        assert directory.authenticate(user.username, user.username) is None


def test_every_user_and_group_the_definitions_name_exists(definitions: dict[str, Definition], directory: Directory) -> None:
    for defn in definitions.values():
        for role, spec in defn.roles.items():
            for user in spec.users:
                assert directory.find(user) is not None, f"{defn.id}: roles.{role}.users names no user '{user}'"
            for group in spec.groups:
                assert directory.group(group) is not None, f"{defn.id}: roles.{role}.groups names no group '{group}'"
            assert spec.users or spec.groups or role == defn.starterRole, f"{defn.id}: role '{role}' is always empty"
        for key in ("startedBy", "supervisors"):
            for name in getattr(defn, key):
                assert directory.find(name) or directory.group(name), f"{defn.id}: {key} names no user or group '{name}'"


def test_every_role_has_someone_in_the_directory(definitions: dict[str, Definition], directory: Directory) -> None:
    for defn in definitions.values():
        for role, spec in defn.roles.items():
            people = [directory.find(u) for u in spec.users] + [m for g in spec.groups for m in directory.members_of(g)]
            assert people or role == defn.starterRole, f"{defn.id}: nobody holds role '{role}'"


# ---------------------------------------------------------------- broken variants are refused


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b[2].c` in a loaded document."""
    parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
    target: Any = doc
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    target[int(last) if last.isdigit() else last] = value


BROKEN = [
    ("travel-request", "plan.items[2].entry[0].on[0]", "aprove.complete", "plan.items[2].entry[0].on[0]: no item 'aprove'"),
    ("travel-request", "plan.items[1].planning[0].plannableBy[0]", "managers", "plan.items[1].planning[0].plannableBy[0]: unknown role 'managers'"),
    ("travel-request", "plan.items[4].items[1].trigger", "notify-legder", "plan.items[4].items[1].trigger: no trigger 'notify-legder'"),
    ("expense-claim", "plan.items[0].route.to[1].task", "overun", "plan.items[0].route.to[1].task: no item 'overun'"),
    ("expense-claim", "plan.items[2].exit[0].if", "accepted <=", "plan.items[2].exit[0].if: bad CEL"),
    ("expense-claim", "plan.items[4].entry[0].on[0]", "pay.occur", "plan.items[4].entry[0].on[0]: 'occur' is not a transition of processTask 'pay'"),
    ("employee-onboarding", "plan.items[3].items[3].items[0].route.to[0].task", "file-reviews", "plan.items[3].items[3].items[0].route.to[0].task: no item 'file-reviews'"),
    ("employee-onboarding", "plan.items[3].items[2].after", "P30", "plan.items[3].items[2].after: 'P30' is not an ISO 8601 duration in weeks, days, hours, minutes or seconds"),
    ("employee-onboarding", "plan.items[3].items[2].after", "P1M", "plan.items[3].items[2].after: 'P1M' is not an ISO 8601 duration in weeks, days, hours, minutes or seconds"),
    ("employee-onboarding", "plan.planning[0].definition", "expense-claims", "plan.planning[0].definition: no deployed definition 'expense-claims'"),
    ("employee-onboarding", "plan.items[2].items[0].assignment", {"rule": "EVALUATE"}, "plan.items[2].items[0].assignment.variable: rule EVALUATE needs a variable"),
]


@pytest.mark.parametrize(("name", "path", "value", "problem"), BROKEN, ids=[f"{b[0]}:{b[1]}" for b in BROKEN])
def test_a_broken_variant_is_refused_with_its_path(name: str, path: str, value: Any, problem: str) -> None:
    doc = copy.deepcopy(raw(name))
    _set(doc, path, value)
    problems = [str(p) for p in validate_definition(parse_definition(doc), known_definitions=KNOWN)]
    if problem.endswith("bad CEL"):
        assert len(problems) == 1 and problems[0].startswith(problem + ": "), problems
    else:
        assert problems == [problem]


# ---------------------------------------------------------------- each case runs to its end


T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


class Run:
    """A case driven through the pure engine, one command at a time."""

    def __init__(self, defn: Definition, directory: Directory, starter: str, inputs: dict[str, Any]) -> None:
        self.directory = directory
        self.at = T0
        decision = start(
            defn, case_id="case-1", case_number=1, actor=self.actor(starter), inputs=inputs, team=[], at=self.at
        )
        self.state: CaseState = decision.state

    def actor(self, username: str) -> Actor:
        user = self.directory.by_username(username)
        assert user is not None, username
        return user.to_actor()

    def do(self, cmd: Any, later: timedelta = timedelta(minutes=5)) -> Decision:
        self.at += later
        decision = decide(self.state, cmd, self.at)
        self.state = decision.state
        return decision

    def state_of(self, item_id: str) -> ItemState:
        return self.state.items[item_id].state

    def active(self) -> set[str]:
        return {i.id for i in self.state.items.values() if i.state == ItemState.Active and i.id != "casePlan"}

    def claim_and_complete(self, item_id: str, username: str, output: dict[str, Any], next: str | None = None) -> None:
        self.do(Claim(actor=self.actor(username), item_id=item_id))
        self.complete(item_id, username, output, next)

    def complete(self, item_id: str, username: str, output: dict[str, Any], next: str | None = None) -> None:
        self.do(Complete(actor=self.actor(username), item_id=item_id, output=output, next=next))
        assert self.state_of(item_id) == ItemState.Completed

    def process_done(self, item_id: str, output: dict[str, Any] | None = None) -> dict[str, Any]:
        item = self.state.items[item_id]
        effect = item.effect
        assert item.state == ItemState.Active and effect is not None
        self.do(ProcessDone(actor=self.actor("admin"), item_id=item_id, attempt=item.effect_attempt, ok=True, output=output or {}))
        return effect

    def child_done(self, item_id: str, data: dict[str, Any]) -> dict[str, Any]:
        item = self.state.items[item_id]
        effect = item.effect
        assert item.state == ItemState.Active and effect is not None and effect["kind"] == "case"
        self.do(ChildDone(actor=self.actor("admin"), item_id=item_id, state="Completed", data=data))
        return effect

    @property
    def completed(self) -> bool:
        return self.state.plan.state == ItemState.Completed


TRAVEL = paths.TRAVEL


def test_travel_request_runs_to_its_end(definitions: dict[str, Definition], directory: Directory) -> None:
    run = Run(definitions["travel-request"], directory, "alice", TRAVEL)
    assert run.state.title == "Travel of alice to Lisbon"
    alice = directory.by_username("alice")
    assert alice is not None and run.state.items["submit"].task.assignee == alice.id  # EVALUATE SYS_STARTER
    run.complete("submit", "alice", paths.JUSTIFICATION)
    assert run.active() == {"approve"}  # over 1000: the manager approves
    run.claim_and_complete("approve", "bob", paths.APPROVED)
    assert run.state_of("approved") == ItemState.Completed
    run.claim_and_complete("book", "carol", paths.BOOKED)
    effect = run.process_done("ledger")
    assert effect["url"] == "http://127.0.0.1:9/ledger/entries"
    assert effect["json"] == paths.ledger_entry("case-1", TRAVEL) == {"case": "case-1", "amount": "1800"}
    effect = run.child_done("expenses", {"reimbursed": 1700})
    assert effect["definition"] == "expense-claim"
    assert effect["inputs"] == paths.travel_claim(TRAVEL) == {"traveller": "alice", "budget": 1800}
    assert run.completed


def test_travel_request_small_amount_goes_to_booking(definitions: dict[str, Definition], directory: Directory) -> None:
    run = Run(definitions["travel-request"], directory, "erin", paths.TRAVEL_SMALL)
    run.complete("submit", "erin", paths.JUSTIFICATION)
    assert run.active() == {"booking", "book"}
    assert run.state_of("approve") == ItemState.Available
    run.claim_and_complete("book", "frank", paths.BOOKED)
    run.process_done("ledger")
    run.child_done("expenses", {})
    assert run.completed


def test_travel_request_rejected_ends_the_case(definitions: dict[str, Definition], directory: Directory) -> None:
    run = Run(definitions["travel-request"], directory, "alice", TRAVEL)
    run.complete("submit", "alice", paths.JUSTIFICATION)
    run.claim_and_complete("approve", "mike", paths.REFUSED)
    assert run.state_of("rejected") == ItemState.Completed
    assert run.completed


CLAIM = paths.CLAIM


@pytest.mark.parametrize("path", paths.EXPENSE_PATHS, ids=lambda p: p.id)
def test_expense_claim_runs_to_its_end(definitions: dict[str, Definition], directory: Directory, path: paths.ExpensePath) -> None:
    run = Run(definitions["expense-claim"], directory, "alice", CLAIM)
    assert run.state.title == "Expenses of alice (budget 1000)"
    run.claim_and_complete("receipts", "alice", path.receipts())
    assert run.active() == ({"check", "overrun"} if path.over_budget else {"check"})
    run.claim_and_complete("check", "carol", path.check())
    if path.approved is not None:
        assert run.active() == {"overrun"}
        # REPORT_TO: alice's completing the receipts handed the overrun to her manager
        manager = paths.manager_of("alice")
        assert run.state.items["overrun"].task.assignee == run.actor(manager).user_id
        run.complete("overrun", manager, {"overrun_approved": path.approved})
    assert run.state_of("overrun") == ItemState(path.overrun)
    assert run.state.data["reimbursed"] == path.reimbursed
    assert run.state_of("settled") == ItemState.Completed
    # the end of the case ends what never happened
    assert run.state_of("overrun-refused") == ItemState(path.overrun_refused)
    assert run.completed


def onboarding(definitions: dict[str, Definition], directory: Directory) -> Run:
    run = Run(definitions["employee-onboarding"], directory, "hannah", paths.onboarding_inputs())
    assert run.state.title == "Onboarding of Nina Kowalski (2025-03-17)"
    # MANUAL: nobody may claim it; the HR owner of the case hands it to a colleague
    with pytest.raises(Conflict):
        run.do(Claim(actor=run.actor("henry"), item_id="contract"))
    run.do(Assign(actor=run.actor("hannah"), item_id="contract", assignee=run.actor("henry")))
    return run


def test_employee_onboarding_runs_to_its_end(definitions: dict[str, Definition], directory: Directory) -> None:
    run = onboarding(definitions, directory)
    bob = run.actor("bob")
    run.complete("contract", "henry", paths.CONTRACT, next="preparation")
    assert run.state.items["kickoff"].task.assignee == bob.user_id  # EVALUATE hiring_manager
    run.complete("kickoff", "bob", paths.KICKOFF)
    assert run.active() == {"preparation", "accounts", "workplace"}  # PARALLEL
    effect = run.process_done("accounts", paths.ACCOUNT)
    assert effect["url"] == "http://127.0.0.1:9/services/it/accounts"
    assert effect["json"] == paths.accounts_request(paths.ONBOARDING, 1042)
    assert effect["json"]["employeeNumber"] == "1042"
    # remote hire: IT, working on the laptop, plans shipping the equipment home (a holder of
    # the planning role outside the team plans once they hold a task of the case)
    with pytest.raises(NotFound):
        run.do(Plan(actor=run.actor("ivan"), definition_id="ship-equipment"))
    run.do(Claim(actor=run.actor("ivan"), item_id="laptop"))
    planned = run.do(Plan(actor=run.actor("ivan"), definition_id="ship-equipment")).plan_item_id
    assert planned == "ship-equipment"
    run.claim_and_complete("ship-equipment", "ivan", paths.SHIPPED)
    # relocation: a sub-case of expense-claim, planned by HR once the hire has an account
    assert run.do(Plan(actor=run.actor("henry"), definition_id="relocation")).plan_item_id == "relocation"
    effect = run.child_done("relocation", {"reimbursed": paths.RELOCATION_REIMBURSED, "traveller": "nina"})
    assert effect["inputs"] == {"traveller": "nina", "budget": 3000}
    assert run.state.data["relocation_reimbursed"] == paths.RELOCATION_REIMBURSED
    run.complete("laptop", "ivan", paths.LAPTOP)
    assert run.state_of("ready") == ItemState.Available  # join: all waits for facilities
    run.claim_and_complete("workplace", "fiona", paths.WORKPLACE)
    assert run.state_of("ready") == ItemState.Completed
    assert run.state_of("preparation") == ItemState.Completed
    # the first weeks: the welcome waits for the manager to start it
    assert run.state_of("first-weeks") == ItemState.Active
    assert run.state_of("first-day") == ItemState.Enabled
    run.do(Transition(actor=bob, item_id="first-day", transition="manualStart"), later=timedelta(days=10))
    run.complete("first-day", "bob", paths.FIRST_DAY)
    assert run.state.data["status"] == "employed"
    fires_at = run.state.items["one-month"].fires_at
    assert fires_at == run.at + timedelta(days=30)
    run.do(TimerFired(actor=bob, item_id="one-month"), later=timedelta(days=30))
    assert run.active() == {"first-weeks", "review", "review-talk"}
    run.complete("review-talk", "bob", paths.REVIEW)
    assert run.do(Plan(actor=bob, definition_id="extra-training")).plan_item_id == "extra-training"
    run.claim_and_complete("file-review", "henry", paths.FILED)
    assert run.state_of("review") == ItemState.Active  # the planned training is still running
    run.claim_and_complete("extra-training", "hannah", paths.TRAINING)
    assert run.state_of("first-weeks") == ItemState.Completed
    assert run.completed


def test_employee_onboarding_closed_after_the_contract(definitions: dict[str, Definition], directory: Directory) -> None:
    run = onboarding(definitions, directory)
    run.complete("contract", "henry", {"employee_number": 1043}, next="close-file")  # SELECT
    assert run.active() == {"close-file"}
    run.claim_and_complete("close-file", "hannah", {"reason": "contract not signed"})
    assert run.completed


def test_employee_onboarding_hire_withdraws(definitions: dict[str, Definition], directory: Directory) -> None:
    run = onboarding(definitions, directory)
    run.complete("contract", "henry", {"employee_number": 1044}, next="preparation")
    run.complete("kickoff", "bob", {"agenda": []})
    run.do(Transition(actor=run.actor("bob"), item_id="hire-withdrew", transition="occur"))
    assert run.state_of("preparation") == ItemState.Terminated
    assert run.active() == {"close-file"}
    run.claim_and_complete("close-file", "henry", {"reason": "took another offer"})
    assert run.completed


def test_a_select_route_needs_a_choice(definitions: dict[str, Definition], directory: Directory) -> None:
    run = onboarding(definitions, directory)
    with pytest.raises(Invalid) as refused:
        run.do(Complete(actor=run.actor("henry"), item_id="contract", output={"employee_number": 1}))
    assert [d["field"] for d in refused.value.details] == ["next"]
    assert "preparation, close-file" in refused.value.details[0]["message"]
    assert run.state.items["contract"].task.task_state == TaskState.Assigned

