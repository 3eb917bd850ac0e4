"""How much work a CEL expression may take on given data, known before it runs.

The CEL library cannot be interrupted once it runs, has no cost limit of its own, and its
`map` and `filter` copy their whole result on every step: a `map` over n elements whose
results each weigh w costs about n * n * w / 2 value copies (2,000 numbers: 0.12 s; the
same 2,000 steps each yielding a 100-element list: 17 s). A time limit would not do either:
workflow code must decide the same way on every replay. So the cost is bounded from the
expression's syntax tree and the shape of the data it reads, deterministically, and an
expression over its budget is refused before the library sees it.

The estimate is an upper bound, by abstract interpretation: each sub-expression is given a
`Shape` (its weight, the number of its elements, and the join of its elements' shapes), and
a cost in steps. Literals and the case's data are measured; every operator yields at most
what its operands weigh (the library has no string repetition, `replace` or the like), and
a comprehension costs its range's length times its body, plus the library's quadratic copy
for `map` and `filter`. `STEPS_PER_SECOND` is what the library does on the machines we
measured (`bench/expressions.py` prints estimate and time side by side), and the budget
keeps one expression to a small part of a workflow task.

Changing MAX_STEPS or the model changes which expressions run: a case decides again on
replay, so a change must come with a patch (workflows/case.py, PATCHES) for running cases.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Any

from celpy.celparser import CELParser
from lark import Token, Tree

# One expression's budget, in value copies: about a quarter of a second of the library's
# work on the machines we measured (bench/expressions.py compares estimates and timings).
MAX_STEPS = 3_000_000
STEPS_PER_SECOND = 12_000_000
# a string costs by its bytes, copied in blocks: 256 characters weigh as one value
STRING_BLOCK = 256
# a map weighs more than its entries: copying one costs about four plain values
MAP_WEIGHT = 4
# handing a value to the library (converting it from Python) costs about ten copies of it
CONVERSION = 10
# data nested deeper than this is measured flat (each value its whole weight), so that
# measuring never recurses without bound
MAX_DEPTH = 64
MACROS = frozenset({"map", "filter", "all", "exists", "exists_one"})
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Shape:
    weight: int  # values in it, all levels, strings by blocks
    count: int = 0  # its elements (list items, map entries)
    elem: Shape | None = None  # the join of its elements' shapes (a map's: of its values and keys)

    def each(self) -> Shape:
        return self.elem or SCALAR


SCALAR = Shape(1)


def join(a: Shape | None, b: Shape | None) -> Shape | None:
    if a is None or b is None:
        return a or b
    return Shape(max(a.weight, b.weight), max(a.count, b.count), join(a.elem, b.elem))


def of_data(value: Any, depth: int = 0) -> Shape:
    """The exact bound of a value of the case's data (JSON-like)."""
    if isinstance(value, (str, bytes)):
        return Shape(1 + len(value) // STRING_BLOCK)
    if isinstance(value, (list, tuple)):
        items: list[Any] = list(value)
    elif isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    else:
        return SCALAR
    if depth >= MAX_DEPTH:
        weight = _flat_weight(value)
        flat = Shape(weight, weight, Shape(weight, weight))
        return flat
    elem: Shape | None = None
    weight = MAP_WEIGHT if isinstance(value, dict) else 1
    for item in items:
        shape = of_data(item, depth + 1)
        weight += shape.weight
        elem = join(elem, shape)
    return Shape(weight, len(value), elem)


def _flat_weight(value: Any) -> int:
    weight, stack = 0, [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (str, bytes)):
            weight += 1 + len(v) // STRING_BLOCK
        elif isinstance(v, dict):
            weight += 1
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            weight += 1
            stack.extend(v)
        else:
            weight += 1
    return weight


# celpy's parser keeps the text it parses on itself: one parse at a time (workflow tasks
# run on several threads)
_PARSING = threading.Lock()


@functools.cache
def _parser() -> CELParser:
    return CELParser()


@functools.lru_cache(maxsize=4096)
def syntax(expr: str) -> Tree:
    """The expression's syntax tree (parsed once per process; the trees are read only).
    Raises when the expression is not standard CEL syntax."""
    with _PARSING:
        return _parser().parse(expr)


def steps(expr: str, data: dict[str, Any]) -> int:
    """At most how many steps the library takes to evaluate `expr` on `data` (the variables
    it reads; names it does not read may be left out)."""
    shapes = {name: of_data(value) for name, value in data.items()}
    read = sum(s.weight for s in shapes.values())
    try:
        tree = syntax(expr)
    except Exception:
        # Syntax the library takes and this parser does not (deploys refuse it since budgets
        # exist; a definition deployed before may have it): without comprehensions it costs
        # at most a pass over what it reads per name it names; with one it is not bounded.
        if any(f".{macro}(" in expr.replace(" ", "") for macro in MACROS):
            return MAX_STEPS + 1
        return CONVERSION * read + (1 + len(IDENT.findall(expr))) * read
    _, cost = _Estimate(shapes).bound(tree)
    return cost + CONVERSION * read


def steps_without_data(expr: str) -> int:
    """The cost of `expr` when every variable it reads is a single value: what its literals
    alone make it cost, whatever the case holds."""
    return _Estimate({}).bound(syntax(expr))[1]


class _Estimate:
    def __init__(self, variables: dict[str, Shape]) -> None:
        self.scopes: list[dict[str, Shape]] = [variables]

    def lookup(self, name: str) -> Shape:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return SCALAR  # unknown names fail at evaluation; a bound of one value is enough

    def bound(self, node: Tree | Token) -> tuple[Shape, int]:
        """The node's shape and its cost in steps."""
        if isinstance(node, Token):
            return SCALAR, 1
        kind = node.data
        kids = node.children
        if kind == "literal":
            token = kids[0]
            if token.type in ("STRING_LIT", "MLSTRING_LIT", "BYTES_LIT"):
                return Shape(1 + len(token) // STRING_BLOCK), 1
            return SCALAR, 1
        if kind == "ident":
            return self.lookup(str(kids[0])), 1
        if kind == "member_dot_arg":
            return self._method(kids)
        if kind == "ident_arg" and str(kids[0]) in _SCALAR_FUNCTIONS:
            return SCALAR, 1 + sum(self.bound(k)[1] for k in kids[1:])
        if kind in ("list_lit", "map_lit"):
            return self._collection(kind, kids)
        if kind == "addition" and len(kids) == 2 and kids[0].data == "addition_add":
            (left, lc), (right, rc) = self.bound(kids[0].children[0]), self.bound(kids[1])
            shape = Shape(left.weight + right.weight, left.count + right.count, join(left.elem, right.elem))
            return shape, lc + rc + shape.weight
        if kind in ("member_dot", "member_index"):
            # a field or an element: at most an element of what it is taken from
            base, cost = self.bound(kids[0])
            more = sum(self.bound(k)[1] for k in kids[1:] if isinstance(k, Tree))
            return base.each(), cost + more + 1
        if kind == "expr" and len(kids) == 3:  # cond ? a : b
            (_, cc), (a, ac), (b, bc) = (self.bound(k) for k in kids)
            return join(a, b) or SCALAR, cc + max(ac, bc)
        trees = [k for k in kids if isinstance(k, Tree)]
        if len(trees) == 1 and kind in _PASSING:
            return self.bound(trees[0])
        # every other operator or function: its result weighs at most its operands (the
        # library has no operator that repeats or multiplies a value), and it reads them all
        parts = [self.bound(k) for k in trees]
        weight = sum(s.weight for s, _ in parts)
        cost = sum(c for _, c in parts) + weight
        if kind in _SCALAR_RESULTS:
            return SCALAR, cost
        return Shape(max(weight, 1), weight, Shape(weight)), cost

    def _collection(self, kind: str, kids: list[Any]) -> tuple[Shape, int]:
        empty = MAP_WEIGHT if kind == "map_lit" else 1
        if not kids:
            return Shape(empty), 1
        entries = [k for k in kids[0].children if isinstance(k, Tree)]
        parts = [self.bound(k) for k in entries]
        elem: Shape | None = None
        for shape, _ in parts:
            elem = join(elem, shape)
        weight = empty + sum(s.weight for s, _ in parts)
        return Shape(weight, len(parts), elem), sum(c for _, c in parts) + weight

    def _method(self, kids: list[Any]) -> tuple[Shape, int]:
        target, name = kids[0], str(kids[1])
        args = [k for k in kids[2].children if isinstance(k, Tree)] if len(kids) > 2 else []
        if name in MACROS and len(args) >= 2:
            return self._comprehension(name, target, args)
        base, cost = self.bound(target)
        parts = [self.bound(a) for a in args]
        weight = base.weight + sum(s.weight for s, _ in parts)
        cost += sum(c for _, c in parts) + weight
        if name in _SCALAR_FUNCTIONS:
            return SCALAR, cost
        return Shape(weight, weight, Shape(weight)), cost

    def _comprehension(self, name: str, target: Any, args: list[Tree]) -> tuple[Shape, int]:
        source, cost = self.bound(target)
        var = _variable(args[0])
        n, each = source.count, source.each()
        self.scopes.append({var: each} if var else {})
        try:
            bodies = [self.bound(a) for a in args[1:]]
        finally:
            self.scopes.pop()
        per_step = sum(c for _, c in bodies)
        cost += n * per_step
        if name == "map":
            result = bodies[-1][0]
            # the library copies its accumulated result on each step
            cost += n * n * result.weight // 2 + n
            return Shape(1 + n * result.weight, n, result), cost
        if name == "filter":
            cost += n * n * each.weight // 2 + n
            return Shape(source.weight, n, source.elem), cost
        return SCALAR, cost


# grammar rules that, with a single operand, are that operand
_PASSING = frozenset({
    "expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication",
    "unary", "member", "primary", "paren_expr", "exprlist",
})
# rules whose result is one value whatever their operands
_SCALAR_RESULTS = frozenset({
    "conditionalor", "conditionaland", "relation", "multiplication", "unary",
    "relation_lt", "relation_le", "relation_gt", "relation_ge", "relation_eq", "relation_ne", "relation_in",
})


# functions and methods whose result is one value
_SCALAR_FUNCTIONS = frozenset({
    "size", "contains", "startsWith", "endsWith", "matches", "has", "int", "uint", "double",
    "bool", "type", "duration", "timestamp",
    "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
    "getHours", "getMinutes", "getSeconds", "getMilliseconds",
})


def _variable(node: Tree) -> str | None:
    """The name a comprehension binds (its first argument, a bare identifier)."""
    for sub in node.iter_subtrees_topdown():
        if sub.data == "ident":
            return str(sub.children[0])
    return None
