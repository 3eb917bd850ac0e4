"""`casework history CASE` and `casework replay FILE...`: download a case's recorded
histories (every run, a case continues as new), and replay histories against the code
installed here, the check to run before deploying new workflow code (a history that no
longer replays would fail its case's next workflow task)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Replayer

from cli.context import Context, Failure
from worker import sandbox
from workflows.public import CaseWorkflow

# what a case id may hold here: it goes into a visibility query
CASE_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")


def register(commands: Any) -> None:
    history = commands.add_parser("history", help="download every run's history of a case as JSON files")
    history.add_argument("case_id", metavar="CASE")
    history.add_argument("--out", type=Path, default=Path("."), help="the folder to write to (default: here)")
    history.set_defaults(run=download)
    replay = commands.add_parser("replay", help="replay downloaded histories against this code")
    replay.add_argument("files", nargs="+", type=Path, metavar="FILE")
    replay.set_defaults(run=replay_files)


async def download(ctx: Context, args: argparse.Namespace) -> int:
    case_id = args.case_id
    if not CASE_ID.match(case_id):
        raise Failure("a case id holds letters, digits and . _ : @ - only")
    client = await ctx.client()
    try:
        runs = [r async for r in client.list_workflows(f'WorkflowId = "{case_id}"')]
    except RPCError as exc:
        raise Failure(f"Temporal refused to list the runs of '{case_id}' ({exc.status.name})") from None
    if not runs:
        raise Failure(f"no case '{case_id}' in Temporal (namespace {ctx.settings.namespace})")
    runs.sort(key=lambda r: r.start_time)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Failure(f"{args.out}: {exc.strerror or type(exc).__name__}") from None
    for n, run in enumerate(runs, 1):
        try:
            history = await client.get_workflow_handle(case_id, run_id=run.run_id).fetch_history()
        except RPCError as exc:
            raise Failure(f"Temporal refused the history of run {n} ({exc.status.name})") from None
        path = args.out / f"{case_id}.run{n}.json"
        try:
            path.write_text(history.to_json(), encoding="utf-8")
        except OSError as exc:
            raise Failure(f"{path}: {exc.strerror or type(exc).__name__}") from None
        print(f"{path}  {len(history.events)} events  {run.status.name if run.status else ''}")
    return 0


async def replay_files(ctx: Context, args: argparse.Namespace) -> int:
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=pydantic_data_converter, workflow_runner=sandbox())
    failed = 0
    for path in args.files:
        try:
            history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise Failure(f"{path}: {exc.strerror or type(exc).__name__}") from None
        except Exception as exc:  # JSON or protobuf parse errors of every kind
            raise Failure(f"{path}: not a workflow history ({type(exc).__name__})") from None
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is None:
            print(f"{path}: replays")
        else:
            failed += 1
            print(f"{path}: does NOT replay: {result.replay_failure}")
    if failed:
        raise Failure(f"{failed} of {len(args.files)} histories do not replay against this code")
    return 0
