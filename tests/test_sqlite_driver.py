"""SQLite in one trip to aiosqlite's thread per statement (app/sqlite_driver.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from queue import SimpleQueue
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db import create_engine
from app.sqlite_driver import OneTripConnection, OneTripCursor, one_trip_module


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "CREATE TABLE thing (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"
        )
    yield engine
    await engine.dispose()


class CountingQueue:
    """Stands in for aiosqlite's queue to its thread: counts the jobs, passes them on."""

    def __init__(self, queue: SimpleQueue[Any]) -> None:
        self.queue = queue
        self.jobs = 0

    def put_nowait(self, item: Any) -> None:
        self.jobs += 1
        self.queue.put_nowait(item)


async def trips(connection: AsyncConnection) -> CountingQueue:
    """From now on, count the jobs this connection sends to aiosqlite's thread."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    counting = CountingQueue(driver._tx)
    driver._tx = counting
    return counting


async def test_a_statement_is_one_trip_to_the_database_thread(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the transaction has begun
        counted = await trips(connection)
        rows = (await connection.execute(text("SELECT id, name FROM thing"))).all()
        assert rows == []
        assert counted.jobs == 1
        await connection.execute(text("INSERT INTO thing (name) VALUES ('a')"))
        assert counted.jobs == 2


async def test_a_connection_that_only_read_goes_back_to_the_pool_without_a_trip(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        counted = await trips(connection)
        await connection.execute(text("SELECT id, name FROM thing"))
    assert counted.jobs == 1  # the statement: no rollback of a transaction never begun


async def test_a_write_left_uncommitted_is_rolled_back_when_the_connection_goes_back(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        counted = await trips(connection)
        await connection.execute(text("INSERT INTO thing (name) VALUES ('dropped')"))
    assert counted.jobs == 2  # the statement and the rollback
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM thing")) == 0


async def test_the_engine_hands_out_one_trip_cursors(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)  # type: ignore[union-attr]


async def test_rows_columns_row_counts_and_the_last_row_id_come_back(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.exec_driver_sql("INSERT INTO thing (name) VALUES ('first')")
        assert inserted.lastrowid == 1
        await connection.execute(
            text("INSERT INTO thing (name) VALUES (:name)"),
            [{"name": "second"}, {"name": "third"}],  # executemany
        )
        updated = await connection.execute(text("UPDATE thing SET name = name || '!'"))
        assert updated.rowcount == 3
        result = await connection.execute(text("SELECT id, name FROM thing ORDER BY id"))
        assert list(result.keys()) == ["id", "name"]
        assert result.all() == [(1, "first!"), (2, "second!"), (3, "third!")]
        partial = await connection.execute(text("SELECT id FROM thing ORDER BY id"))
        assert partial.fetchmany(2) == [(1,), (2,)]
        assert partial.fetchone() == (3,)
        assert partial.fetchone() is None


async def test_a_refused_statement_raises_and_leaves_the_transaction_whole(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO thing (name) VALUES ('only')"))
        with pytest.raises(IntegrityError, match=r"UNIQUE constraint failed: thing\.name"):
            await connection.execute(text("INSERT INTO thing (name) VALUES ('only')"))
        await connection.commit()
    async with engine.connect() as connection:
        names = (await connection.execute(text("SELECT name FROM thing"))).scalars().all()
    assert names == ["only"]


async def test_a_rolled_back_write_is_gone(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO thing (name) VALUES ('undone')"))
        await connection.rollback()
        count = await connection.scalar(text("SELECT count(*) FROM thing"))
    assert count == 0


async def test_streamed_results_still_work(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO thing (name) VALUES (:name)"),
            [{"name": f"n{i}"} for i in range(50)],
        )
        streamed = await connection.stream(text("SELECT name FROM thing ORDER BY id"))
        names = [row.name async for row in streamed]
    assert names == [f"n{i}" for i in range(50)]


async def test_a_connection_stopped_while_it_closes_still_finishes_closing(
    engine: AsyncEngine,
) -> None:
    # As SQLAlchemy terminates a connection whose task was cancelled mid-statement: a shielded
    # graceful close, and its thread stopped at once when that wait is cancelled. aiosqlite's
    # own close() would then wait forever for a thread that has already stopped.
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        adapted: Any = raw.dbapi_connection
        closing = asyncio.ensure_future(adapted._terminate_graceful_close())
        await asyncio.sleep(0)  # the close is queued to the thread...
        adapted._terminate_force_close()  # ...and the thread told to stop right after it
        await asyncio.wait_for(closing, timeout=5)
        await connection.invalidate()


class LateQueue:
    """Stands in for aiosqlite's queue to its thread: every job waits a while before it runs."""

    def __init__(self, queue: SimpleQueue[Any]) -> None:
        self.queue = queue

    def put_nowait(self, item: Any) -> None:
        self.queue.put_nowait((None, partial(time.sleep, 0.1)))
        self.queue.put_nowait(item)


@pytest.mark.parametrize("termination", ["graceful", "forced"])
def test_a_connection_terminated_as_its_event_loop_ends_stops_its_thread_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, termination: str
) -> None:
    # A cancelled task's connection is terminated, and its event loop (a test client's, a
    # command's) may close before the thread gets to the stop: the thread must not answer it.
    failures: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)

    async def terminate() -> threading.Thread:
        driver = await aiosqlite.connect(tmp_path / "late.db")
        driver._tx = LateQueue(driver._tx)  # type: ignore[assignment]
        adapted = OneTripConnection(one_trip_module(), driver)
        if termination == "graceful":
            await adapted._terminate_graceful_close()
        else:
            adapted._terminate_force_close()
        return driver._thread

    loop = asyncio.new_event_loop()
    try:
        thread = loop.run_until_complete(terminate())
    finally:
        loop.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert failures == []
