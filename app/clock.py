"""Time, passed in: the services ask a Clock for the time and for sleeps, never the system.

`SystemClock` is the real one. `FakeClock` is for tests and simulations: its time stands still
until `await clock.advance(seconds)` moves it, and its sleepers wake only then, so a test of a
policy (a lease running out, a misfire, an idle session, a throttle window, a back-off) moves
the clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import time
from collections.abc import Awaitable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware, in UTC."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back: for measuring durations."""

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Done once `seconds` have passed on this clock."""


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock that moves only when told to (for tests and simulations).

    Starts at the real time of its creation unless given `start`. `advance()` moves now() and
    monotonic() together and wakes every sleeper whose deadline has come; one advance wakes a
    sleeper once, so a loop that sleeps again waits for the next advance.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("start: expected a timezone-aware datetime")
        self._start = (start or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        self._elapsed = 0.0
        self._order = itertools.count()  # equal deadlines wake in the order they slept
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    @property
    def sleeping(self) -> int:
        """How many tasks are asleep on this clock (cancelled sleeps not counted)."""
        return sum(1 for _, _, waiter in self._sleepers if not waiter.done())

    def next_wake(self) -> float | None:
        """Seconds until the earliest sleeper wakes, or None when nobody sleeps."""
        deadlines = [deadline for deadline, _, waiter in self._sleepers if not waiter.done()]
        return min(deadlines) - self._elapsed if deadlines else None

    def sleep(self, seconds: float) -> Awaitable[None]:
        # The deadline is set by the call, not when the sleep is first awaited: a delay
        # computed from now() must not slip if the clock moves before the sleeper runs.
        if seconds <= 0:
            return asyncio.sleep(0)  # a zero sleep still lets others run, as asyncio's does
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._order), waiter))
        return waiter

    async def advance(self, seconds: float) -> None:
        """Moves time forward, wakes the sleepers now due, and lets them run up to their next
        await (their database or network calls then take the time they take)."""
        if seconds < 0:
            raise ValueError("seconds: the clock only moves forward")
        self._elapsed += seconds
        woken = 0
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)
                woken += 1
        for _ in range(3 if woken else 1):
            await asyncio.sleep(0)
