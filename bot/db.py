"""Database foundations: the declarative base, URL handling, engine and session factories.

Nothing connects at import time: engines are built by :func:`create_engine` and passed in.
The application talks to the database asynchronously (``aiosqlite`` / ``psycopg``); Alembic
uses the synchronous URL from :func:`sync_url`.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, Table, TextClause, bindparam, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

from bot.db_driver import sqlite_dbapi

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite stores no offset and hands back naive values; this type stores UTC and always
    returns aware datetimes, so comparisons with ``Clock.now()`` never mix naive and aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs a timezone-aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _split(url: str) -> tuple[str, str]:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("DATABASE_URL must look like sqlite:///path.db or postgresql://user:pw@host/db")
    return scheme, rest


def async_url(url: str) -> str:
    """The SQLAlchemy URL for the application's async engine."""
    return _with_driver(url, sqlite="sqlite+aiosqlite")


def sync_url(url: str) -> str:
    """The SQLAlchemy URL for synchronous tools (Alembic)."""
    return _with_driver(url, sqlite="sqlite")


def _with_driver(url: str, *, sqlite: str) -> str:
    """``url`` with the driver we use: ``sqlite`` for SQLite, psycopg (3) for PostgreSQL."""
    scheme, rest = _split(url)
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        return f"{sqlite}://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    raise ValueError(f"unsupported database scheme {base!r}: use sqlite or postgresql")


def is_sqlite(url: str) -> bool:
    return _split(url)[0].startswith("sqlite")


POOL_SIZE = 10
"""Connections a PostgreSQL engine keeps open (and as many again for bursts).

The pool's own default (five) was below what the watcher's writes, the outbox sender and the
Slack handlers of a busy replica use at once, so connections were opened and closed continually.
"""
SQLITE_POOL_SIZE = 5
"""Connections a SQLite engine keeps open (and twice as many again for bursts). Writes take
turns there, and the watcher lets four polls write at once; each connection is a thread with
its own caches, about a megabyte of memory apiece (ten cost 12 MiB more than four under
``bench.watcher_scale``)."""


def pool_size(url: str) -> int:
    """How many connections the engine for ``url`` keeps open."""
    return SQLITE_POOL_SIZE if is_sqlite(url) else POOL_SIZE


