"""Search attributes that let ops filter cases in the Temporal UI (DESIGN.md section 4).

The SQLite dev server allows 10 Keyword, 3 KeywordList, 3 Int and 3 Datetime attributes per
namespace; these fit. The launcher registers them with `--search-attribute`, the worker
registers any that are missing on an existing cluster.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

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
# backstop write, not per action (workflows/case.py, `_publish`).
BUSY = frozenset({CASE_ASSIGNEES.name, CASE_CANDIDATES.name, CASE_OPEN_TASKS.name})

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
