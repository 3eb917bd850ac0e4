"""CEL over case data, through a maintained library (never `eval`).

A condition that cannot be evaluated (an unset variable, a type error) is false: a sentry
waiting on `approved == true` simply waits until `approved` exists.
"""

from __future__ import annotations

from typing import Any

import cel


def condition(expr: str | None, data: dict[str, Any]) -> bool:
    if not expr:
        return True
    try:
        return cel.evaluate(expr, data) is True
    except Exception:
        return False


def value(expr: str, data: dict[str, Any]) -> tuple[Any, str | None]:
    """The value of one expression, or None and the reason it failed."""
    try:
        return _plain(cel.evaluate(expr, data)), None
    except Exception as exc:
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def mapping(exprs: dict[str, str], data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Each entry evaluated on its own, in the definition's key order (the library's own map
    order is not stable, and workflow code must be deterministic)."""
    out: dict[str, Any] = {}
    errors: list[str] = []
    for key, expr in exprs.items():
        result, error = value(expr, data)
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