def _in_memory(url: str) -> bool:
    """An in-memory SQLite database: SQLAlchemy gives it one shared connection, no sized pool."""
    parsed = make_url(async_url(url))
    return parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (a DATABASE_URL as users write it)."""
    sqlite = is_sqlite(url)
    if "poolclass" not in kwargs and not (sqlite and _in_memory(url)):
        size = pool_size(url)
        kwargs.setdefault("pool_size", size)
        kwargs.setdefault("max_overflow", 2 * size if sqlite else size)
    if sqlite:
        kwargs.setdefault("connect_args", {"timeout": 30})
        kwargs.setdefault("module", sqlite_dbapi())
        engine = create_async_engine(async_url(url), **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(async_url(url), **kwargs)


SQLITE_BUSY_SECONDS = 30
"""How long a SQLite writer waits for its turn (in the queue below, then SQLite's busy timeout)."""
_WRITE_TURN = "vro_bot_write_turn"
_QUEUES: weakref.WeakKeyDictionary[Any, WriterQueue] = weakref.WeakKeyDictionary()


_BEFORE_ACK: ContextVar[bool] = ContextVar("vro_bot_before_ack", default=False)


@contextmanager
def before_ack() -> Iterator[None]:
    """Writes made inside go first on SQLite: Slack is waiting for their ack.

    Recording a click or a command that creates a request must finish before Slack's ack (3 s,
    and our own budget is 50 ms); background work (polls, the outbox, sends) can wait a turn.
    The flag travels with the task's context, into SQLAlchemy's greenlets too.
    """
    token = _BEFORE_ACK.set(True)
    try:
        yield
    finally:
        _BEFORE_ACK.reset(token)


class _Turns:
    """One write turn at a time: writes before an ack first, then first come first served.

    A released turn passes straight to the next waiter, so nobody sleeps between turns.
    """

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._held

    def waiting(self) -> int:
        return sum(not waiter.done() for waiter in (*self._urgent, *self._normal))

    def try_acquire(self) -> bool:
        """Take the turn if nobody holds it (no waiting: no task, no timer)."""
        if self._held:
            return False
        self._held = True
        return True

    async def acquire(self, *, urgent: bool) -> None:
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the turn arrived just as this writer gave up: pass it on
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the turn passes on; it stays held
                    return
        self._held = False


class WriterQueue:
    """The writers of one SQLite engine, within this process: one at a time, in turn.

    SQLite lets one transaction write at a time. Left to SQLite, a waiting writer polls with
    its busy handler, sleeping 1, 2, 5 … up to 100 ms between tries: behind a burst of short
    background transactions, a write that must finish before Slack's ack (a click, a command
    that creates a request) waited 100-200 ms. Queued here instead, each writer starts the
    moment the one before it ends, and writes made under :func:`before_ack` go first. Other
    processes on the same file still meet the busy timeout, as before; a writer that waits
    here longer than that goes ahead anyway and lets SQLite's own lock decide, so a stuck
    transaction can never wedge the rest forever.
    """

    def __init__(self) -> None:
        self.turns_taken = 0
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = (
            weakref.WeakKeyDictionary()
        )

    def take(self, info: dict[Any, Any]) -> None:
        """Wait for this connection's turn (called from SQLAlchemy's ``begin`` hook)."""
        if info.get(_WRITE_TURN) is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a synchronous caller: SQLite's busy timeout alone, as before
        turns = self._turns.setdefault(loop, _Turns())
        if not turns.try_acquire():
            try:
                await_only(asyncio.wait_for(turns.acquire(urgent=_BEFORE_ACK.get()), SQLITE_BUSY_SECONDS))
            except TimeoutError:
                return
        info[_WRITE_TURN] = turns
        self.turns_taken += 1

    def busy(self) -> bool:
        """Whether some transaction of this process holds the turn now."""
        return any(turns.locked() for turns in self._turns.values())

    def waiting(self) -> int:
        """How many transactions of this process wait for their turn now."""
        return sum(turns.waiting() for turns in self._turns.values())

    @staticmethod
    def give_back(info: dict[Any, Any]) -> None:
        """The transaction ended (commit, rollback, or the connection went away)."""
        turns = info.pop(_WRITE_TURN, None)
        if turns is not None:
            turns.release()


def _tune_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, ``BEGIN IMMEDIATE`` for every write, and one queue of writers.

    With the driver's deferred ``BEGIN`` two transactions can both read and then both try to
    write; SQLite fails one of them at once with "database is locked" (the busy timeout does
    not cover that lock upgrade). Taking the write lock at ``BEGIN`` makes writers queue instead.
    Transactions therefore run one at a time, which suits the bot's short transactions;
    PostgreSQL is the choice for heavier use. Within the process they queue in
    :class:`WriterQueue` rather than in SQLite's polling busy handler, so a write never
    sleeps longer than the transactions ahead of it take.
    """
    writers = _QUEUES[engine.sync_engine] = WriterQueue()

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Stop the driver from issuing its own BEGIN; the "begin" hook below does it.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            return  # a read (see reading()): each statement reads a consistent WAL snapshot, no lock
        writers.take(conn.info)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.give_back(conn.info)
            raise

    def _ended(conn: Any) -> None:
        try:
            info = conn.info
        except exc.PendingRollbackError:
            # The connection was invalidated mid-transaction (a task cancelled inside a statement):
            # the pool's "invalidate" event below has given its turn back already, and raising
            # here would turn the rollback that cleans up into an error.
            return
        writers.give_back(info)

    def _returned(_dbapi_conn: Any, record: Any) -> None:
        writers.give_back(record.info)

    def _invalidated(_dbapi_conn: Any, record: Any, _exception: BaseException | None) -> None:
        writers.give_back(record.info)

    # "commit" and "rollback" fire as the transaction ends; the pool events catch a connection
    # returned, closed or invalidated mid-transaction (a cancelled task), so a turn is never kept.
    event.listen(engine.sync_engine, "commit", _ended)
    event.listen(engine.sync_engine, "rollback", _ended)
    event.listen(engine.sync_engine.pool, "checkin", _returned)
    event.listen(engine.sync_engine.pool, "close", _returned)
    event.listen(engine.sync_engine.pool, "invalidate", _invalidated)
    event.listen(engine.sync_engine.pool, "soft_invalidate", _invalidated)


def sqlite_writers(engine: AsyncEngine) -> WriterQueue | None:
    """The writer queue of a SQLite engine (``None`` for PostgreSQL): for tests and metrics."""
    return _QUEUES.get(engine.sync_engine)


READ_ONLY_OPTION = "vro_read_only"


@asynccontextmanager
async def reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that only reads (polls, schedulers): on SQLite it takes no write lock.

    Every other transaction on SQLite starts with ``BEGIN IMMEDIATE`` (writers queue instead
    of failing); a read needs none of that, so it neither waits behind writers nor makes them
    wait, and costs no BEGIN round trip. On PostgreSQL it is an ordinary session.
    """
    async with sessions() as session:
        await session.connection(execution_options={READ_ONLY_OPTION: True})
        yield session


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def serialize_on(session: AsyncSession, key: str) -> None:
    """Hold ``key`` until ``session``'s transaction ends: transactions naming the same key run
    one after the other (a check-then-insert in one of them is then race-free).

    PostgreSQL: a transaction-scoped advisory lock on the key's hash. SQLite needs none: every
    writing transaction there begins ``IMMEDIATE``, one at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


@functools.cache
def insert_on_conflict(
    table: Table, columns: tuple[str, ...], conflict: tuple[str, ...], update: tuple[str, ...] = ()
) -> TextClause:
    """``INSERT ... ON CONFLICT (conflict) DO NOTHING`` (or ``DO UPDATE SET`` the ``update``
    columns), parameters named after ``columns`` and typed as the table's columns.

    SQLAlchemy's own ``insert().on_conflict_do_*()`` constructs have no cache key, so they are
    compiled anew on every execution: a tenth of a millisecond per outbox row and per snapshot
    write. This text says the same in words SQLite (3.24 and newer) and PostgreSQL both speak,
    and SQLAlchemy compiles it once.
    """

    def quoted(name: str) -> str:
        return '"' + table.c[name].name.replace('"', '""') + '"'  # a column of the table, or KeyError

    action = (
        "DO UPDATE SET " + ", ".join(f"{quoted(c)} = excluded.{quoted(c)}" for c in update)
        if update
        else "DO NOTHING"
    )
    # Only the table's own column names reach the text (quoted() looks each one up).
    sql = (
        f'INSERT INTO "{table.name}" ({", ".join(quoted(c) for c in columns)}) '  # noqa: S608
        f"VALUES ({', '.join(':' + c for c in columns)}) "
        f"ON CONFLICT ({', '.join(quoted(c) for c in conflict)}) {action}"
    )
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
