"""Checks of values against `inputs` and `output` schemas: one rule for starts and tasks."""

from __future__ import annotations

from typing import Any

from workflows.definition import FieldSpec, InputType

_PYTHON = {
    InputType.string: (str,),
    InputType.number: (int, float),
    InputType.integer: (int,),
    InputType.boolean: (bool,),
    InputType.object: (dict,),
    InputType.array: (list,),
}


def _type_ok(spec: FieldSpec, v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, bool) and spec.type not in (InputType.boolean,):
        return False
    return isinstance(v, _PYTHON[spec.type])


def check(
    schema: dict[str, FieldSpec], values: dict[str, Any], *, where: str, partial: bool = False, undeclared: bool = False
) -> list[dict[str, Any]]:
    """Problems as `{field, message}`; `partial` skips required checks (saving a draft);
    `undeclared` lets names the schema does not declare through (declared ones are checked)."""
    problems: list[dict[str, Any]] = []
    for name in values:
        if name not in schema and not undeclared:
            problems.append({"field": f"{where}.{name}", "message": f"unknown field '{name}'; allowed: {', '.join(schema) or 'none'}"})
    for name, spec in schema.items():
        if name not in values or values[name] is None:
            if spec.required and not partial:
                problems.append({"field": f"{where}.{name}", "message": "required"})
            continue
        if not _type_ok(spec, values[name]):
            problems.append({"field": f"{where}.{name}", "message": f"must be of type {spec.type.value}"})
    return problems
