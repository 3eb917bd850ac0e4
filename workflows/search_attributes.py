"""Search attributes that let ops filter cases in the Temporal UI (DESIGN.md section 4).

The SQLite dev server allows 10 Keyword, 3 KeywordList, 3 Int and 3 Datetime attributes per
namespace; these fit. The launcher registers them with `--search-attribute`, the worker
registers any that are missing on an existing cluster.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from workflows.engine.state import ItemState

CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
CASE_NUMBER = SearchAttributeKey.for_int("CaseNumber")
CASE_DEFINITION = SearchAttributeKey.for_keyword("CaseDefinition")
CASE_ASSIGNEES = SearchAttributeKey.for_keyword_list("CaseAssignees")
CASE_CANDIDATES = SearchAttributeKey.for_keyword_list("CaseCandidates")
CASE_OPEN_TASKS = SearchAttributeKey.for_keyword_list("CaseOpenTasks")
CASE_DUE_TIME = SearchAttributeKey.for_datetime("CaseDueTime")

ALL = [
    CASE_STATUS,
    CASE_NUMBER,
    CASE_DEFINITION,
    CASE_ASSIGNEES,
    CASE_CANDIDATES,
    CASE_OPEN_TASKS,
    CASE_DUE_TIME,
]

# The ones that change with nearly every action; the case upserts them with its projection's
# backstop write, not per action (workflows/case.py, `_publish`). The others change once or
# twice in a case's life and go at once.
BUSY = frozenset({CASE_ASSIGNEES.name, CASE_CANDIDATES.name, CASE_OPEN_TASKS.name, CASE_DUE_TIME.name})

# What a case's start sets (in the start request, recorded with the start, so the case's first
# workflow task upserts none of them): a new case's plan is active (the engine's state).
def at_start(definition_id: str, case_number: int) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(CASE_STATUS, ItemState.Active.value),
        SearchAttributePair(CASE_NUMBER, case_number),
        SearchAttributePair(CASE_DEFINITION, definition_id),
    ])


def values_of(attributes: TypedSearchAttributes) -> dict[str, Any]:
    """The case's attributes as `attributes` holds them, by name; an absent one as unset
    (None, or [] for a list)."""
    out: dict[str, Any] = {}
    for key in ALL:
        value = attributes.get(key)
        if key.indexed_value_type.name == "KEYWORD_LIST":
            out[key.name] = list(value or [])
        else:
            out[key.name] = value
    return out


# Names as the `temporal server start-dev --search-attribute NAME=TYPE` flag spells them.
_CLI_TYPE = {
    "KEYWORD": "Keyword",
    "INT": "Int",
    "KEYWORD_LIST": "KeywordList",
    "DATETIME": "Datetime",
}


def cli_flags() -> list[str]:
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type.name]}"]
    return flags
