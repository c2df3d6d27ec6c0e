"""The database broker: without Redis, processes hear each other through a table they share.

A publish reaches this process's subscribers at once and is written to `relayed_frame` (one
INSERT; a burst goes in one statement). Every listening process reads the rows newer than the
last it saw every half second (one indexed statement, empty when idle), delivers the other
processes' frames to its subscribers, and deletes rows older than a minute now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import uuid
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.channels.broker import DeliveryWatch, Hub, HubSubscriptions, Message
from app.clock import SYSTEM_CLOCK, Clock
from app.db import as_utc
from app.models.channels import RelayedFrame
from app.statement_log import background_work

_log = logging.getLogger(__name__)

POLL_S = 0.5
BATCH = 500  # rows read per statement; a full batch is followed at once by the next
KEEP_S = 60.0  # a row's life: long enough for any listening process to have read it
PRUNE_EVERY_S = 30.0
# PostgreSQL hands out ids before commit: a lower id may commit after a higher one was read.
# Ids skipped over are awaited this long (a rolled-back INSERT leaves one skipped for good).
GAP_WAIT_S = 2.0
STOP_FLUSH_S = 2.0  # stop() waits this long for frames still being written


class DatabaseBroker(HubSubscriptions):
    def __init__(
        self, engine: AsyncEngine, clock: Clock = SYSTEM_CLOCK, watch: DeliveryWatch | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.hub = Hub(watch)
        # Told apart from every other process, and from another broker in this one.
        self.sender = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._after: int | None = None  # every id up to here is read (None: not yet known)
        self._seen: set[int] = set()  # ids above `_after` read already, past a gap
        self._gap_since: float | None = None
        self._pruned_at: float | None = None
        self._reading_failed = False
        self._writing_failed = False
        self._pending: list[dict[str, Any]] = []
        self._wanted = asyncio.Event()
        self._stopping = asyncio.Event()
        self._closing = False
        # An app whose lifespan is entered again while running (two test clients on one app)
        # starts its broker again: only the first start reads and writes, the last stop ends it.
        self._starts = 0
        self._writer: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listens from the newest row on; publishes from here on are written in the background."""
        self._starts += 1
        if self._starts > 1:
            return
        self._closing = False
        self._wanted = asyncio.Event()  # bound to this start's loop (tests start apps again)
        self._stopping = asyncio.Event()
        # Background work: request statement budgets count the request's own statements only.
        with background_work():
            with contextlib.suppress(Exception):  # database away: the reader finds it later
                await self.read()
            self._writer = asyncio.create_task(self._write_regularly(), name="relay-writer")
            self._reader = asyncio.create_task(self._read_regularly(), name="relay-reader")

    async def stop(self) -> None:
        self._starts = max(0, self._starts - 1)
        if self._starts:
            return
        # Never cancelled mid-statement: SQLAlchemy would leave the pooled connection to the
        # garbage collector, unclosed. Each statement is bounded by the database's own timeout.
        if self._reader is not None:
            self._stopping.set()  # the reader returns after its current read
            await asyncio.wait({self._reader})
            self._reader = None
        if self._writer is not None:
            self._closing = True
            self._wanted.set()
            await asyncio.wait({self._writer}, timeout=STOP_FLUSH_S)  # waits; cancels nothing
            if not self._writer.done():
                _log.warning("channels: stopped with %d frames unwritten", len(self._pending))
                self._pending.clear()  # the write under way ends the writer
                await asyncio.wait({self._writer})
            self._writer = None

    def status(self) -> str:
        return "off"  # no Redis

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        self.hub.fan_out(Message(channel, data))
        row = {"channel": channel, "data": data, "created_at": self.clock.now()}
        if self._writer is None:
            await self._write([row])  # a command: written before it exits
            return
        self._pending.append(row)
        self._wanted.set()

    async def _write_regularly(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            rows, self._pending = self._pending, []
            if rows:
                await self._write(rows)
            if self._closing and not self._pending:
                return

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        """Never raises: without the database, other processes miss what this one publishes."""
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    insert(RelayedFrame), [{**row, "sender": self.sender} for row in rows]
                )
        except Exception as error:
            if not self._writing_failed:
                _log.warning("channels: frames not relayed to other processes: %s", error)
            self._writing_failed = True
            return
        if self._writing_failed:
            _log.warning("channels: relaying frames to other processes again")
            self._writing_failed = False

    async def _read_regularly(self) -> None:
        while True:
            more = False
            await self._prune_now_and_then()
            try:
                more = await self.read()
            except Exception as error:
                if not self._reading_failed:
                    _log.warning("channels: not hearing other processes: %s", error)
                self._reading_failed = True
            else:
                if self._reading_failed:
                    # What was published meanwhile may be pruned already: resynchronise.
                    _log.warning("channels: hearing other processes again; subscribers resync")
                    self._reading_failed = False
                    for subscription in self.hub.everyone():
                        subscription.lose_backlog()
            if self._stopping.is_set():
                return
            if not more:
                await self._pause()

    async def _pause(self) -> None:
        """POLL_S on the broker's clock, or less when the broker stops."""
        waits = [
            asyncio.ensure_future(self.clock.sleep(POLL_S)),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def read(self) -> bool:
        """Delivers other processes' frames newer than the last read; True if more are waiting."""
        table = RelayedFrame.__table__
        async with self.engine.connect() as connection:
            if self._after is None:
                self._after = await connection.scalar(
                    select(func.coalesce(func.max(table.c.id), 0))
                )
                return False
            rows = (
                await connection.execute(
                    select(
                        table.c.id,
                        table.c.channel,
                        table.c.data,
                        table.c.sender,
                        table.c.created_at,
                    )
                    .where(table.c.id > self._after)
                    .order_by(table.c.id)
                    .limit(BATCH)
                )
            ).all()
        fresh = [row for row in rows if row.id not in self._seen]
        watch, now = self.hub.watch, self.clock.now()
        for row in fresh:
            self._seen.add(row.id)
            if row.sender != self.sender:  # its own went to its subscribers when published
                self.hub.fan_out(Message(row.channel, row.data))
                if watch is not None:  # the publisher's clock and ours: one host, or in sync
                    watch.relayed((now - as_utc(row.created_at)).total_seconds())
        self._settle()
        return len(rows) == BATCH and bool(fresh)

    def _settle(self) -> None:
        """Moves `_after` over every id read in a row; gives up on a gap left open too long."""
        assert self._after is not None
        start = self._after
        while self._after + 1 in self._seen:
            self._after += 1
            self._seen.discard(self._after)
        now = self.clock.monotonic()
        if not self._seen:
            self._gap_since = None
        elif self._gap_since is None or self._after != start:
            self._gap_since = now
        elif now - self._gap_since >= GAP_WAIT_S:
            self._after = max(self._seen)
            self._seen.clear()
            self._gap_since = None

    async def _prune_now_and_then(self) -> None:
        now = self.clock.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        try:
            await self.prune()
        except Exception as error:  # left for the next time; reading is what matters
            _log.warning("channels: old relayed frames not deleted: %s", error)

    async def prune(self) -> None:
        """Deletes the rows every listening process has had time to read."""
        cutoff = self.clock.now() - dt.timedelta(seconds=KEEP_S)
        async with self.engine.begin() as connection:
            await connection.execute(delete(RelayedFrame).where(RelayedFrame.created_at < cutoff))
