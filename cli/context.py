"""What a command works with: the settings, the read model and a Temporal client, each opened
on first use and closed at the end; and how commands fail and print."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
import sys
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from settings import Settings
from store.db import Database
from workflows.public import ALL_CASES, Actor

# How long a command waits for Temporal to answer its connection, and a case its query
# (answered by a worker replaying the case: none running, and it would wait for ever).
CONNECT_SECONDS = 10.0
QUERY_TIMEOUT = timedelta(seconds=30)
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

    async def db(self, *, migrate: bool = False) -> Database:
        """The read model. Only `rebuild` creates or upgrades it (`migrate`), as a gateway or
        worker does at start; every other command needs it at this code's migration head and
        never changes its schema (a newer CLI must not upgrade a database under older
        gateways), nor creates an empty SQLite file where none is."""
        if self._db is None:
            db = Database(self.settings.read_model_url)
            try:
                if migrate:
                    await db.init()
                else:
                    current, head = await self._state(db)
                    if current != head:
                        raise Failure(
                            f"the read model is at migration {current or 'none'}, this casework expects {head}: "
                            "start a gateway or worker of this version first (they migrate it)"
                        )
            except Failure:
                await db.close()
                raise
            except Exception as exc:  # the driver's text may hold the URL and its password
                await db.close()
                raise Failure(f"the read model cannot be opened ({type(exc).__name__})") from None
            self._db = db
        return self._db

    async def _state(self, db: Database) -> tuple[str | None, str | None]:
        path = db.sqlite_path() if db.is_sqlite else None
        if path is not None and not path.expanduser().exists():
            raise Failure(f"no read model at {path} (CASEWORK_DATA_DIR or CASEWORK_DATABASE_URL)")
        return await db.migration_state()

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
