"""The store's database: one async SQLAlchemy engine per process.

SQLite (aiosqlite, WAL) by default; a `postgresql+asyncpg://` URL works the same way (the
asyncpg driver must then be installed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from store.tables import Base

DEFAULT_URL = "sqlite+aiosqlite:///data/casework.db"

# How long a SQLite writer waits for the write lock before failing with "database is
# locked". Writers are short (one projection or one deploy), so a queue of them clears
# well within this.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (lists) run while a writer (projection) commits; the busy timeout
    # makes concurrent writers queue instead of failing; NORMAL sync is safe under WAL.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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
            if self._sqlite_path() is None:
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

    def _sqlite_path(self) -> Path | None:
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)

    async def init(self) -> None:
        """Create what is missing: the SQLite file's folder and the tables."""
        if self.is_sqlite and (path := self._sqlite_path()) is not None:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        # create_all for now; Alembic migrations come with the read model, and will take
        # over from this call (it only creates, it never alters).
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits. Anything not committed is rolled back on exit."""
        async with self._sessions() as session:
            yield session

    async def close(self) -> None:
        await self.engine.dispose()
