"""CEL over case data, through a maintained library (never `eval`).

A condition that cannot be evaluated (an unset variable, a type error) is false: a sentry
waiting on `approved == true` simply waits until `approved` exists.

Each expression is compiled once per process and handed only the variables it reads (the
library converts every variable it is given, so passing the whole case file made even
`approved == true` cost as much as the file's size). Before it runs, its cost on that data
is bounded (expression_cost); one over its budget is not run and fails as any other
expression that cannot be evaluated, with a reason that names the budget.
"""

from __future__ import annotations

import functools
from typing import Any

import cel

from workflows import expression_cost


# How a case's expressions are evaluated (CaseState.expression_rules): 0 as before budgets
# (the whole case data handed to the library, no bound), 1 compiled once, handed the
# variables they read, and bounded. A run keeps the rules its history was decided by.
RULES = 1


class OverBudget(Exception):
    pass


@functools.lru_cache(maxsize=4096)
def _program(expr: str) -> tuple[cel.Program, tuple[str, ...]]:
    program = cel.compile(expr)
    return program, tuple(program.variables())


def run(expr: str, data: dict[str, Any]) -> Any:
    """Evaluate `expr` on the case's data within its budget; raises when it cannot."""
    program, names = _program(expr)
    reads = {name: data[name] for name in names if name in data}
    steps = expression_cost.steps(expr, reads)
    if steps > expression_cost.MAX_STEPS:
        raise OverBudget(
            f"over its budget: about {steps:,} steps on this case's data, at most "
            f"{expression_cost.MAX_STEPS:,} (a comprehension over a long list?)"
        )
    return program.execute(reads)


def _evaluate(expr: str, data: dict[str, Any], rules: int) -> Any:
    return run(expr, data) if rules >= 1 else cel.evaluate(expr, data)


def condition(expr: str | None, data: dict[str, Any], rules: int = RULES) -> bool:
    if not expr:
        return True
    try:
        return _evaluate(expr, data, rules) is True
    except Exception:
        return False


def value(expr: str, data: dict[str, Any], rules: int = RULES) -> tuple[Any, str | None]:
    """The value of one expression, or None and the reason it failed."""
    try:
        return _plain(_evaluate(expr, data, rules)), None
    except Exception as exc:
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def mapping(exprs: dict[str, str], data: dict[str, Any], rules: int = RULES) -> tuple[dict[str, Any], list[str]]:
    """Each entry evaluated on its own, in the definition's key order (the library's own map
    order is not stable, and workflow code must be deterministic)."""
    out: dict[str, Any] = {}
    errors: list[str] = []
    for key, expr in exprs.items():
        result, error = value(expr, data, rules)
        out[key] = result
        if error:
            errors.append(f"{key}: {error}")
    return out, errors


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(v[k]) for k in sorted(v, key=str)}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v
