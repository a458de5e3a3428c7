"""Alembic environment: runs migrations on SQLite and PostgreSQL, synchronously.

The database comes from (first match): a connection handed over by ``bot.migrate``
(``config.attributes["connection"]``), a URL it handed over (``config.attributes["database_url"]``),
or ``DATABASE_URL`` through :func:`bot.config.load_settings` when ``alembic`` is run by hand.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from bot.db import sync_url
from bot.schema import metadata

config = context.config


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if isinstance(url, str):
        return url
    from bot.config import load_settings

    return load_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=sync_url(_database_url()),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    engine = create_engine(sync_url(_database_url()), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
