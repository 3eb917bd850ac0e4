"""What ops see of a case in the Temporal UI: people by username, times to the second."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.api.conftest import Gateway, user_id
from workflows import search_attributes as sa


async def test_ops_find_a_users_open_tasks_in_the_temporal_ui_by_username(gateway: Gateway, temporal_env: Any) -> None:
    """The search attributes and the details table name people by username, not directory id."""
    case = await gateway.start()
    case_id = case["caseInstanceId"]
    assert (await gateway.call("PUT", f"/tasks/{case_id}.review/claim", "rev1")).status_code == 200
    handle = temporal_env.client.get_workflow_handle(case_id)
    details = (await handle.query("__temporal_workflow_metadata")).current_details
    row = next(line for line in details.splitlines() if line.startswith("- **Review document**"))
    assert row.startswith("- **Review document**: Assigned, held by **rev1**, due ") and user_id("rev1") not in details
    assert re.search(r", due \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", row), row  # the due time, to the second
    # visibility follows with the case's next projection write (at most GATEWAY_GRACE later)
    found: list[str] = []
    for _ in range(150):
        found = [w.id async for w in temporal_env.client.list_workflows(f'CaseAssignees = "rev1" AND WorkflowId = "{case_id}"')]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found == [case_id]
    attrs = (await handle.describe()).typed_search_attributes
    assert list(attrs.get(sa.CASE_ASSIGNEES) or []) == ["rev1"]
