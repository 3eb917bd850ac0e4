"""Expressions with a budget (workflows/expression_cost.py, engine/expressions.py): the bound
grows with the data an expression walks, an expression over it is not run and fails with a
reason that names the budget, the case goes on, a definition whose literals alone are over
it is refused at deploy, and cases recorded before budgets evaluate as they did."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.engine_helpers import T0, actor, definition, item, run, start_case
from workflows import expression_cost
from workflows.definition import parse_definition, validate_definition
from workflows.engine import expressions
from workflows.engine.commands import Complete
from workflows.engine.decide import start
from workflows.engine.state import ItemState
from workflows.expression_cost import MAX_STEPS, steps, steps_without_data


OWEN = actor("owen")


def numbers(n: int) -> list[int]:
    return list(range(n))


def test_a_map_costs_quadratically_in_its_list_and_by_what_each_step_yields() -> None:
    small, large = steps("xs.map(a, a * 2)", {"xs": numbers(1000)}), steps("xs.map(a, a * 2)", {"xs": numbers(10_000)})
    assert 80 * small < large < 120 * small  # ten times the list, about a hundred times the work
    # each step yielding a 100-element list copies a hundred times more
    one = steps("xs.map(a, a)", {"xs": numbers(500)})
    hundred = steps("xs.map(a, ys)", {"xs": numbers(500), "ys": numbers(100)})
    assert hundred > 50 * one


def test_walking_without_collecting_is_linear() -> None:
    assert steps("xs.exists(a, a < 0)", {"xs": numbers(10_000)}) < 20 * steps("xs.exists(a, a < 0)", {"xs": numbers(1000)})
    assert steps("xs.size() > 0", {"xs": numbers(100_000)}) < MAX_STEPS


def test_only_what_an_expression_reads_counts() -> None:
    data = {"approved": True, "rows": [{"a": i, "b": "yy"} for i in range(50_000)]}
    assert expressions.value("approved == true", data) == (True, None)
    # the library is handed the variables the expression reads, nothing else: a value it
    # could not take (a Python object) elsewhere in the case's data changes nothing
    assert expressions.condition("approved == true", {**data, "odd": object()})


@pytest.mark.parametrize("expr", [
    "rows.map(r, r.a)",  # 5,000 rows collected: the library's quadratic copy
    "rows.filter(r, r.a >= 0).size() > 0",
    "rows.map(r, rows).size()",
])
def test_an_expression_over_its_budget_is_not_run_and_says_why(expr: str) -> None:
    data = {"rows": [{"a": i} for i in range(5000)]}
    assert steps(expr, data) > MAX_STEPS
    result, error = expressions.value(expr, data)
    assert result is None and error is not None
    assert "over its budget" in error and f"{MAX_STEPS:,}" in error
    assert expressions.condition(expr, data) is False
    # the same expression on a short list runs
    assert expressions.value(expr.replace(".size() > 0", ".size()"), {"rows": [{"a": 1}]})[1] is None


def test_bounds_hold_across_the_grammar() -> None:
    data: dict[str, Any] = {"s": "x" * 10_000, "m": {"k": numbers(50)}, "n": 3, "xs": numbers(20)}
    for expr in ["s + s", "m.k.map(v, v + n)", "m['k'].filter(v, v > 1)", "n > 2 ? xs : m.k", "[n, n, n].all(v, v == 3)",
                 "{'a': xs}.a.exists_one(v, v == 1)", "size(s) > 0 && !(n in xs)", "-n < 0 || s.startsWith('x')",
                 "xs.map(v, v > 1, v * 2)", "string(n) + 'x'", "has(m.k)", "int('1') + 2 * 3 % 2"]:
        value, error = expressions.value(expr, data)
        assert error is None, (expr, error)
        assert 0 < steps(expr, data) <= MAX_STEPS


def test_data_nested_very_deep_is_measured_without_recursing() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    assert expression_cost.of_data(deep).weight > 5000
    assert steps("d.size() > 0", {"d": deep}) > 5000


def test_a_set_trigger_over_its_budget_faults_its_step_and_the_case_goes_on() -> None:
    defn = definition({
        "inputs": {"xs": {"type": "array"}},
        "triggers": {"double": {"set": {"doubled": "xs.map(a, a * 2)"}}},
        "plan": {"autoComplete": False, "items": [
            {"id": "enter", "type": "humanTask", "name": "Enter", "assignment": {"rule": "EVALUATE", "variable": "SYS_STARTER"},
             "output": {"note": {"type": "string"}}},
            {"id": "double", "type": "processTask", "name": "Double", "trigger": "double"},
        ]},
    })
    started = start(defn, case_id="c", case_number=1, actor=OWEN, inputs={"xs": numbers(5000)}, team=[], at=T0)
    s = started.state
    assert item(s, "double").state == ItemState.Failed
    assert "over its budget" in (item(s, "double").error or "")
    assert "doubled" not in s.data
    # the audit trail says which step failed and why
    (entry,) = [e for e in started.events if e.planItemId == "double" and e.action == "fault"]
    assert "over its budget" in entry.detail
    # the rest of the case is not held up
    s = run(s, Complete(actor=OWEN, item_id="enter", output={"note": "done"}))
    assert item(s, "enter").state == ItemState.Completed
    # on a short list the same trigger runs
    short = start_case(defn, OWEN, inputs={"xs": [1, 2]})
    assert item(short, "double").state == ItemState.Completed and short.data["doubled"] == [2, 4]


def test_cases_recorded_before_budgets_evaluate_as_they_did() -> None:
    data = {"xs": numbers(3000)}
    assert expressions.value("xs.map(a, a).size()", data, rules=0) == (3000, None)
    assert expressions.value("xs.map(a, a).size()", data)[1] is not None


def _trigger_definition(expr: str) -> Any:
    return parse_definition({
        "id": "bomb", "name": "Bomb", "triggers": {"t": {"set": {"x": expr}}},
        "plan": {"items": [{"id": "p", "type": "processTask", "name": "P", "trigger": "t"}]},
    })


def test_a_definition_over_the_budget_on_its_literals_alone_is_refused_at_deploy() -> None:
    literal = "[" + ",".join("1" for _ in range(220)) + "]"
    bomb = f"{literal}.map(a, {literal})"  # 220 steps, each copying a 220-element result
    assert len(bomb) < 1000 and steps_without_data(bomb) > MAX_STEPS
    problems = validate_definition(_trigger_definition(bomb))
    assert [p.path for p in problems] == ["triggers.t.set.x"]
    assert f"at most {MAX_STEPS:,}" in problems[0].message
    # the same shape, small, deploys
    assert validate_definition(_trigger_definition("[1, 2, 3].map(a, [a, a])")) == []


def test_syntax_the_parser_does_not_read_is_bounded_without_it() -> None:
    # a trailing comma is taken by the library but not by the parser the bound is read from:
    # a definition deployed before budgets may hold such an expression
    odd = "[m, 1,].size() > 1"
    with pytest.raises(Exception):
        expression_cost.syntax(odd)
    assert expressions.value(odd, {"m": 3}) == (True, None)
    assert 0 < steps(odd, {"m": 3}) <= MAX_STEPS
    # a comprehension it cannot see into is refused, however small its data
    assert steps("[m,].map(v, v)", {"m": 1}) > MAX_STEPS
    assert "over its budget" in (expressions.value("[m,].map(v, v)", {"m": 1})[1] or "")
    problems = validate_definition(_trigger_definition(odd))
    assert [p.path for p in problems] == ["triggers.t.set.x"]
