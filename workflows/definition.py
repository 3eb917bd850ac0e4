"""The case model: what a deployed case definition may contain (DESIGN.md section 3).

The YAML/JSON format is a contract. Parsing checks shapes (pydantic); `validate_definition`
then checks meaning (ids, references, CEL, reachability) and names every problem by its path.
Routes are sugar: `compile_routes` turns them into entry sentries once, at load, so the engine
only ever sees sentries.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from enum import Enum
from typing import Annotated, Any, Literal, Union

import cel
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, field_validator

from workflows import expression_cost

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_SLUG_RE = re.compile(SLUG)
_DURATION = TypeAdapter(timedelta)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InputType(str, Enum):
    string = "string"
    number = "number"
    integer = "integer"
    boolean = "boolean"
    object = "object"
    array = "array"


class FieldSpec(Model):
    type: InputType = InputType.string
    required: bool = False


class RoleSpec(Model):
    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class Sentry(Model):
    on: list[str] = Field(default_factory=list)
    if_: str | None = Field(default=None, alias="if")
    # Set by route compilation. SELECT routes: the item whose completing user must have
    # chosen this sentry's item as the next step. EVALUATE routes: conditions of earlier
    # targets, none of which may hold (one that cannot be evaluated does not hold, so the
    # default is taken; a CEL negation of it could not be evaluated either).
    selected_by: str | None = Field(default=None, alias="selectedBy")
    unless: list[str] = Field(default_factory=list)


class AssignmentRule(str, Enum):
    MANUAL = "MANUAL"
    SELF_SERVICE = "SELF_SERVICE"
    BALANCED = "BALANCED"
    EVALUATE = "EVALUATE"
    REPORT_TO = "REPORT_TO"
    SELF_SERVICE_EVALUATE = "SELF_SERVICE_EVALUATE"


class Assignment(Model):
    rule: AssignmentRule = AssignmentRule.SELF_SERVICE
    variable: str | None = None


class RouteType(str, Enum):
    SEQUENTIAL = "SEQUENTIAL"
    SELECT = "SELECT"
    EVALUATE = "EVALUATE"
    PARALLEL = "PARALLEL"
    PARALLEL_BY_EVALUATION = "PARALLEL-BY-EVALUATION"


class RouteTarget(Model):
    task: str
    if_: str | None = Field(default=None, alias="if")
    join: Literal["any", "all"] = "any"


class Route(Model):
    type: RouteType = RouteType.SEQUENTIAL
    to: list[RouteTarget] = Field(min_length=1)


class HttpCall(Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    # `{var}` placeholders over case data, as in the title template.
    url: str
    json_: Any = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    # Case variable -> JSON path into the response body (`$.a.b[0]`).
    output: dict[str, str] = Field(default_factory=dict)


class Trigger(Model):
    # `set`: case variable -> CEL over case data, evaluated inside the workflow.
    set: dict[str, str] | None = None
    http: HttpCall | None = None

    @field_validator("http")
    @classmethod
    def _one_action(cls, http: HttpCall | None, info: Any) -> HttpCall | None:
        if http is not None and info.data.get("set") is not None:
            raise ValueError("a trigger has either 'set' or 'http', not both")
        return http


class Validator(Model):
    """An external HTTP validator for a human task's output (the seed's experimental `validate`)."""

    url: str
    headers: dict[str, str] = Field(default_factory=dict)


class ItemBase(Model):
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    entry: list[Sentry] = Field(default_factory=list)
    exit: list[Sentry] = Field(default_factory=list)
    required: bool = False
    discretionary: bool = False
    plannableBy: list[str] = Field(default_factory=list)
    if_: str | None = Field(default=None, alias="if")
    # Extension: start in Enabled and wait for a user's manualStart (CMMN manual activation).
    manualActivation: bool = False


class HumanTask(ItemBase):
    type: Literal["humanTask"]
    role: str | None = None
    assignment: Assignment = Field(default_factory=Assignment)
    due: str | None = None
    input: dict[str, str] = Field(default_factory=dict)
    output: dict[str, FieldSpec] = Field(default_factory=dict)
    route: Route | None = None
    planning: list["PlanItem"] = Field(default_factory=list)
    validator: Validator | None = None


class ProcessTask(ItemBase):
    type: Literal["processTask"]
    http: HttpCall | None = None
    trigger: str | None = None
    route: Route | None = None


class CaseTask(ItemBase):
    type: Literal["caseTask"]
    definition: str = Field(pattern=SLUG)
    inputs: dict[str, str] = Field(default_factory=dict)
    # Extension: parent variable -> CEL over the sub-case's final case file.
    output: dict[str, str] = Field(default_factory=dict)
    route: Route | None = None


class Stage(ItemBase):
    type: Literal["stage"]
    autoComplete: bool = True
    items: list["PlanItem"] = Field(default_factory=list)
    planning: list["PlanItem"] = Field(default_factory=list)


class Milestone(ItemBase):
    type: Literal["milestone"]


class Timer(ItemBase):
    type: Literal["timer"]
    after: str


class UserEvent(ItemBase):
    type: Literal["userEvent"]
    roles: list[str] = Field(default_factory=list)


PlanItem = Annotated[
    Union[HumanTask, ProcessTask, CaseTask, Stage, Milestone, Timer, UserEvent],
    Field(discriminator="type"),
]

# The `type` of each kind of plan item, as documents spell it.
ITEM_TYPES = frozenset(m.model_fields["type"].annotation.__args__[0] for m in (HumanTask, ProcessTask, CaseTask, Stage, Milestone, Timer, UserEvent))

HumanTask.model_rebuild()
Stage.model_rebuild()


class RootPlan(Model):
    autoComplete: bool = True
    items: list[PlanItem] = Field(default_factory=list)
    planning: list[PlanItem] = Field(default_factory=list)


class Definition(Model):
    # the engine's index of the plan (engine.lifecycle.DefIndex), built on first use; not
    # part of the document, so never serialized
    _index: Any = PrivateAttr(default=None)

    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    category: str = ""
    description: str = ""
    title: str = "#{caseNumber}"
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    startedBy: list[str] = Field(default_factory=list)
    starterRole: str | None = None
    supervisors: list[str] = Field(default_factory=list)
    inputs: dict[str, FieldSpec] = Field(default_factory=dict)
    # Refuse start inputs that `inputs` does not declare on every face: the native face always
    # does, the ProcessMaker face (whose clients pass any variable) only with this set.
    strictInputs: bool = False
    plan: RootPlan
    triggers: dict[str, Trigger] = Field(default_factory=dict)
    # Set by the store on deploy; a running case keeps the version it started with.
    version: int = 0

    def render_title(self, data: dict[str, Any]) -> str:
        return render_template(self.title, data)


ROOT_ID = "casePlan"

TASK_TRANSITIONS = (
    "create enable disable reenable manualStart start complete terminate exit suspend "
    "resume parentSuspend parentResume reactivate fault close"
).split()
EVENT_TRANSITIONS = "create occur suspend resume terminate exit parentSuspend parentResume close".split()

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_template(template: str, data: dict[str, Any]) -> str:
    """Fill `{var}` placeholders; an unknown variable renders as empty text."""

    def sub(match: re.Match[str]) -> str:
        value = data.get(match.group(1))
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(sub, template)


# Weeks, days, hours, minutes, seconds: months and years have no fixed length.
_ISO_DURATION = re.compile(r"^P(?=\d|T\d)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def duration(text: str) -> timedelta:
    """An ISO 8601 duration such as P2D or PT4H; raises ValueError for anything else."""
    if not _ISO_DURATION.match(text):
        raise ValueError(f"'{text}' is not an ISO 8601 duration in weeks, days, hours, minutes or seconds")
    return _DURATION.validate_python(text)


def transitions_of(item: Any) -> list[str]:
    if isinstance(item, (Milestone, Timer, UserEvent)):
        return EVENT_TRANSITIONS
    return TASK_TRANSITIONS


# ---------------------------------------------------------------- walking the plan


def walk(plan: RootPlan) -> list[tuple[str, Any, str]]:
    """Every item with its path and its parent's id (the stage or task that lists it).

    Items under a human task's `planning` belong to that task's stage when planned; the
    parent id returned is the task's, which is what the planning table hangs from.
    """
    out: list[tuple[str, Any, str]] = []

    def visit(items: list[Any], path: str, parent: str, planning: bool) -> None:
        for i, item in enumerate(items):
            p = f"{path}[{i}]"
            out.append((p, item, parent))
            if isinstance(item, Stage):
                visit(item.items, f"{p}.items", item.id, False)
                visit(item.planning, f"{p}.planning", item.id, True)
            elif isinstance(item, HumanTask):
                visit(item.planning, f"{p}.planning", item.id, True)

    visit(plan.items, "plan.items", ROOT_ID, False)
    visit(plan.planning, "plan.planning", ROOT_ID, True)
    return out


def planning_entries(plan: RootPlan) -> set[str]:
    """Ids of items listed in a planning table (discretionary whatever their flag says)."""
    ids: set[str] = set()
    for _, item, _ in walk(plan):
        if isinstance(item, (Stage, HumanTask)):
            ids.update(child.id for child in item.planning)
    ids.update(child.id for child in plan.planning)
    return ids


def is_discretionary(definition: Definition, item_id: str) -> bool:
    for _, item, _ in walk(definition.plan):
        if item.id == item_id:
            return item.discretionary or item_id in planning_entries(definition.plan)
    return False


# ---------------------------------------------------------------- routes -> sentries


# Compiled definitions by their JSON: every case of a definition version compiles the same
# routes, so a worker (or gateway) compiles each version once and its cases share the result
# (and the engine's index kept on it). Definitions are never changed once compiled.
_COMPILED: dict[str, Definition] = {}
_COMPILED_MAX = 64
_COMPILED_LOCK = threading.Lock()  # workflow activations run on several threads


def compiled_routes(definition: Definition) -> Definition:
    """`compile_routes(definition)`, computed once per distinct definition."""
    return _once(_COMPILED, definition, compile_routes)


# Compiled definitions as cases carry them across continue-as-new, by their JSON: each run
# parses its own copy from its input, and a worker holds up to its cache's worth of cases,
# so every case of a version shares one copy instead of keeping its own.
_SHARED: dict[str, Definition] = {}


def shared_compiled(compiled: Definition) -> Definition:
    """The one instance of this (already compiled) definition the process keeps."""
    return _once(_SHARED, compiled, lambda d: d)


def _once(cache: dict[str, Definition], definition: Definition, make: Any) -> Definition:
    key = definition.model_dump_json()
    with _COMPILED_LOCK:
        found = cache.get(key)
    if found is None:
        found = make(definition)
        with _COMPILED_LOCK:
            while len(cache) >= _COMPILED_MAX:
                del cache[next(iter(cache))]
            cache[key] = found
    return found


def compile_routes(definition: Definition) -> Definition:
    """Turn every `route` into entry sentries on its targets (ProcessMaker routing as CMMN).

    EVALUATE: the first target whose `if` holds (a target without `if` is the default).
    SELECT: the completing user names the target. PARALLEL: every target.
    PARALLEL-BY-EVALUATION: every target whose `if` holds. SEQUENTIAL: the one target.
    A target with `join: all` waits for every route into it (one sentry with all on-parts);
    otherwise any incoming route starts it.
    """
    compiled = definition.model_copy(deep=True)
    incoming: dict[str, list[tuple[str, str | None, list[str], bool, str]]] = {}
    for _, item, _ in walk(compiled.plan):
        route = getattr(item, "route", None)
        if route is None:
            continue
        earlier: list[str] = []
        for target in route.to:
            cond = None if route.type in (RouteType.SEQUENTIAL, RouteType.PARALLEL) else target.if_
            unless = list(earlier) if route.type == RouteType.EVALUATE else []
            if route.type == RouteType.EVALUATE and target.if_:
                earlier.append(target.if_)
            selected = route.type == RouteType.SELECT
            incoming.setdefault(target.task, []).append((item.id, cond, unless, selected, target.join))
    for _, item, _ in walk(compiled.plan):
        routes = incoming.get(item.id)
        if not routes:
            continue
        if any(join == "all" for *_, join in routes):
            conds = [c for _, c, _, _, _ in routes if c]
            item.entry.append(
                Sentry(
                    on=[f"{src}.complete" for src, *_ in routes],
                    if_=" && ".join(f"({c})" for c in conds) or None,
                    unless=[u for _, _, unless, _, _ in routes for u in unless],
                )
            )
        else:
            for src, cond, unless, selected, _ in routes:
                item.entry.append(
                    Sentry(on=[f"{src}.complete"], if_=cond, unless=unless, selected_by=src if selected else None)
                )
    return compiled


# ---------------------------------------------------------------- meaning checks


class Problem(BaseModel):
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# Budgets that keep a case's workflow tasks small and fast (CEL evaluation cannot be
# interrupted once it runs, and the library has no cost limit of its own): expressions are
# short, comprehensions are not nested, and what an expression costs on its literals alone
# is within the run-time budget (workflows/expression_cost.py), which bounds it again on the
# case's data before every evaluation. A definition is bounded in items and depth.
MAX_EXPRESSION_CHARS = 1000
MAX_COMPREHENSION_DEPTH = 1
MAX_ITEMS = 500
MAX_STAGE_DEPTH = 10
# every case carries its definition through Temporal (its start and continue-as-new inputs)
MAX_DEFINITION_BYTES = 256_000
_MACROS = expression_cost.MACROS  # the comprehension macros, one list for both checks
_IDENT = expression_cost.IDENT


def comprehension_depth(expr: str) -> int:
    """How deeply CEL's comprehension macros (`.map(`, `.filter(`, `.all(`, ...) nest inside
    one another's arguments; string literals are skipped."""
    depth = deepest = 0
    stack: list[bool] = []  # one entry per open parenthesis: is it a macro's?
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "\"'":
            quote = expr[i:i + 3] if expr[i:i + 3] in ('"""', "'''") else ch
            i += len(quote)
            while i < n and expr[i:i + len(quote)] != quote:
                i += 2 if expr[i] == "\\" else 1
            i += len(quote)
            continue
        match = _IDENT.match(expr, i) if (ch.isalpha() or ch == "_") else None
        if match:
            name, end = match.group(), match.end()
            j = end
            while j < n and expr[j].isspace():
                j += 1
            k = i - 1
            while k >= 0 and expr[k].isspace():
                k -= 1
            if name in _MACROS and j < n and expr[j] == "(" and k >= 0 and expr[k] == ".":
                depth += 1
                deepest = max(deepest, depth)
                stack.append(True)
                i = j + 1
                continue
            i = end
            continue
        if ch == "(":
            stack.append(False)
        elif ch == ")" and stack:
            if stack.pop():
                depth -= 1
        i += 1
    return deepest


