"""What a command works with: the settings, the read model and a Temporal client, each opened
on first use and closed at the end; and how commands fail and print."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from settings import Settings
from store.db import Database
from workflows.public import ALL_CASES, Actor

# How long a command waits for Temporal to answer its connection.
CONNECT_SECONDS = 10.0
# Who the CLI's queries are asked as: it sees every case, as an operator does.
OPERATOR = Actor(user_id="casework-cli", username="casework-cli", permissions=[ALL_CASES])


class Failure(Exception):
    """A command cannot do what it was asked: one line for the operator, no traceback."""


class Context:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Database | None = None
        self._client: Client | None = None

    async def __aenter__(self) -> Context:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._db is not None:
            await self._db.close()

    async def db(self) -> Database:
        """The read model, migrated to the code's head (as a gateway or worker would at start)."""
        if self._db is None:
            db = Database(self.settings.read_model_url)
            try:
                await db.init()
            except Exception as exc:  # the driver's text may hold the URL and its password
                await db.close()
                raise Failure(f"the read model cannot be opened ({type(exc).__name__})") from None
            self._db = db
        return self._db

    async def client(self) -> Client:
        if self._client is None:
            target = self.settings.temporal_target
            try:
                self._client = await asyncio.wait_for(
                    Client.connect(target, namespace=self.settings.namespace, data_converter=pydantic_data_converter),
                    CONNECT_SECONDS,
                )
            except (asyncio.TimeoutError, RuntimeError) as exc:
                why = "no answer" if isinstance(exc, asyncio.TimeoutError) else "refused"
                raise Failure(f"Temporal at {target} cannot be reached ({why}); is it running? (CASEWORK_TEMPORAL_ADDRESS)") from None
        return self._client


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(header: list[str], rows: list[list[Any]]) -> None:
    """Columns as wide as their widest cell, two spaces apart."""
    cells = [header] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
