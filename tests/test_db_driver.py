"""The database plumbing the hot paths rely on: SQLite statements in one trip, upserts compiled once.

``bot.db_driver`` runs each SQLite statement as one call on aiosqlite's thread (SQLAlchemy's own
adapter makes four); it must still behave as a DBAPI cursor in every way SQLAlchemy uses one.
``bot.db.insert_on_conflict`` replaces SQLAlchemy's uncacheable ``on_conflict_do_*`` constructs
with a text SQLAlchemy compiles once, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.db import create_engine, insert_on_conflict, reading, session_factory
from bot.outbox.tables import OutboxMessage

METADATA = MetaData()
PAIRS = Table(
    "pairs",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("key", String(20), nullable=False, unique=True),
    Column("value", Integer, nullable=False),
)


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def any_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A fresh ``pairs`` table on SQLite and on PostgreSQL."""
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.drop_all)
        await conn.run_sync(METADATA.create_all)
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(METADATA.drop_all)
        await engine.dispose()


class Trips:
    """Counts the calls a connection hands to aiosqlite's thread."""

    def __init__(self) -> None:
        self.count = 0

    def watch(self, driver_connection: Any) -> None:
        queue_call = driver_connection._execute

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await queue_call(fn, *args, **kwargs)

        driver_connection._execute = counted


async def trips_of(conn: AsyncConnection) -> Trips:
    trips = Trips()
    raw = await conn.get_raw_connection()
    trips.watch(raw.driver_connection)
    return trips


# --- one trip per statement ------------------------------------------------------------------


