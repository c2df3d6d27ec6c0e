"""The scheduler's own loop and catch-up across a fall-back night (Europe/Berlin, 31 October
2021, 03:00 CEST → 02:00 CET), on a FakeClock: an every-15-minutes job runs through both passes
of the repeated hour, once per fire, and a restart inside the second pass catches up what it
missed there (docs/reference.md, "Schedules")."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from app.clock import FakeClock
from app.scheduler.runner import Timing
from tests.scheduler.test_runner import (
    SessionFactory,
    fire_has,
    jobs,
    runs_of,
    schedulers,
    seen_before,
    utc,
)

BERLIN = ZoneInfo("Europe/Berlin")
# Leases and heartbeats longer than the clock's jumps: no run is abandoned meanwhile.
SLOW = Timing(lease=7200, heartbeat=3600, shutdown_grace=0.25)
EVERY_15 = jobs("tick", tick={"schedule": "*/15 * * * *", "timezone": "Europe/Berlin"})
SECOND = dt.timedelta(seconds=1)


def at(hour: int, minute: int) -> dt.datetime:
    return dt.datetime(2021, 10, 31, hour, minute, tzinfo=dt.UTC)


def walls(runs: list[dt.datetime]) -> list[str]:
    return [moment.astimezone(BERLIN).strftime("%H:%M%z") for moment in runs]


async def scheduled_fors(session_factory: SessionFactory) -> list[dt.datetime]:
    return [utc(run.scheduled_for) for run in await runs_of(session_factory, "tick")]


async def test_the_fire_loop_runs_every_15_minutes_through_both_passes_of_the_hour(
    session_factory: SessionFactory,
) -> None:
    clock = FakeClock(at(0, 40))  # 02:40 CEST
    async with schedulers(session_factory, EVERY_15, clock=clock, timing=SLOW):
        for fire in (at(0, 45), at(1, 0), at(1, 15), at(1, 30), at(1, 45), at(2, 0)):
            await clock.advance((fire + SECOND - clock.now()).total_seconds())
            await fire_has(session_factory, "tick", fire, "succeeded")
    assert walls(await scheduled_fors(session_factory)) == [
        "02:45+0200",
        "02:00+0100",  # fifteen minutes later, by the clock that went back
        "02:15+0100",
        "02:30+0100",
        "02:45+0100",
        "03:00+0100",
    ]


async def test_a_restart_in_the_second_pass_catches_up_its_missed_fire_once(
    session_factory: SessionFactory,
) -> None:
    await seen_before(session_factory, "tick", at(0, 45))  # 02:45 CEST ran, then the process died
    clock = FakeClock(at(1, 20))  # 02:20 CET: 02:00 and 02:15 CET were missed
    async with schedulers(session_factory, EVERY_15, 2, clock=clock, timing=SLOW):
        await fire_has(session_factory, "tick", at(1, 15), "succeeded")
        await clock.advance((at(1, 30) + SECOND - clock.now()).total_seconds())
        await fire_has(session_factory, "tick", at(1, 30), "succeeded")
    runs = await runs_of(session_factory, "tick")
    assert walls([utc(run.scheduled_for) for run in runs]) == [
        "02:45+0200",
        "02:15+0100",  # the newest missed fire, once for both schedulers
        "02:30+0100",
    ]
    assert [run.trigger for run in runs] == ["schedule", "catch-up", "schedule"]
