"""`casework`: the operator's command line.

It works with the same CASEWORK_* settings as the gateway and the worker, straight against
Temporal and the read model (no gateway, no token): whoever runs it may already reach both.
Each command lives in its own module; this one parses the command line, opens what a
command needs, and turns every failure into one line on stderr (exit status 1; 2 for a
command line that does not parse).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from cli import cases, definitions, histories, rebuild, tokens
from cli.context import Context, Failure
from settings import ConfigurationError, get_settings

COMMANDS = (definitions, cases, tokens, histories, rebuild)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="casework",
        description="Operate Casework: definitions, cases, tokens, histories and the read model. "
        "Reads the CASEWORK_* settings as the gateway and the worker do.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run: Callable[[Context, argparse.Namespace], Awaitable[int]] = args.run
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        return asyncio.run(_with_context(settings, run, args))
    except Failure as exc:
        print(f"casework {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a failure no command foresaw: still one line, and no details
        # (a driver's or server's text may hold a URL with its password)
        print(f"casework {args.command}: failed unexpectedly ({type(exc).__name__})", file=sys.stderr)
        return 1


async def _with_context(settings: Any, run: Callable[[Context, argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    async with Context(settings) as ctx:
        return await run(ctx, args)
