"""`casework definitions list|deploy`: what is deployed, and deploying files as the gateway
deploys its folder at start (validated, together, so they may name each other)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from api.service import CaseService, definition_files
from cli.context import Context, Failure, print_json, print_table
from store import definitions
from store.directory import Directory


def register(commands: Any) -> None:
    group = commands.add_parser("definitions", help="list and deploy case definitions")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="the latest version of every definition")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(run=list_definitions)
    deploy = sub.add_parser("deploy", help="deploy definition files (YAML or JSON) or folders of them")
    deploy.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    deploy.set_defaults(run=deploy_definitions)


async def list_definitions(ctx: Context, args: argparse.Namespace) -> int:
    records = await definitions.list_latest(await ctx.db())
    if args.json:
        print_json([{"id": r.id, "version": r.version, "name": r.name, "category": r.category,
                     "deployedAt": r.deployed_at.isoformat(), "deployedBy": r.deployed_by} for r in records])
    else:
        print_table(["ID", "VERSION", "NAME", "DEPLOYED"],
                    [[r.id, r.version, r.name, f"{r.deployed_at:%Y-%m-%d %H:%M:%S} by {r.deployed_by}"] for r in records])
    return 0


async def deploy_definitions(ctx: Context, args: argparse.Namespace) -> int:
    files: list[Path] = []
    for path in args.paths:
        if path.is_dir():
            files += definition_files(path)
        elif path.is_file():
            files.append(path)
        else:
            raise Failure(f"{path}: no such file or folder")
    if not files:
        raise Failure("no definition files (.yaml, .yml, .json) in " + ", ".join(map(str, args.paths)))
    # Deploying reads and writes only the read model: no Temporal client, no directory.
    svc = CaseService(ctx.settings, client=None, db=await ctx.db(), directory=Directory())  # type: ignore[arg-type]
    try:
        for line in await svc.deploy_files(files):
            print(line)
    except RuntimeError as exc:
        raise Failure(str(exc)) from None
    return 0
