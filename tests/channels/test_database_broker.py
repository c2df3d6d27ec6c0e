"""The database broker on each backend: two brokers on one database are two processes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.channels import Message, Subscription, missed
from app.channels.database import BATCH, KEEP_S, DatabaseBroker
from app.clock import FakeClock
from app.db import create_engine
from app.models import RelayedFrame
from app.statement_log import StatementLog
from tests.services import free_port

WAIT_S = 5.0


async def drain(subscription: Subscription) -> list[Message]:
    """What the subscription holds now, without waiting for more."""
    return [await subscription.get() for _ in range(subscription.qsize())]


async def rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(RelayedFrame)) or 0)


async def test_frames_from_another_process_arrive_in_order_each_once(engine: AsyncEngine) -> None:
    here, there = DatabaseBroker(engine), DatabaseBroker(engine)
    await here.read()  # from the newest row on
    tab = await here.subscribe(["user:7", "all"])

    await there.publish("user:7", {"n": 1})
    await there.publish("stock", {"n": 2})
    await there.publish("all", {"n": 3})
    assert await here.read() is False
    await here.read()  # nothing new: nothing again

    assert await drain(tab) == [Message("user:7", {"n": 1}), Message("all", {"n": 3})]


async def test_a_process_hears_its_own_frames_once_not_again_from_the_table(
    engine: AsyncEngine,
) -> None:
    broker = DatabaseBroker(engine)
    await broker.read()
    tab = await broker.subscribe(["models"])

    await broker.publish("models", {"n": 1})
    assert await drain(tab) == [Message("models", {"n": 1})]  # at once, before any read
    assert await rows(engine) == 1  # and written for the others
    await broker.read()

    assert await drain(tab) == []


async def test_a_listener_starts_at_the_newest_row_not_at_the_history(engine: AsyncEngine) -> None:
    before = DatabaseBroker(engine)
    await before.publish("all", {"n": "old"})
    listener = DatabaseBroker(engine)
    tab = await listener.subscribe(["all"])

    await listener.start()
    try:
        await before.publish("all", {"n": "new"})
        async with asyncio.timeout(WAIT_S):
            assert await tab.get() == Message("all", {"n": "new"})
    finally:
        await listener.stop()
    assert await drain(tab) == []


async def test_a_burst_larger_than_a_read_arrives_whole_and_in_order(engine: AsyncEngine) -> None:
    here, there = DatabaseBroker(engine), DatabaseBroker(engine)
    await here.read()
    tab = await here.subscribe(["jobs"])
    await there.start()  # published from a serving process: written in the background
    try:
        await asyncio.gather(*(there.publish("jobs", {"n": n}) for n in range(BATCH + 20)))
    finally:
        await there.stop()  # waits for the rows being written

    assert await here.read() is True  # a full batch: more are waiting
    assert await here.read() is False
    assert [m.data["n"] for m in await drain(tab)] == list(range(BATCH + 20))


async def test_a_frame_committed_after_a_newer_one_was_read_still_arrives(
    engine: AsyncEngine,
) -> None:
    # PostgreSQL gives ids out before commit: id 2 may commit after id 3 was read.
    here = DatabaseBroker(engine, FakeClock())
    await here.read()
    tab = await here.subscribe(["all"])

    async def commit(row_id: int) -> None:
        async with engine.begin() as connection:
            await connection.execute(
                insert(RelayedFrame),
                {
                    "id": row_id,
                    "channel": "all",
                    "data": {"n": row_id},
                    "created_at": here.clock.now(),
                    "sender": "elsewhere",
                },
            )

    await commit(1)
    await commit(3)
    await here.read()
    await commit(2)
    await here.read()
    await here.read()

    assert [m.data["n"] for m in await drain(tab)] == [1, 3, 2]


async def test_rows_older_than_a_minute_are_pruned(engine: AsyncEngine) -> None:
    clock = FakeClock()
    broker = DatabaseBroker(engine, clock)
    await broker.publish("all", {"n": "old"})
    await clock.advance(KEEP_S - 10)
    await broker.publish("all", {"n": "recent"})
    await clock.advance(11)

    await broker.prune()

    async with engine.connect() as connection:
        left = (await connection.execute(select(RelayedFrame.data))).scalars().all()
    assert left == [{"n": "recent"}]


async def test_without_the_database_a_publish_still_reaches_this_process_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = create_engine(f"postgresql+asyncpg://nobody:x@127.0.0.1:{free_port()}/starboard")
    broker = DatabaseBroker(engine)
    tab = await broker.subscribe(["all"])
    try:
        with caplog.at_level(logging.WARNING, logger="app.channels.database"):
            await broker.publish("all", {"n": 1})
            await broker.publish("all", {"n": 2})
    finally:
        await engine.dispose()

    assert await drain(tab) == [Message("all", {"n": 1}), Message("all", {"n": 2})]
    assert [r.getMessage()[:45] for r in caplog.records] == [
        "channels: frames not relayed to other process"
    ]


async def test_a_serving_process_writes_a_burst_in_one_statement(engine: AsyncEngine) -> None:
    inserts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO RELAYED_FRAME"):
            inserts.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    broker = DatabaseBroker(engine)
    await broker.start()
    try:
        await asyncio.gather(*(broker.publish("jobs", {"n": n}) for n in range(50)))
    finally:
        await broker.stop()

    assert len(inserts) == 1
    assert await rows(engine) == 50


async def test_what_the_broker_reads_and_writes_counts_towards_no_request(
    engine: AsyncEngine,
) -> None:
    log = StatementLog(engine)
    listener, publisher = DatabaseBroker(engine), DatabaseBroker(engine)
    tab = await listener.subscribe(["all"])
    await listener.start()
    await publisher.start()
    try:
        await publisher.publish("all", {"n": 1})
        async with asyncio.timeout(WAIT_S):
            assert await tab.get() == Message("all", {"n": 1})
    finally:
        await publisher.stop()
        await listener.stop()

    assert log.listing() == ""


async def test_a_listener_that_could_not_read_tells_its_subscribers_they_missed_messages(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    broker = DatabaseBroker(engine, clock)
    tab = await broker.subscribe(["all"])
    await broker.start()
    read, faults = broker.read, [OSError("database away")]

    async def failing_once() -> bool:
        if faults:
            raise faults.pop()
        return await read()

    monkeypatch.setattr(broker, "read", failing_once)  # before its reader first runs
    told = asyncio.create_task(tab.get())
    try:
        async with asyncio.timeout(WAIT_S):
            while not told.done():
                await clock.advance(1.0)
                await asyncio.sleep(0.01)
    finally:
        await broker.stop()

    assert faults == [] and told.result() == missed()


async def test_started_twice_it_reads_once_and_stops_with_the_last_stop(
    engine: AsyncEngine,
) -> None:
    """An app's lifespan entered again while running (two test clients on one app) must not
    leave the first start's reader behind, to be cut off mid-statement when its loop ends."""
    broker = DatabaseBroker(engine)
    await broker.start()
    reader = broker._reader
    await broker.start()
    assert broker._reader is reader  # the same reader, not a second one beside it
    await broker.stop()
    assert reader is not None and not reader.done()  # still started once
    await broker.stop()
    assert reader.done() and broker._reader is None and broker._writer is None


async def test_stopping_waits_for_a_slow_write_instead_of_cutting_it_off(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A write cancelled mid-statement leaves its pooled connection unclosed: stop() lets the
    write under way finish, and drops only the frames still waiting behind it."""
    monkeypatch.setattr("app.channels.database.STOP_FLUSH_S", 0.05)
    release = asyncio.Event()
    outcomes: list[str] = []

    class SlowBroker(DatabaseBroker):
        async def _write(self, rows: list[dict[str, Any]]) -> None:
            try:
                await release.wait()  # the fault: a write held up (a lock, a slow disk)
                await super()._write(rows)
            except asyncio.CancelledError:
                outcomes.append("cancelled")
                raise
            outcomes.append(f"wrote {len(rows)}")

    broker = SlowBroker(engine)
    await broker.start()
    await broker.publish("all", {"n": 1})
    await asyncio.sleep(0)  # the writer takes the first frame
    await broker.publish("all", {"n": 2})  # waits behind it
    stopping = asyncio.create_task(broker.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()  # still waiting for the write under way
    release.set()
    await asyncio.wait_for(stopping, WAIT_S)
    assert outcomes == ["wrote 1"]
    assert await rows(engine) == 1
    assert "stopped with 1 frames unwritten" in caplog.text