def _check_cel(expr: str, path: str, problems: list[Problem]) -> None:
    if len(expr) > MAX_EXPRESSION_CHARS:
        problems.append(Problem(path=path, message=f"expression of {len(expr)} characters; at most {MAX_EXPRESSION_CHARS}"))
        return
    depth = comprehension_depth(expr)
    if depth > MAX_COMPREHENSION_DEPTH:
        problems.append(Problem(
            path=path,
            message=f"comprehensions (map, filter, all, exists, exists_one) nested {depth} deep; at most {MAX_COMPREHENSION_DEPTH}",
        ))
        return
    try:
        cel.compile(expr)
    except Exception as exc:  # the library reports syntax errors as ValueError
        first = str(exc).splitlines()[0] if str(exc) else "invalid expression"
        problems.append(Problem(path=path, message=f"bad CEL: {first}"))
        return
    try:
        steps = expression_cost.steps_without_data(expr)
    except Exception:  # the parser that bounds its cost reads standard CEL only
        problems.append(Problem(path=path, message="an expression whose cost cannot be bounded (not standard CEL syntax)"))
        return
    if steps > expression_cost.MAX_STEPS:
        problems.append(Problem(
            path=path, message=f"about {steps:,} steps with its literals alone; an expression may take at most {expression_cost.MAX_STEPS:,}",
        ))


