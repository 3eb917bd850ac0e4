"""`casework rebuild [CASE ...]`: write the read model again from the cases themselves.

Each case is asked for itself as the read model stores it (the workflow's `read_model`
query, answered by a worker replaying it, closed cases included) and written whole, with the
audit entries the workflow still holds. It serves a read model that was lost, restored from
an old backup, or created after its cases (cases started before the read model existed).
Writes only move a case forward, so it is safe beside running gateways and workers;
`--force` also overwrites a stored case that claims to be as new (rows known to be wrong).

What it cannot bring back: audit entries the workflow no longer holds (it keeps a bounded
tail; older ones live only in the read model). A case the event feed cannot go on with (it
has nothing of it, or older entries are gone) joins the feed with its next entry, so streams
and webhooks are not sent its past as new.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from cli.context import QUERY_TIMEOUT, Context, Failure
from cli.histories import CASE_ID
from store import projection
from workflows.public import AUDIT_PER_CHANGE, CaseChange, CaseWorkflow

ALL_CASES_QUERY = 'WorkflowType = "CaseWorkflow" AND ExecutionStatus != "ContinuedAsNew"'


def register(commands: Any) -> None:
    rebuild = commands.add_parser("rebuild", help="write the read model again from the cases in Temporal")
    rebuild.add_argument("case_ids", nargs="*", metavar="CASE", help="these cases only (default: every case)")
    rebuild.add_argument("--force", action="store_true", help="also overwrite cases the read model holds at the same version")
    rebuild.add_argument("--concurrency", type=int, default=4, help="cases rebuilt at once (default 4)")
    rebuild.set_defaults(run=rebuild_cases)


async def rebuild_cases(ctx: Context, args: argparse.Namespace) -> int:
    if not 1 <= args.concurrency <= 64:
        raise Failure("--concurrency is from 1 to 64")
    for case_id in args.case_ids:
        if not CASE_ID.match(case_id):
            raise Failure("a case id holds letters, digits and . _ : @ - only")
    client = await ctx.client()
    db = await ctx.db(migrate=True)  # an empty read model is one it may fill
    if args.case_ids:
        case_ids = list(dict.fromkeys(args.case_ids))
    else:
        try:
            case_ids = list(dict.fromkeys([w.id async for w in client.list_workflows(ALL_CASES_QUERY)]))
        except RPCError as exc:
            raise Failure(f"Temporal refused to list the cases ({exc.status.name})") from None
    gate = asyncio.Semaphore(args.concurrency)
    outcomes: dict[str, int] = {"written": 0, "up to date": 0, "failed": 0}

    async def one(case_id: str) -> None:
        async with gate:
            outcome, line = await _rebuild_one(client, db, case_id, args.force)
        outcomes[outcome] += 1
        print(f"{case_id}: {line}", flush=True)

    await asyncio.gather(*(one(c) for c in case_ids))
    print(f"{len(case_ids)} cases: {outcomes['written']} written, {outcomes['up to date']} up to date, {outcomes['failed']} failed")
    if outcomes["failed"]:
        raise Failure(f"{outcomes['failed']} cases could not be rebuilt (see above)")
    return 0


async def _rebuild_one(client: Any, db: Any, case_id: str, force: bool) -> tuple[str, str]:
    handle = client.get_workflow_handle(case_id)
    changes: list[CaseChange] = []
    try:
        audit_from = 0
        while True:  # the held entries come in batches; a short one is the last
            change: CaseChange = await handle.query(CaseWorkflow.read_model, audit_from, rpc_timeout=QUERY_TIMEOUT)
            changes.append(change)
            if len(change.audit) < AUDIT_PER_CHANGE:
                break
            audit_from = change.audit[-1].seq + 1
    except RPCError as exc:
        return "failed", f"Temporal refused or did not answer ({exc.status.name}; is a worker running?)"
    except WorkflowQueryFailedError as exc:
        # a run recorded before the query existed answers that it has none
        return "failed", f"the case did not answer ({str(exc)[:200]})"
    entries = [a for c in changes for a in c.audit]
    version = changes[0].doc.version
    try:
        if entries:
            await projection.join_feed(db, case_id, entries[0].seq, entries[-1].seq)
        outcome = "stale"
        for i, change in enumerate(changes):
            result = await projection.write_change(db, change, replace=force and i == 0)
            if i == 0:
                outcome = result
    except Exception as exc:  # the database away or refusing: this case fails, the others go on
        return "failed", f"the read model refused the write ({type(exc).__name__})"
    if outcome == "written":
        return "written", f"version {version}, {len(entries)} audit entries"
    return "up to date", f"the read model holds version {version} or newer"
