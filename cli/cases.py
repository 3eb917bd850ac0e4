"""`casework cases list|show`: cases as the read model lists them, and one case as the read
model holds it beside what the case itself answers, so an operator sees at once whether the
two are in step."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from cli.context import OPERATOR, QUERY_TIMEOUT, Context, Failure, print_json, print_table
from store import native_lists
from store.tables import CaseRow, DelegationRow
from workflows.public import CaseView, CaseWorkflow

# the columns of a task row that `show` prints (the rest repeat the case)
TASK_COLUMNS = ("del_index", "item_id", "task_name", "task_state", "assignee", "owner", "open", "due", "last_modified")


def register(commands: Any) -> None:
    group = commands.add_parser("cases", help="list cases, show one")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="cases in the read model, newest first")
    listing.add_argument("--state", help="only cases in this CMMN state (Active, Completed, Terminated, ...)")
    listing.add_argument("--definition", help="only cases of this definition id")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(run=list_cases)
    show = sub.add_parser("show", help="one case: the read model's rows beside the case's own answer")
    show.add_argument("case_id", metavar="CASE")
    show.set_defaults(run=show_case)


async def list_cases(ctx: Context, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 10_000:
        raise Failure("--limit is from 1 to 10000")
    rows = await native_lists.cases(
        await ctx.db(), [], True, state=args.state, definition=args.definition, page=native_lists.Page(size=args.limit)
    )
    if args.json:
        print_json([_columns(r, CaseRow) for r in rows])
    else:
        print_table(["CASE", "NUMBER", "DEFINITION", "STATE", "VERSION", "MODIFIED", "TITLE"],
                    [[r.case_id, r.case_number, f"{r.definition_id}@{r.definition_version}", r.state, r.version,
                      f"{r.last_modified:%Y-%m-%d %H:%M:%S}", r.title[:60]] for r in rows])
    return 0


async def show_case(ctx: Context, args: argparse.Namespace) -> int:
    case_id = args.case_id
    stored = await _stored(ctx, case_id)
    handle = (await ctx.client()).get_workflow_handle(case_id)
    try:
        described = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
        view: CaseView | None = await handle.query(CaseWorkflow.case, OPERATOR, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise Failure(f"Temporal refused or did not answer for case '{case_id}' ({exc.status.name}; is a worker running?)") from None
        described, view = None, None
    except WorkflowQueryFailedError:
        raise Failure(f"case '{case_id}' did not answer its query (is a worker running?)") from None
    if stored is None and described is None:
        raise Failure(f"no case '{case_id}' in the read model or in Temporal")
    workflow = None if described is None else {
        "status": described.status.name if described.status else None, "runId": described.run_id,
        "historyLength": described.history_length, "started": described.start_time.isoformat(),
    }
    case = None if view is None else view.model_dump(mode="json")
    stored_version = stored["case"]["version"] if stored else None
    case_version = view.caseVersion if view else None
    print_json({
        "caseId": case_id,
        "inStep": stored_version is not None and stored_version == case_version,
        "readModelVersion": stored_version, "caseVersion": case_version,
        "readModel": stored, "case": case, "workflow": workflow,
    })
    return 0


async def _stored(ctx: Context, case_id: str) -> dict[str, Any] | None:
    async with (await ctx.db()).session() as session:
        row = await session.get(CaseRow, case_id)
        if row is None:
            return None
        tasks = await session.scalars(select(DelegationRow).where(DelegationRow.case_id == case_id).order_by(DelegationRow.del_index))
        return {"case": _columns(row, CaseRow), "tasks": [{c: getattr(t, c) for c in TASK_COLUMNS} for t in tasks]}


def _columns(row: Any, table: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in table.__mapper__.column_attrs}
