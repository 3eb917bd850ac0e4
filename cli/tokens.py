"""`casework token USER` and `casework hash-password`: a development token signed with the
gateway's local key (as `make run` prints one), and a directory file's password hash."""

from __future__ import annotations

import argparse
from typing import Any

from api.auth import mint_token_for
from cli.context import Context, Failure
from store import directory
from store.directory import DirectoryError


def register(commands: Any) -> None:
    token = commands.add_parser(
        "token", help="print a bearer token for a directory user (local tokens; the signing key in the data folder)"
    )
    token.add_argument("user", help="username or directory id")
    token.set_defaults(run=mint)
    hashing = commands.add_parser("hash-password", help="read a password from stdin and print its argon2id hash")
    hashing.set_defaults(run=hash_from_stdin)


async def mint(ctx: Context, args: argparse.Namespace) -> int:
    key = ctx.settings.signing_key_path
    if not key.exists():
        # a key made here would sign tokens that no gateway accepts
        raise Failure(f"no signing key at {key}: run this with the gateway's data folder (CASEWORK_DATA_DIR)")
    try:
        print(mint_token_for(ctx.settings, args.user))
    except LookupError:
        raise Failure(f"no such user in {ctx.settings.directory}") from None
    except DirectoryError as exc:
        raise Failure(str(exc)) from None
    return 0


async def hash_from_stdin(ctx: Context, args: argparse.Namespace) -> int:
    # the directory module's own command: a terminal is asked twice, a pipe gives one line
    return directory.main(["hash"])
