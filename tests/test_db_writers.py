"""SQLite writers of one process queue for their turn instead of polling SQLite's lock.

A write that must finish before Slack's ack (a click, a command that creates a request) used to
sleep in SQLite's busy handler behind bursts of background transactions; queued, it starts the
moment the transaction ahead of it ends. These tests pin the queue's contract: writers take
turns, reads never queue, and a transaction that ends in any way (commit, rollback, a cancelled
task) gives its turn back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import WriterQueue, before_ack, create_engine, reading, session_factory, sqlite_writers


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
    try:
        yield engine
    finally:
        await engine.dispose()


async def until_waiting(engine: AsyncEngine, count: int) -> None:
    """Yield to the loop until ``count`` writers wait for their turn (no clock involved)."""
    for _ in range(100_000):
        if queue_of(engine).waiting() >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{queue_of(engine).waiting()} writers waiting, expected {count}")


def queue_of(engine: AsyncEngine) -> WriterQueue:
    writers = sqlite_writers(engine)
    assert writers is not None
    return writers


async def test_a_second_writer_waits_for_its_turn_and_starts_when_the_first_commits(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    order: list[str] = []

    async def second() -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))
            order.append("second wrote")

    async with sessions.begin() as session:
        await session.execute(text("INSERT INTO t VALUES (1)"))
        waiting = asyncio.create_task(second())
        await until_waiting(engine, 1)
        assert order == []
        assert queue_of(engine).busy()
        order.append("first committing")
    await waiting
    assert order == ["first committing", "second wrote"]
    assert not queue_of(engine).busy()


async def test_reads_never_queue_behind_a_writer(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as writer:
        await writer.execute(text("INSERT INTO t VALUES (1)"))
        async with reading(sessions) as reader:
            assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_a_rolled_back_transaction_gives_its_turn_back(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)

    async def fails() -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fails()
    assert not queue_of(engine).busy()


async def test_a_task_cancelled_mid_transaction_gives_its_turn_back(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    holding = asyncio.Event()

    async def stuck() -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            await asyncio.Event().wait()  # never ends on its own

    task = asyncio.create_task(stuck())
    await holding.wait()
    assert queue_of(engine).busy()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not queue_of(engine).busy()
    taken = queue_of(engine).turns_taken
    async with sessions.begin() as session:
        await session.execute(text("INSERT INTO t VALUES (2)"))
    assert queue_of(engine).turns_taken == taken + 1
    async with reading(sessions) as reader:
        assert (await reader.execute(text("SELECT n FROM t"))).scalars().all() == [2]


async def test_rolling_back_a_connection_invalidated_mid_transaction_is_quiet_and_gives_its_turn_back(
    engine: AsyncEngine,
) -> None:
    """A task cancelled inside a statement leaves its connection invalidated; the rollback that
    cleans up must not fail (it used to raise PendingRollbackError from the queue's hook)."""
    async with engine.connect() as conn:
        await conn.begin()
        await conn.execute(text("INSERT INTO t VALUES (1)"))
        assert queue_of(engine).busy()
        await conn.invalidate()
        await conn.rollback()
    assert not queue_of(engine).busy()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (2)"))


async def test_many_concurrent_writers_all_commit_once(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)

    async def write(n: int) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

    await asyncio.gather(*(write(n) for n in range(40)))
    async with reading(sessions) as reader:
        assert sorted((await reader.execute(text("SELECT n FROM t"))).scalars().all()) == list(range(40))
    assert not queue_of(engine).busy()


def test_postgresql_engines_have_no_writer_queue() -> None:
    engine = create_engine("postgresql://postgres@127.0.0.1:5432/none")
    assert sqlite_writers(engine) is None


async def test_a_write_before_an_ack_goes_ahead_of_queued_background_writes(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    order: list[str] = []

    async def write(name: str) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            order.append(name)

    async def write_before_ack() -> None:
        with before_ack():
            await write("click")

    async with sessions.begin() as session:
        await session.execute(text("INSERT INTO t VALUES (0)"))
        background = []
        for n in range(3):  # queued in this order, one after the other
            background.append(asyncio.create_task(write(f"poll {n}")))
            await until_waiting(engine, n + 1)
        click = asyncio.create_task(write_before_ack())
        await until_waiting(engine, 4)
        assert order == []
    await asyncio.gather(click, *background)
    assert order == ["click", "poll 0", "poll 1", "poll 2"]
