"""The Alembic migrations (store/migrations), on a SQLite file and on PostgreSQL.

The revisions are written by hand; these tests hold them to the models: a migrated database
must be exactly what store/tables.py describes (autogenerate finds nothing to do), also after
a downgrade to nothing and back, and a file made by the releases before Alembic
(`create_all`) must upgrade keeping its rows.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, inspect, select, text

from store import case_numbers, definitions
from store.db import Database, include_object, migration_config
from store.tables import Base, JsonDict, UTCDateTime

ROOT = Path(__file__).resolve().parents[2]
HEAD = ScriptDirectory.from_config(migration_config()).get_current_head()
READ_MODEL = {"cases", "delegations", "delegation_principals", "participations", "balanced_counters", "audit_entries", "event_feed", "subscriptions", "deliveries"}
REFRESH_TOKENS = {"used_refresh_tokens", "revoked_token_families"}


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    context = MigrationContext.configure(
        connection,
        opts={"include_object": include_object, "compare_type": True, "compare_server_default": True},
    )
    return compare_metadata(context, Base.metadata)


def tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"sqlite_sequence"}


def revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def check_at_head(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert await conn.run_sync(differences) == []
        assert await conn.run_sync(revision) == HEAD
        # SQLite's full-text index (0004) lives in FTS5's own tables beside them
        own = {t for t in await conn.run_sync(tables) if not t.startswith("delegations_search")}
        assert own == {"alembic_version", "definitions", "case_numbers"} | READ_MODEL | REFRESH_TOKENS


async def test_head_is_the_feed_starts_revision() -> None:
    assert HEAD == "0011"


async def test_upgrade_of_an_empty_database_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.init()
        await check_at_head(db)
        await db.init()  # at head already: nothing to do
        await check_at_head(db)
    finally:
        await db.close()


async def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.init()
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(migration_config(c), "base"))
        async with db.engine.connect() as conn:
            assert await conn.run_sync(tables) == {"alembic_version"}
            assert await conn.run_sync(revision) is None
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(migration_config(c), "base"))  # no-op
            await conn.run_sync(lambda c: command.upgrade(migration_config(c), "0001"))
        async with db.engine.connect() as conn:
            assert await conn.run_sync(tables) == {"alembic_version", "definitions", "case_numbers"}
        await db.init()
        await check_at_head(db)
    finally:
        await db.close()


# The tables as the releases before Alembic declared them (store/tables.py at 9ac6390), so
# this test keeps describing those old files whatever the models become.
OLD_METADATA = MetaData()
OLD_DEFINITIONS = Table(
    "definitions",
    OLD_METADATA,
    Column("id", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(500), nullable=False),
    Column("category", String(200), nullable=False),
    Column("body", JsonDict, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("deployed_at", UTCDateTime(), nullable=False),
    Column("deployed_by", String(200), nullable=False),
)
OLD_CASE_NUMBERS = Table(
    "case_numbers",
    OLD_METADATA,
    Column("number", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)


async def test_database_made_by_create_all_upgrades_keeping_its_rows(database_url: str) -> None:
    deployed_at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    old = Database(database_url)
    try:
        async with old.engine.begin() as conn:
            await conn.run_sync(OLD_METADATA.create_all)
            await conn.execute(
                insert(OLD_DEFINITIONS),
                [
                    {
                        "id": "claim",
                        "version": v,
                        "name": "Claim",
                        "category": "insurance",
                        "body": {"v": v},
                        "digest": f"{v:064d}",
                        "deployed_at": deployed_at,
                        "deployed_by": "admin",
                    }
                    for v in (1, 2)
                ],
            )
            await conn.execute(
                insert(OLD_CASE_NUMBERS),
                [{"case_id": f"old-{n}", "created_at": deployed_at} for n in range(3)],
            )
    finally:
        await old.close()

    db = Database(database_url)
    try:
        await db.init()
        await check_at_head(db)
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(OLD_DEFINITIONS.c.version, OLD_DEFINITIONS.c.body))).all()
        assert sorted(rows) == [(1, {"v": 1}), (2, {"v": 2})]
        old_row = await definitions.get(db, "claim", 1)
        assert old_row is not None and old_row.deployed_at == deployed_at
        # The store carries on from the old rows.
        assert await definitions.deploy(db, "claim", "Claim", "insurance", {"v": 3}, "admin") == (3, True)
        assert await case_numbers.lookup(db, "old-2") == 3
        assert await case_numbers.allocate(db, "new") == 4
    finally:
        await db.close()


# Each process sleeps until START_AT, then migrates: the processes race like a gateway and a
# worker started together.
INIT_SCRIPT = """
import asyncio, sys, time
from store.db import Database

async def main(url, start_at):
    db = Database(url)
    time.sleep(max(0.0, start_at - time.time()))
    try:
        await db.init()
    finally:
        await db.close()

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


async def init_in_processes(url: str, count: int) -> None:
    start_at = time.time() + 3  # after every interpreter has imported the store
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            INIT_SCRIPT,
            url,
            str(start_at),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(count)
    ]
    outputs = [(await p.communicate())[0].decode(errors="replace") for p in processes]
    failed = [out for p, out in zip(processes, outputs, strict=True) if p.returncode != 0]
    assert not failed, f"{len(failed)} of {count} concurrent init() failed; the first said:\n{failed[0]}"


async def test_concurrent_init_in_processes(database_url: str) -> None:
    # The gateway and the worker start together and both migrate: the lock makes one wait.
    await init_in_processes(database_url, 4)
    db = Database(database_url)
    try:
        await check_at_head(db)
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar() == 1
    finally:
        await db.close()


async def test_concurrent_init_in_one_process(database_url: str) -> None:
    dbs = [Database(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(db.init() for db in dbs))
        await check_at_head(dbs[0])
    finally:
        for db in dbs:
            await db.close()


async def test_sqlite_case_numbers_are_never_reused(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        await db.init()
        async with db.engine.connect() as conn:
            sql = (await conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'case_numbers'")).scalar()
            indexes = {
                row[0] for row in await conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
            }
        assert sql is not None and "AUTOINCREMENT" in sql
        assert "ix_delegations_search_trgm" not in indexes  # PostgreSQL only
        assert "ix_delegations_assignee" in indexes
    finally:
        await db.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_search_uses_a_trigram_index(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.init()
        async with db.engine.connect() as conn:
            indexdef = (
                await conn.execute(
                    text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_delegations_search_trgm'")
                )
            ).scalar()
            assert indexdef is not None and "USING gin" in indexdef and "gin_trgm_ops" in indexdef
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(
                row[0]
                for row in await conn.execute(
                    text("EXPLAIN SELECT case_id FROM delegations WHERE search_text LIKE '%' || :q || '%'"),
                    {"q": "trip"},
                )
            )
        assert "ix_delegations_search_trgm" in plan
    finally:
        await db.close()


def test_postgresql_sql_can_be_rendered_offline_for_a_dba() -> None:
    config = migration_config(url="postgresql://dba@db.example/casework")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm" in sql
    assert "gin_trgm_ops" in sql
    assert "CREATE TABLE delegations" in sql
    assert "UPDATE alembic_version SET version_num='0004'" in sql
