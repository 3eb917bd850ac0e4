"""Shared fixtures: Temporal servers started from the binaries in the venv (no internet).

- `temporal_env`: the dev server (visibility, search attributes), one per test session.
- `temporal_client`: its client, with the pydantic data converter.
- `time_skipping_env`: the time-skipping test server (timers of days pass at once; no
  visibility, so list tests use `temporal_env`).
Each is started only when a test asks for it. Give each test its own task queue and
workflow ids (e.g. with uuid4) since the servers are shared.
"""

from __future__ import annotations

import atexit
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.support.postgres import PostgresCluster, PostgresUnavailable
from store.db import Database
from tests.support.processes import start_dev_env

VENV_BIN = Path(sys.executable).parent


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_env()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=timedelta(seconds=30),
    )
    try:
        yield env
    finally:
        await env.shutdown()


# PostgreSQL, started on first use like the Temporal servers (tests/support/postgres.py):
# - `postgres_cluster`: one throwaway cluster per test session.
# - `postgres_url`: its `casework` database, shared by the session (clean up after yourself).
# - `database_url`: each test twice, on a SQLite file of its own and on a PostgreSQL database
#   of its own (created empty, dropped afterwards), for store code that must work on both.
# PostgreSQL not starting fails the tests that need it: they must never be skipped.


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    problem = None
    try:
        cluster.start()
    except PostgresUnavailable as exc:
        problem = str(exc)
    if problem is not None:
        cluster.stop()
        pytest.fail(f"PostgreSQL is required for this test and could not be started: {problem}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    return postgres_cluster.url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'casework.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        cluster.drop_database(name)


# The Temporal SDK's Rust threads can abort the interpreter while it finalizes
# ("Fatal Python error: PyGILState_Release ... finalizing", temporalio/sdk-python#300).
# Measured here: a plain script that started and shut down both servers aborted (exit 134)
# in 5 runs out of 5; not seen under pytest so far, but a CI run must not turn red after
# every test passed. So once pytest is done, leave without finalizing, keeping its status.
# Registered first, so it runs last among atexit handlers (only earlier ones, such as
# `coverage run`'s, are skipped; pytest-cov saves its data before this).
_exit_status: int | None = None


def pytest_configure(config: pytest.Config) -> None:
    atexit.register(_exit_without_finalizing)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


def _exit_without_finalizing() -> None:
    if _exit_status is not None and "temporalio.bridge.temporal_sdk_bridge" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty read model on each backend of `database_url`."""
    database = Database(database_url)
    await database.init()
    try:
        yield database
    finally:
        await database.close()
