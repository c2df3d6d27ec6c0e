"""SQLite through aiosqlite with one trip to its thread per statement.

SQLAlchemy's aiosqlite adapter crosses to aiosqlite's thread four times per statement (open a
cursor, execute, fetch, close); here one job in that thread does all four. A `SELECT 1` costs
0.14 ms instead of 0.52 ms at p50, and every crossing is a thread wake-up whose delay shows in
the tail (docs/architecture.md, "SQLite in one trip"). Server-side cursors keep the stock path.

Everything private this leans on is here, written against SQLAlchemy 2.1.9 and aiosqlite 0.22.1.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

# What one statement leaves behind: description, rowcount, lastrowid and every row.
Outcome = tuple[Any, int, int | None, list[Any]]


def _stop_unanswered(connection: Any) -> None:  # an aiosqlite.Connection
    """Closes what is still open in aiosqlite's thread and ends the thread, asking no answer.

    aiosqlite 0.22.1's stop() asks for one on the current event loop, and a terminated
    connection's loop may close before the thread gets to it (a cancelled task's connection,
    as a test client or a command ends): answering a closed loop raises in that thread.
    """
    connection._running = False

    def close_and_end() -> object:
        if connection._connection is not None:
            connection._connection.close()
            connection._connection = None
        return aiosqlite.core._STOP_RUNNING_SENTINEL  # ends the thread's loop (0.22.1)

    connection._tx.put_nowait((None, close_and_end))


def _run(connection: sqlite3.Connection, operation: str, parameters: Any) -> Outcome:
    """In aiosqlite's thread: the whole statement, from opening a cursor to closing it."""
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _run_many(connection: sqlite3.Connection, operation: str, rows: Sequence[Any]) -> Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, rows)
        return None, cursor.rowcount, cursor.lastrowid, []
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A DBAPI cursor whose statements each run in one job on aiosqlite's thread.

    It holds no aiosqlite cursor (the base class opens one per cursor, a crossing of its own):
    what the statement left behind is kept here, and the rows are served from memory as the
    base class already does.
    """

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # Not the base __init__: it opens an aiosqlite cursor (SQLAlchemy 2.1.9).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # the base close() then closes nothing
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1  # the DBAPI default; fetchmany() reads it (SQLAlchemy 2.1.9)

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # nothing stays open in aiosqlite's thread between statements

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._one_trip(partial(_run, self._sqlite(), operation, parameters))

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._one_trip(partial(_run_many, self._sqlite(), operation, seq_of_parameters))

    def _sqlite(self) -> sqlite3.Connection:
        # aiosqlite's own connection; it raises "no active connection" once closed (0.22.1).
        connection: sqlite3.Connection = self._connection._conn
        return connection

    async def _one_trip(self, job: partial[Outcome]) -> None:
        # The adapter's mutex, as in the base class: one statement at a time per connection.
        async with self._adapt_connection._execute_mutex:
            # aiosqlite's queue to its thread; "Connection closed" once stopped (0.22.1).
            outcome: Outcome = await self._connection._execute(job)
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls: type[AsyncAdapt_aiosqlite_cursor] = (
        OneTripCursor  # server-side cursors keep the stock class (SQLAlchemy 2.1.9)
    )

    def rollback(self) -> None:
        # Outside a transaction sqlite3's rollback() does nothing, but only once in aiosqlite's
        # thread: a connection that only read goes back to the pool without that trip.
        connection = self._connection._connection
        if connection is not None and not connection.in_transaction:
            return
        super().rollback()

    async def _terminate_graceful_close(self) -> None:
        """Closes the connection in its thread, then stops the thread without waiting for it.

        SQLAlchemy 2.1.9 runs this shielded when a task is cancelled mid-statement, and stops
        the thread at once if the wait is cancelled; aiosqlite 0.22.1's close() ends by
        awaiting its own stop of that thread, which a stopped thread never answers, and the
        event loop then never finishes closing.
        """
        connection = self._connection
        if connection._connection is None:
            return
        try:
            await connection._execute(connection._connection.close)
        except ValueError:  # "Connection closed": the thread was stopped first
            pass
        finally:
            connection._connection = None
            _stop_unanswered(connection)  # not awaited: see above

    def _terminate_force_close(self) -> None:
        _stop_unanswered(self._connection)  # as the stock stop(), answering no event loop


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The adapted aiosqlite module SQLAlchemy connects through, handing out one-trip cursors."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)


def one_trip_module() -> OneTripDBAPI:
    """For `create_async_engine(url, module=...)` on a `sqlite+aiosqlite` URL."""
    return OneTripDBAPI(aiosqlite, sqlite3)
