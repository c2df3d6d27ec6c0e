"""The clocks: the system one sleeps for real; the fake one moves only when a test moves it."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from app.clock import SYSTEM_CLOCK, FakeClock

START = dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)


async def test_the_system_clock_tells_aware_utc_time_and_really_sleeps() -> None:
    before, started = SYSTEM_CLOCK.now(), SYSTEM_CLOCK.monotonic()
    await SYSTEM_CLOCK.sleep(0.02)
    assert SYSTEM_CLOCK.monotonic() - started >= 0.02
    assert SYSTEM_CLOCK.now().tzinfo is dt.UTC and SYSTEM_CLOCK.now() > before


async def test_fake_time_stands_still_until_advanced_and_both_readings_move_together() -> None:
    clock = FakeClock(START)
    await asyncio.sleep(0.01)
    assert (clock.now(), clock.monotonic()) == (START, 0.0)
    await clock.advance(90)
    assert (clock.now(), clock.monotonic()) == (START + dt.timedelta(seconds=90), 90.0)


async def test_sleepers_wake_only_once_their_deadline_is_reached_in_deadline_order() -> None:
    clock = FakeClock(START)
    woken: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woken.append(name)

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("late", 5), ("early", 1))]
    await asyncio.sleep(0)
    assert clock.sleeping == 2 and clock.next_wake() == 1
    await clock.advance(0.5)
    assert woken == []
    await clock.advance(5)
    assert woken == ["early", "late"]
    assert clock.sleeping == 0 and clock.next_wake() is None
    await asyncio.gather(*tasks)


async def test_a_sleep_counts_from_its_call_even_when_awaited_after_the_clock_moved() -> None:
    clock = FakeClock(START)
    pending = clock.sleep(5)  # a loop computed its delay from now() and is about to wait
    await clock.advance(5)
    async with asyncio.timeout(1):
        await pending


async def test_a_cancelled_sleep_is_no_longer_counted() -> None:
    clock = FakeClock(START)
    task = asyncio.ensure_future(clock.sleep(10))
    await asyncio.sleep(0)
    assert clock.sleeping == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.sleeping == 0
    await clock.advance(20)  # waking a cancelled sleeper is harmless


async def test_a_zero_sleep_returns_without_an_advance() -> None:
    clock = FakeClock(START)
    async with asyncio.timeout(1):
        await clock.sleep(0)


async def test_bad_uses_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(dt.datetime(2026, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="only moves forward"):
        await FakeClock(START).advance(-1)
