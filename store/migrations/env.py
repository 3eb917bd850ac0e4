"""Alembic's environment for the store, configured from code (store.db.migration_config).

`Database.init()` runs the upgrade on its own connection, passed in
`config.attributes["connection"]`, inside a transaction it has already opened (and locked);
the migrations join that transaction and the caller commits. Offline mode (`sql=True` with
`sqlalchemy.url` set) prints the SQL instead, e.g. for a DBA to review or run.
"""

from __future__ import annotations

from alembic import context

from store.db import include_object
from store.tables import Base

config = context.config


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        include_object=include_object,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "store/migrations run on a connection passed by store.db (Database.init() upgrades "
            "at start); to render SQL instead, use migration_config(url=...) with sql=True"
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        # SQLite alters most things by copying the table; autogenerate should write that.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
