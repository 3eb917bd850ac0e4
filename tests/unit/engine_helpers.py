"""Builders shared by the engine tests (tests/unit/test_engine_*.py).

The engine is pure: `start` and `decide` take a state and return a new one. These helpers
build definitions from plain dicts, start cases, run commands and check that a refused
command raised the expected error and left its input untouched.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.example_paths import EXAMPLES
from workflows.actor import Actor
from workflows.definition import Definition, load_document, parse_definition, validate_definition
from workflows.engine.commands import Cmd
from workflows.engine.decide import Decision, decide, start
from workflows.engine.errors import DomainError
from workflows.engine.state import CaseState, PlanItemState, TeamMember

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
# The definition the property tests drive: the shipped travel request, the reference example
# of the format (docs/definitions.md). Inside the repository, so a fresh clone runs them.
EXAMPLE = EXAMPLES / "definitions" / "travel-request.yaml"


def at(minutes: float = 0, *, days: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, days=days)


def actor(user_id: str, *groups: str, permissions: tuple[str, ...] = ()) -> Actor:
    return Actor(user_id=user_id, username=user_id, groups=list(groups), permissions=list(permissions))


def definition(raw: dict[str, Any]) -> Definition:
    """A definition from a dict, checked for meaning as a deploy would."""
    raw = {"id": "test-case", "name": "Test case", **raw}
    parsed = parse_definition(raw)
    problems = validate_definition(parsed)
    assert not problems, [str(p) for p in problems]
    return parsed


def example_definition() -> Definition:
    return parse_definition(load_document(EXAMPLE.read_text(encoding="utf-8")))


def start_case(
    defn: Definition,
    starter: Actor,
    inputs: dict[str, Any] | None = None,
    team: list[TeamMember] | None = None,
    when: datetime = T0,
    case_id: str = "case1",
) -> CaseState:
    return start(
        defn, case_id=case_id, case_number=1, actor=starter, inputs=inputs or {}, team=team or [], at=when
    ).state


def run(state: CaseState, cmd: Cmd, when: datetime | None = None) -> CaseState:
    """Apply an accepted command; also checks that `decide` did not touch its input."""
    return run_decision(state, cmd, when).state


def run_decision(state: CaseState, cmd: Cmd, when: datetime | None = None) -> Decision:
    before = state.model_dump()
    decision = decide(state, cmd, when or (state.last_modified + timedelta(seconds=1)))
    assert state.model_dump() == before, "decide changed its input state"
    return decision


def refuse(state: CaseState, cmd: Cmd, error: type[DomainError], when: datetime | None = None) -> DomainError:
    """The command is refused with exactly `error`, and the state is left as it was."""
    before = state.model_dump()
    with pytest.raises(DomainError) as info:
        decide(state, cmd, when or (state.last_modified + timedelta(seconds=1)))
    assert type(info.value) is error, f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    assert state.model_dump() == before, "a refused command changed the state"
    return info.value


def item(state: CaseState, item_id: str) -> PlanItemState:
    return state.items[item_id]


def by_def(state: CaseState, definition_id: str) -> list[PlanItemState]:
    return [i for i in state.items.values() if i.definition_id == definition_id]


def states(state: CaseState) -> dict[str, str]:
    """Plan item id -> its CMMN state, as a user reads the plan."""
    return {i.id: i.state.value for i in state.items.values()}
