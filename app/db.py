"""Async engine, session factory and the declarative Base shared by every table."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from app.sqlite_driver import one_trip_module

# Stable constraint names so Alembic can alter and drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored moment, aware: SQLite hands back naive datetimes, which were stored in UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SQLITE_BUSY_TIMEOUT_MS = 5000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _savepoint_inside_a_transaction(connection: Any, _name: Any) -> None:
    # pysqlite opens no transaction before SAVEPOINT, so releasing it would commit on its own
    # (before the audit entry, say). A savepoint means writes: take the write lock now.
    if not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _private_file(path: Path) -> None:
    """Creates the database file (and its folder) readable by this user only, when missing.

    SQLite would create it with the umask's permissions, usually world-readable; its -wal and
    -shm files take the database file's. An existing file keeps the permissions it was given.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_file(Path(database))
        if make_url(url).get_driver_name() == "aiosqlite":
            kwargs.setdefault("module", one_trip_module())
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "savepoint", _savepoint_inside_a_transaction)
        return engine
    engine = create_async_engine(url, **kwargs)
    ping_after_idling(engine)
    if engine.dialect.driver == "asyncpg":
        event.listen(engine.sync_engine, "before_cursor_execute", _begin_only_when_needed)
    return engine


# A connection back in the pool for longer than this is asked whether it still answers before it
# is lent again: one that served a request a moment ago is not. SQLAlchemy's `pool_pre_ping`
# asks every time, and asyncpg's ping is three round trips (BEGIN, `;`, ROLLBACK) on each request.
PING_AFTER_IDLE_S = 1.0


def ping_after_idling(engine: AsyncEngine) -> None:
    """Checks a pooled connection idle for PING_AFTER_IDLE_S before lending it; a dead one
    (the server restarted) throws the pool's connections away and a new one is opened, so the
    request never sees it."""
    dialect = engine.dialect

    def note_return(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:  # as pool_pre_ping tells a dead connection
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError(str(error)) from error
            raise

    event.listen(engine.sync_engine, "checkin", note_return)
    event.listen(engine.sync_engine, "checkout", ping_if_idle)


# An execution option: the connection's plain reads run without a transaction until a statement
# needs one (docs/architecture.md, "PostgreSQL reads without BEGIN").
READS_OUTSIDE_TRANSACTION = "reads_outside_transaction"


def reads_outside_transaction(engine: AsyncEngine) -> AsyncEngine:
    """The engine, for sessions whose reads need no transaction: a page answering a GET.

    Under PostgreSQL's READ COMMITTED each statement takes its own snapshot, inside a
    transaction or not, so a SELECT sees the same rows without one, and is spared the BEGIN and
    the COMMIT or ROLLBACK around it (two of the page's three round trips through asyncpg). The
    first statement that is not a plain SELECT (a write, FOR UPDATE, raw SQL) opens the
    transaction as usual, and everything after it runs inside. SQLite opens none for reads."""
    return engine.execution_options(**{READS_OUTSIDE_TRANSACTION: True})


def _begin_only_when_needed(
    connection: Any, _cursor: Any, _statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    # asyncpg's adapter sends BEGIN before a statement when no transaction is open, unless its
    # `autocommit` is set; inside an open transaction every statement runs there either way.
    compiled = context.compiled
    connection.connection.dbapi_connection.autocommit = bool(
        context.execution_options.get(READS_OUTSIDE_TRANSACTION)
        and compiled is not None
        and compiled.statement.is_select
        and getattr(compiled.statement, "_for_update_arg", None) is None
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
