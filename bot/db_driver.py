"""SQLAlchemy's aiosqlite adapter, each statement one trip to SQLite's thread instead of four.

aiosqlite runs every call on its connection's own thread: the event loop hands the call over,
the thread runs it and hands the result back. A trip costs about 60 µs of CPU (thread wake-ups,
the GIL changing hands, the loop's wake-up pipe), against 1 µs for the statement itself. Stock
SQLAlchemy makes four trips per statement: open a cursor, execute, fetch the rows, close the
cursor. Here the whole statement is one function run on the thread, one trip; and a rollback
with no transaction open (SQLAlchemy issues one whenever a connection goes back to its pool,
after a commit, and after a read, which opens none) costs no trip at all. A read is now one
trip instead of five, a one-statement write three instead of seven.

Everything else (transactions, errors, server-side cursors, terminate) is SQLAlchemy's own.
Should a future aiosqlite no longer queue calls the way this relies on (``Connection._execute``),
:func:`sqlite_dbapi` returns the stock adapter: only the saving is lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

_Outcome = tuple[Any, list[Any] | None, int, int]
"""What one statement gives back: description, rows (when it returns rows), lastrowid, rowcount."""


def _execute(connection: aiosqlite.Connection, operation: str, parameters: Any) -> _Outcome:
    """Run on the connection's thread: one statement, from opening its cursor to closing it."""
    cursor = connection._conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        if cursor.description:
            return cursor.description, cursor.fetchall(), -1, -1
        return None, None, cursor.lastrowid or 0, cursor.rowcount
    finally:
        cursor.close()


def _executemany(connection: aiosqlite.Connection, operation: str, parameters: Any) -> _Outcome:
    cursor = connection._conn.cursor()
    try:
        cursor.executemany(operation, parameters)
        return None, None, cursor.lastrowid or 0, cursor.rowcount
    finally:
        cursor.close()


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's buffered aiosqlite cursor, each statement one trip to the thread."""

    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._run(_execute, operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._run(_executemany, operation, seq_of_parameters)

    def _run(
        self, statement: Callable[[aiosqlite.Connection, str, Any], _Outcome], operation: str, parameters: Any
    ) -> None:
        """``statement`` on the connection's thread, in one trip; its outcome kept as the cursor's."""
        try:
            outcome = self.await_(
                self._connection._execute(statement, self._connection, operation, parameters)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)  # raises SQLAlchemy's error for it
        self._take(outcome)

    def _take(self, outcome: _Outcome) -> None:
        description, rows, lastrowid, rowcount = outcome
        self.description = description
        self.lastrowid = lastrowid
        self.rowcount = rowcount
        self._rows.clear()
        if rows:
            self._rows.extend(rows)


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return super().cursor(server_side=True) if server_side else _Cursor(self)

    def rollback(self) -> None:
        # SQLAlchemy rolls back whenever a connection is closed or returned to the pool, after a
        # commit and after a read (which, without BEGIN, never opened a transaction) too: that
        # was two of a read's three trips and one of a write's four. Nothing open, nothing to do.
        try:
            idle = not self._connection._conn.in_transaction
        except ValueError:  # closed: let the stock path raise what it raises
            idle = False
        if not idle:
            super().rollback()


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI module; its connections' cursors are :class:`_Cursor`."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        if type(adapted) is AsyncAdapt_aiosqlite_connection:
            return _Connection(self, adapted._connection)
        return adapted  # pragma: no cover - the async_fallback mode, kept stock


def sqlite_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module for ``create_async_engine(..., module=...)`` on a SQLite URL."""
    if not callable(getattr(aiosqlite.Connection, "_execute", None)):  # pragma: no cover - a new aiosqlite
        return AsyncAdapt_aiosqlite_dbapi(aiosqlite, sqlite3)
    return _Dbapi(aiosqlite, sqlite3)