def validate_definition(definition: Definition, known_definitions: set[str] | None = None) -> list[Problem]:
    """Every problem of meaning, each named by its path. Empty means deployable."""
    problems: list[Problem] = []
    entries = walk(definition.plan)
    if len(entries) > MAX_ITEMS:
        problems.append(Problem(path="plan", message=f"{len(entries)} plan items; at most {MAX_ITEMS}"))
    size = len(definition.model_dump_json())
    if size > MAX_DEFINITION_BYTES:
        problems.append(Problem(path="", message=f"the definition takes {size} bytes; at most {MAX_DEFINITION_BYTES}"))
    for path, _, _ in entries:
        depth = path.count(".items[")
        if depth > MAX_STAGE_DEPTH:
            problems.append(Problem(path=path, message=f"nested {depth} stages deep; at most {MAX_STAGE_DEPTH}"))
            break
    by_id: dict[str, Any] = {}
    for path, item, _ in entries:
        if item.id == ROOT_ID:
            problems.append(Problem(path=f"{path}.id", message=f"'{ROOT_ID}' is reserved for the case plan"))
        if item.id in by_id:
            problems.append(Problem(path=f"{path}.id", message=f"duplicate item id '{item.id}'"))
        else:
            by_id[item.id] = item
    roles = set(definition.roles)

    def role_ref(name: str, path: str) -> None:
        if name not in roles:
            problems.append(Problem(path=path, message=f"unknown role '{name}'"))

    if definition.starterRole:
        role_ref(definition.starterRole, "starterRole")
    for name in definition.inputs:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            problems.append(Problem(path=f"inputs.{name}", message="input names must be identifiers"))
    for name, trig in definition.triggers.items():
        if trig.set is None and trig.http is None:
            problems.append(Problem(path=f"triggers.{name}", message="a trigger needs 'set' or 'http'"))
        for var, expr in (trig.set or {}).items():
            _check_cel(expr, f"triggers.{name}.set.{var}", problems)

    def sentries(path: str, kind: str, items: list[Sentry]) -> None:
        for j, sentry in enumerate(items):
            if not sentry.on and not sentry.if_:
                problems.append(Problem(path=f"{path}.{kind}[{j}]", message="a sentry needs 'on' or 'if'"))
            for k, on in enumerate(sentry.on):
                ref, _, transition = on.partition(".")
                target = by_id.get(ref)
                if ref == ROOT_ID:
                    continue
                if target is None:
                    problems.append(Problem(path=f"{path}.{kind}[{j}].on[{k}]", message=f"no item '{ref}'"))
                elif transition not in transitions_of(target):
                    problems.append(
                        Problem(
                            path=f"{path}.{kind}[{j}].on[{k}]",
                            message=f"'{transition}' is not a transition of {target.type} '{ref}'",
                        )
                    )
            if sentry.if_:
                _check_cel(sentry.if_, f"{path}.{kind}[{j}].if", problems)

    for path, item, _ in entries:
        sentries(path, "entry", item.entry)
        sentries(path, "exit", item.exit)
        if item.if_:
            _check_cel(item.if_, f"{path}.if", problems)
        for k, role in enumerate(item.plannableBy):
            role_ref(role, f"{path}.plannableBy[{k}]")
        if isinstance(item, HumanTask):
            if item.role:
                role_ref(item.role, f"{path}.role")
            if item.due:
                try:
                    duration(item.due)
                except Exception:
                    problems.append(Problem(path=f"{path}.due", message=f"'{item.due}' is not an ISO 8601 duration in weeks, days, hours, minutes or seconds"))
            for key, expr in item.input.items():
                _check_cel(expr, f"{path}.input.{key}", problems)
            if item.assignment.rule in (AssignmentRule.EVALUATE, AssignmentRule.SELF_SERVICE_EVALUATE) and not item.assignment.variable:
                problems.append(Problem(path=f"{path}.assignment.variable", message=f"rule {item.assignment.rule.value} needs a variable"))
        if isinstance(item, ProcessTask):
            if (item.http is None) == (item.trigger is None):
                problems.append(Problem(path=path, message="a processTask needs exactly one of 'http' or 'trigger'"))
            if item.trigger and item.trigger not in definition.triggers:
                problems.append(Problem(path=f"{path}.trigger", message=f"no trigger '{item.trigger}'"))
        if isinstance(item, CaseTask):
            if known_definitions is not None and item.definition not in known_definitions and item.definition != definition.id:
                problems.append(Problem(path=f"{path}.definition", message=f"no deployed definition '{item.definition}'"))
            for key, expr in item.inputs.items():
                _check_cel(expr, f"{path}.inputs.{key}", problems)
            for key, expr in item.output.items():
                _check_cel(expr, f"{path}.output.{key}", problems)
        if isinstance(item, Timer):
            try:
                duration(item.after)
            except Exception:
                problems.append(Problem(path=f"{path}.after", message=f"'{item.after}' is not an ISO 8601 duration in weeks, days, hours, minutes or seconds"))
        if isinstance(item, UserEvent):
            for k, role in enumerate(item.roles):
                role_ref(role, f"{path}.roles[{k}]")
        route = getattr(item, "route", None)
        if route is not None:
            for k, target in enumerate(route.to):
                if target.task not in by_id:
                    problems.append(Problem(path=f"{path}.route.to[{k}].task", message=f"no item '{target.task}'"))
                elif target.task == item.id:
                    problems.append(Problem(path=f"{path}.route.to[{k}].task", message="an item cannot route to itself"))
                if target.if_:
                    _check_cel(target.if_, f"{path}.route.to[{k}].if", problems)
            if route.type in (RouteType.SEQUENTIAL,) and len(route.to) != 1:
                problems.append(Problem(path=f"{path}.route.to", message="a SEQUENTIAL route has exactly one target"))
    if not problems:
        problems.extend(_never_startable(definition))
    return problems


