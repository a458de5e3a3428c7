"""Fixtures shared by every test package. Area fixtures live in tests/<area>/conftest.py.

Database fixtures run every test that uses them twice: on a fresh SQLite file and on a fresh
PostgreSQL database (created per test on the server named by ``TEST_POSTGRES_URL``, dropped
afterwards). Without ``TEST_POSTGRES_URL`` the PostgreSQL runs are skipped with that reason.

- ``database_url``: an empty database (as a DATABASE_URL), both backends.
- ``postgres_database_url``: an empty PostgreSQL database only (skips without the server).
- ``migrated_database_url``: ``database_url`` after ``bot.migrate.upgrade`` (schema at head).
- ``db_engine`` / ``db_sessions``: an async engine and session factory on the migrated database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db import create_engine, session_factory
from bot.migrate import upgrade

POSTGRES_ENV = "TEST_POSTGRES_URL"
POSTGRES_SKIP_REASON = f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped"


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says so."""
    return FakeClock()


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test alone (dropped afterwards)."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(POSTGRES_SKIP_REASON)
    name = f"vro_test_{secrets.token_hex(6)}"
    admin = make_url(server).set(drivername="postgresql")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # name is generated here, never user input
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database as a DATABASE_URL: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vro-bot.db'}"
    url: str = request.getfixturevalue("postgres_database_url")
    return url


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    """``database_url`` with every migration applied."""
    upgrade(database_url)
    return database_url


@pytest.fixture
async def db_engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An async engine on the migrated database (disposed after the test)."""
    engine = create_engine(migrated_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def db_sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory the application would use, on the migrated database."""
    return session_factory(db_engine)
