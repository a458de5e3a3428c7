"""Many watches polled at once write through a few database connections, opened once.

Every poll of a running plan ends in a write. When all the polls in flight queued for SQLite's
write turn each holding a connection, the engine's pool overflowed and opened and closed
connections continually (a thread and a handful of PRAGMAs each, hundreds a minute with 200
plans). The watcher now lets ``write_concurrency`` polls write at once, and the engine keeps
a few connections open (``bot.db.pool_size``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db import pool_size
from bot.watcher.service import Watcher
from tests.watcher.test_snapshot_store import CONFIG, FakeRun

WATCHES = 24


@dataclass
class Connections:
    """The engine's connections: how many were opened, and the most checked out at once."""

    opened: int = 0
    out: int = 0
    most_out: int = 0

    def reset(self) -> None:
        self.opened = 0
        self.most_out = self.out


@pytest.fixture
def connections(db_engine: AsyncEngine) -> Iterator[Connections]:
    seen = Connections()
    pool = db_engine.sync_engine.pool

    def opened(*_: Any) -> None:
        seen.opened += 1

    def checked_out(*_: Any) -> None:
        seen.out += 1
        seen.most_out = max(seen.most_out, seen.out)

    def checked_in(*_: Any) -> None:
        seen.out -= 1

    listeners = (("connect", opened), ("checkout", checked_out), ("checkin", checked_in))
    for name, listener in listeners:
        event.listen(pool, name, listener)
    try:
        yield seen
    finally:
        for name, listener in listeners:
            event.remove(pool, name, listener)


async def test_polls_of_many_watches_write_through_a_few_connections_opened_once(
    clock: FakeClock,
    db_sessions: async_sessionmaker[AsyncSession],
    connections: Connections,
    migrated_database_url: str,
) -> None:
    config = replace(CONFIG, concurrency=32, write_concurrency=4)
    run = FakeRun()
    watcher = Watcher(session_factory=db_sessions, source=run, clock=clock, config=config, owner="w1")
    for n in range(WATCHES):
        await watcher.start_watch(f"plan-{n}", f"C{n:04d}", action="Failover")
    assert await watcher.poll_once() == WATCHES  # the first polls also read each stored snapshot

    for round_ in range(3):
        run.finish("v1", f"s{round_ + 1}")  # every plan moves: every poll writes
        clock.advance(5)
        connections.reset()
        assert await watcher.poll_once() == WATCHES
        assert watcher.stats.lost_leases == 0
        # The claim's connection is back before the polls start; then at most four write at once.
        assert connections.most_out <= config.write_concurrency
        assert connections.opened <= pool_size(migrated_database_url)  # none opened and thrown away per poll
    assert watcher.stats.events > 0