def _never_startable(definition: Definition) -> list[Problem]:
    """Items whose every entry sentry waits on items that can never start: a dead cycle."""
    compiled = compile_routes(definition)
    entries = walk(compiled.plan)
    paths = {item.id: path for path, item, _ in entries}
    parent_of = {item.id: parent for _, item, parent in entries}
    discretionary = planning_entries(compiled.plan) | {item.id for _, item, _ in entries if item.discretionary}
    items = {item.id: item for _, item, _ in entries}
    live: set[str] = {ROOT_ID}
    changed = True
    while changed:
        changed = False
        for item_id, item in items.items():
            if item_id in live:
                continue
            parent = parent_of[item_id]
            parent_live = parent in live
            if not parent_live:
                continue
            ok = item_id in discretionary or not item.entry or any(
                all(on.partition(".")[0] in live for on in s.on) for s in item.entry
            )
            if ok:
                live.add(item_id)
                changed = True
    problems = []
    for item_id, item in items.items():
        if item_id not in live and parent_of[item_id] in live:
            waits = sorted({on.partition(".")[0] for s in item.entry for on in s.on if on.partition(".")[0] not in live})
            problems.append(
                Problem(
                    path=f"{paths[item_id]}.entry",
                    message=f"'{item_id}' can never start: its entry waits on {', '.join(repr(w) for w in waits)}, which can never start first (a cycle)",
                )
            )
    return problems


def parse_definition(raw: dict[str, Any]) -> Definition:
    """Shape check only; raises pydantic.ValidationError."""
    return Definition.model_validate(raw)


class _Yaml12Loader(yaml.SafeLoader):
    """YAML with 1.2 booleans: only true/false. YAML 1.1 reads the sentry key `on` as True."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_document(text: str) -> Any:
    """A definition document as YAML 1.2 (JSON is a subset). Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Yaml12Loader)
