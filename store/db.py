"""The store's database: one async SQLAlchemy engine per process.

SQLite (aiosqlite, WAL) by default; a `postgresql+asyncpg://` URL works the same way.
The schema is Alembic's (store/migrations): `Database.init()` upgrades to the newest revision
at every start, so the gateway and the worker never run against an older schema.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

DEFAULT_URL = "sqlite+aiosqlite:///data/casework.db"

# How long a SQLite writer waits for the write lock before failing with "database is
# locked". Writers are short (one projection or one deploy), so a queue of them clears
# well within this.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# How often a connection tries to switch the file to WAL while another holds it (50 ms apart).
WAL_SWITCH_TRIES = 200

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# The revision that creates the tables of the releases before Alembic (definitions,
# case_numbers); databases those releases made with `create_all` are stamped with it.
BASELINE_REVISION = "0001"

# Key of the PostgreSQL advisory lock held while migrating ("casework" as a 64-bit integer).
MIGRATION_LOCK_KEY = int.from_bytes(b"casework", "big")

# Indexes the migrations create that the models cannot express (a GIN trigram index exists
# only on PostgreSQL). Autogenerate and the schema test leave them out of the comparison
# with store.tables, which would otherwise report them as extra.
DATABASE_ONLY_INDEXES = frozenset({"ix_delegations_search_trgm"})
# SQLite's full-text index of delegations (migration 0004): FTS5 keeps it in tables of its own.
SEARCH_TABLE = "delegations_search"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's autogenerate filter: everything except what only the database declares
    (DATABASE_ONLY_INDEXES, SQLite's full-text tables)."""
    if type_ == "table" and name is not None and name.startswith(SEARCH_TABLE):
        return False
    return not (type_ == "index" and name in DATABASE_ONLY_INDEXES)


@functools.cache
def newest_revision() -> str | None:
    """The head of store/migrations (read from its files once per process: `/ready` asks
    for it every few seconds)."""
    return ScriptDirectory.from_config(migration_config()).get_current_head()


def migration_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """An Alembic Config for store/migrations, without an alembic.ini.

    Pass the (sync) `connection` to migrate on, or a `url` to render SQL offline, e.g. for a
    DBA: `alembic.command.upgrade(migration_config(url="postgresql://..."), "head", sql=True)`.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


# Alembic keeps the running migration in module globals (`alembic.context`, `alembic.op`), so
# two upgrades must not interleave in one process, as two init() calls on one event loop
# otherwise would (each runs Alembic in a greenlet that yields to the loop at every query).
# Between processes the database's own lock serialises them (Database._lock_for_migrations).
_upgrade_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _upgrade_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _upgrade_locks.get(loop)
    if lock is None:
        lock = _upgrade_locks[loop] = asyncio.Lock()
    return lock


def _upgrade(connection: Connection) -> None:
    config = migration_config(connection)
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables and "definitions" in tables:
        # A database from before Alembic: `create_all` made `definitions` and `case_numbers`
        # together, exactly as revision 0001 does, so record that 0001 is applied and let
        # the upgrade continue from there. Stamping here, rather than writing 0001 as
        # "create if missing", keeps every revision a plain, reviewable migration that
        # downgrades cleanly, and puts the one special case of old files in one place.
        command.stamp(config, BASELINE_REVISION)
    command.upgrade(config, "head")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (lists) run while a writer (projection) commits; the busy timeout
    # makes concurrent writers queue instead of failing; NORMAL sync is safe under WAL.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Switching a new file to WAL can be refused at once ("database is locked", without
        # waiting on the busy timeout) while another process holds its lock, as when several
        # start together and one is migrating: try again for a while.
        for attempt in range(WAL_SWITCH_TRIES):
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                break
            except Exception as exc:
                if "locked" not in str(exc) or attempt == WAL_SWITCH_TRIES - 1:
                    raise
                time.sleep(0.05)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


class Database:
    """An engine and a session factory for one database URL."""

    def __init__(self, url: str = DEFAULT_URL, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            if self.sqlite_path() is None:
                # An in-memory database lives in one connection; share it or each
                # session would see an empty database.
                kwargs["poolclass"] = StaticPool
        else:
            # Connections to a server can be dropped behind our back (failover, idle
            # timeouts); test them before use.
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
        # expire_on_commit=False: rows stay readable after commit, so queries can turn
        # them into plain records outside the session.
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def sqlite_path(self) -> Path | None:
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)

    async def init(self) -> None:
        """Create the SQLite file's folder if missing, then migrate the schema to the newest
        revision (a new database gets every table; an old one gets what it lacks).

        Safe to run concurrently, e.g. by the gateway and the worker starting together: the
        whole upgrade runs in one transaction that first takes a database lock, so a second
        caller waits, then finds the schema current and does nothing.
        """
        if self.is_sqlite and (path := self.sqlite_path()) is not None:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        async with _upgrade_lock(), self.engine.connect() as conn:
            await self._lock_for_migrations(conn)
            # Alembic joins the transaction already open on the connection and leaves the
            # commit to us: the upgrade and its version row commit (or vanish) together.
            await conn.run_sync(_upgrade)
            await conn.commit()

    async def _lock_for_migrations(self, conn: AsyncConnection) -> None:
        if self.is_sqlite:
            # Take SQLite's write lock up front. The sqlite3 driver opens no transaction
            # before DDL, so without this two starters could both find no tables and both
            # create them; with it the second waits (busy timeout) for the first to commit.
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif self.url.get_backend_name() == "postgresql":
            # Released by the commit (or rollback) that ends the upgrade's transaction, so
            # it cannot outlive a failed start. DDL is transactional on PostgreSQL, so the
            # waiter then sees the committed schema and alembic_version.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})

    async def migration_state(self) -> tuple[str | None, str | None]:
        """(the revision the database is at, the newest revision this code knows); the first
        is None for a database that was never migrated."""
        head = newest_revision()
        async with self.engine.connect() as conn:
            exists = await conn.run_sync(lambda c: "alembic_version" in inspect(c).get_table_names())
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() if exists else None
        return current, head

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits. Anything not committed is rolled back on exit."""
        async with self._sessions() as session:
            yield session

    async def close(self) -> None:
        await self.engine.dispose()