async def test_a_sqlite_statement_is_one_trip_to_the_driver_thread(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.connect() as conn:
        await conn.begin()  # BEGIN IMMEDIATE: a trip of its own
        trips = await trips_of(conn)
        assert (await conn.execute(text("SELECT 41 + 1"))).scalar_one() == 42
        assert trips.count == 1  # SQLAlchemy's stock adapter: cursor, execute, fetch, close = 4
        await conn.execute(PAIRS.insert().values(key="a", value=1))
        assert trips.count == 2


async def test_a_read_is_one_trip_and_a_write_three(sqlite_engine: AsyncEngine) -> None:
    sessions = session_factory(sqlite_engine)
    async with sqlite_engine.connect() as conn:  # open the pooled connection once, to count on it
        trips = await trips_of(conn)
    async with reading(sessions) as session:
        await session.execute(select(PAIRS.c.key))
    assert trips.count == 1  # the SELECT; closing the session and the pool's reset roll back nothing
    async with sessions() as session, session.begin():
        await session.execute(PAIRS.insert().values(key="a", value=1))
    assert trips.count == 1 + 3  # BEGIN IMMEDIATE, the INSERT, COMMIT
    async with sessions() as session, session.begin():
        await session.execute(PAIRS.insert().values(key="b", value=2))
        await session.rollback()
    assert trips.count == 4 + 3  # BEGIN IMMEDIATE, the INSERT, ROLLBACK: an open transaction is rolled back
    async with reading(sessions) as session:
        assert (await session.execute(select(PAIRS.c.key))).scalars().all() == ["a"]


async def test_rows_rowcounts_and_ids_come_back_as_from_any_dbapi_cursor(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.begin() as conn:
        first = await conn.execute(PAIRS.insert().values(key="a", value=1))
        second = await conn.execute(PAIRS.insert().values(key="b", value=2))
        first_id, second_id = first.inserted_primary_key, second.inserted_primary_key
        assert first_id is not None
        assert second_id is not None
        assert second_id[0] == first_id[0] + 1
        many = await conn.execute(PAIRS.insert(), [{"key": f"k{i}", "value": i} for i in range(5)])
        assert many.rowcount == 5
        updated = await conn.execute(PAIRS.update().where(PAIRS.c.value >= 2).values(value=0))
        assert updated.rowcount == 4  # b, k2, k3, k4
        rows = (await conn.execute(select(PAIRS.c.key).order_by(PAIRS.c.key))).scalars().all()
        assert rows == ["a", "b", "k0", "k1", "k2", "k3", "k4"]
        returned = await conn.execute(
            PAIRS.update().where(PAIRS.c.key == "a").values(value=9).returning(PAIRS.c.key, PAIRS.c.value)
        )
        assert [tuple(row) for row in returned.all()] == [("a", 9)]
        assert (await conn.execute(select(PAIRS).where(PAIRS.c.key == "none"))).first() is None


async def test_a_failed_statement_raises_sqlalchemys_error_and_the_connection_goes_on(
    sqlite_engine: AsyncEngine,
) -> None:
    async with sqlite_engine.connect() as conn:
        await conn.execute(PAIRS.insert().values(key="a", value=1))
        await conn.commit()
        with pytest.raises(IntegrityError):
            await conn.execute(PAIRS.insert().values(key="a", value=2))
        await conn.rollback()
        assert (await conn.execute(select(PAIRS.c.value))).scalars().all() == [1]


async def test_streaming_results_still_work(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.execute(PAIRS.insert(), [{"key": f"k{i}", "value": i} for i in range(10)])
        stream = await conn.stream(select(PAIRS.c.value).order_by(PAIRS.c.value))
        assert [row async for row in stream.scalars()] == list(range(10))


# --- INSERT ... ON CONFLICT, compiled once ----------------------------------------------------


@pytest.fixture
def cache_hits(any_engine: AsyncEngine) -> Iterator[list[str]]:
    """How SQLAlchemy found each INSERT's compiled form: CACHE_HIT, CACHE_MISS, NO_CACHE_KEY..."""
    seen: list[str] = []

    def after(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: DefaultExecutionContext,
        executemany: bool,
    ) -> None:
        if statement.startswith("INSERT"):
            seen.append(context.cache_hit.name)

    event.listen(any_engine.sync_engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(any_engine.sync_engine, "after_cursor_execute", after)


async def test_insert_on_conflict_do_nothing_inserts_once_and_is_compiled_once(
    any_engine: AsyncEngine, cache_hits: list[str]
) -> None:
    statement = insert_on_conflict(PAIRS, ("key", "value"), ("key",))
    async with any_engine.begin() as conn:
        assert (await conn.execute(statement, {"key": "a", "value": 1})).rowcount == 1
        assert (await conn.execute(statement, {"key": "a", "value": 2})).rowcount == 0
        assert (await conn.execute(statement, {"key": "b", "value": 3})).rowcount == 1
        rows = (await conn.execute(select(PAIRS.c.key, PAIRS.c.value).order_by(PAIRS.c.key))).all()
    assert [tuple(row) for row in rows] == [("a", 1), ("b", 3)]
    assert cache_hits == ["CACHE_MISS", "CACHE_HIT", "CACHE_HIT"]  # on_conflict_do_nothing(): NO_CACHE_KEY


async def test_insert_on_conflict_do_update_sets_only_the_named_columns(any_engine: AsyncEngine) -> None:
    statement = insert_on_conflict(PAIRS, ("id", "key", "value"), ("key",), ("value",))
    async with any_engine.begin() as conn:
        await conn.execute(statement, [{"id": 1, "key": "a", "value": 1}, {"id": 2, "key": "b", "value": 2}])
        await conn.execute(statement, [{"id": 7, "key": "a", "value": 10}])
        rows = (await conn.execute(select(PAIRS).order_by(PAIRS.c.id))).all()
    assert [tuple(row) for row in rows] == [(1, "a", 10), (2, "b", 2)]  # the id stayed: only value is set


def test_insert_on_conflict_takes_only_the_tables_own_columns() -> None:
    with pytest.raises(KeyError):
        insert_on_conflict(PAIRS, ("key", 'value") VALUES (1, 2); --'), ("key",))


def test_the_same_insert_is_built_once() -> None:
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    assert insert_on_conflict(table, ("key",), ("key",)) is insert_on_conflict(table, ("key",), ("key",))
