"""The runner on SQLite and PostgreSQL: several Scheduler instances on one database are several
processes (each its own worker name and, unless a test shares one, its own MemoryBroker)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Update, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.current import Actor
from app.channels import Broker
from app.channels.memory import MemoryBroker
from app.clock import SYSTEM_CLOCK, Clock, FakeClock
from app.constance import DeclaredSettings, LiveSettings, Setting
from app.db import create_engine, create_session_factory
from app.models import AuditEntry, Group, JobRun, Notification, ScheduledJob
from app.scheduler import claims
from app.scheduler.context import LOG_LIMIT, TRUNCATED
from app.scheduler.registry import JobDefinition, jobs_in
from app.scheduler.runner import Scheduler, Timing
from app.scheduler.schedules import parse
from app.scheduler.service import JobEdit, JobsService
from app.scheduler.sync import sync_jobs
from tests.scheduler import broken_rows, runner_jobs
from tests.scheduler.runner_jobs import EXECUTIONS

SessionFactory = async_sessionmaker[AsyncSession]
ANNA = Actor(user_id=None, username="ops-anna", client_address=None)
# Short leases and heartbeats so abandonment and healing show within a test.
FAST = Timing(lease=1.5, heartbeat=0.2, shutdown_grace=0.25)
HEARTBEAT_S = FAST.heartbeat
LIVE = LiveSettings(DeclaredSettings([Setting("LOW_STOCK_THRESHOLD", 7, min=0)]))
ALL = jobs_in(runner_jobs)
WAIT_S = 10.0


def jobs(*names: str, **changes: dict[str, Any]) -> dict[str, JobDefinition]:
    """The named test jobs, each with the given declaration changes (`tick={"overlap": ...}`)."""
    return {name: replace(ALL[name], **changes.get(name, {})) for name in names}


@pytest.fixture(autouse=True)
def forget_executions() -> None:
    EXECUTIONS.clear()


@pytest.fixture
def clock() -> FakeClock:
    """Half a second before a whole second: every-second jobs fire after the first advance."""
    return FakeClock(dt.datetime.now(dt.UTC).replace(microsecond=500_000))


@contextlib.asynccontextmanager
async def schedulers(
    session_factory: SessionFactory,
    definitions: dict[str, JobDefinition],
    count: int = 1,
    *,
    broker: Broker | None = None,
    timing: Timing = FAST,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncIterator[list[Scheduler]]:
    started: list[Scheduler] = []
    try:
        for n in range(count):
            scheduler = Scheduler(
                definitions,
                session_factory,
                broker or MemoryBroker(),
                LIVE,
                timing=timing,
                worker=f"worker-{n}",
                clock=clock,
            )
            await scheduler.start()
            started.append(scheduler)
        yield started
    finally:
        for scheduler in started:
            await scheduler.stop()


async def runs_of(session_factory: SessionFactory, job: str) -> list[JobRun]:
    async with session_factory() as session:
        query = select(JobRun).where(JobRun.job == job).order_by(JobRun.id)
        return list(await session.scalars(query))


async def run(session_factory: SessionFactory, run_id: int) -> JobRun:
    async with session_factory() as session:
        found = await session.get(JobRun, run_id)
        assert found is not None
        return found


async def eventually(check: Callable[[], Awaitable[Any]], within: float = WAIT_S) -> Any:
    """Polls until `check()` returns something truthy; returns it."""
    async with asyncio.timeout(within):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


async def advancing(
    clock: FakeClock, check: Callable[[], Awaitable[Any]], step: float = HEARTBEAT_S
) -> Any:
    """Moves the clock `step` at a time until `check()` returns something truthy; returns it."""
    async with asyncio.timeout(WAIT_S):
        while True:
            result = await check()
            if result:
                return result
            await clock.advance(step)
            await asyncio.sleep(0.02)  # the woken loops' database calls take real time


async def finished(
    session_factory: SessionFactory, run_id: int, clock: FakeClock | None = None
) -> JobRun:
    """The run once it has ended; with a clock, moving it a heartbeat at a time meanwhile."""

    async def check() -> JobRun | None:
        found = await run(session_factory, run_id)
        return found if found.status not in ("queued", "running") else None

    result: JobRun = await (eventually(check) if clock is None else advancing(clock, check))
    return result


async def started(
    session_factory: SessionFactory, run_id: int, clock: FakeClock | None = None
) -> JobRun:
    async def check() -> JobRun | None:
        found = await run(session_factory, run_id)
        return found if found.status == "running" else None

    result: JobRun = await (eventually(check) if clock is None else advancing(clock, check))
    return result


async def fire_has(
    session_factory: SessionFactory, job: str, scheduled_for: dt.datetime, status: str
) -> JobRun:
    """Waits (in real time) until the run of that fire has the status."""

    async def check() -> JobRun | None:
        rows = await runs_of(session_factory, job)
        found = [r for r in rows if utc(r.scheduled_for) == scheduled_for]
        return found[0] if found and found[0].status == status else None

    result: JobRun = await eventually(check)
    return result


async def fire_running(
    session_factory: SessionFactory, job: str, scheduled_for: dt.datetime
) -> JobRun:
    """Waits until that fire's run is `running` and its job has begun (recorded itself, and in
    the same step set its sleep on the clock). The row says running before the scheduler starts
    the job: a clock moved in between would start the job's sleep that much late."""
    found = await fire_has(session_factory, job, scheduled_for, "running")

    async def begun() -> bool:
        return any(e.run_id == found.id for e in EXECUTIONS)

    await eventually(begun)
    return found


def utc(moment: dt.datetime | None) -> dt.datetime:
    assert moment is not None
    return claims.as_utc(moment)


def overlapping(runs: Sequence[JobRun]) -> bool:
    spans = sorted((utc(r.started_at), utc(r.finished_at)) for r in runs if r.started_at)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


# --- exactly once ---------------------------------------------------------------------------


async def test_each_fire_runs_exactly_once_across_three_schedulers(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    async with schedulers(session_factory, jobs("tick"), 3, clock=clock) as started:
        for n in range(5):
            await clock.advance(0.5 if n == 0 else 1.0)
            fire = clock.now().replace(microsecond=0)
            await fire_has(session_factory, "tick", fire, "succeeded")
            # Every scheduler has taken the fire from its plan and tried to claim it.
            await eventually(lambda: _all_past(started, "tick", clock.now()))
    fires = Counter(e.scheduled_for for e in EXECUTIONS if e.job == "tick")
    assert len(fires) == 5, fires
    assert set(fires.values()) == {1}, f"run more than once: {fires}"
    seconds = sorted(dt.datetime.fromisoformat(f) for f in fires)
    expected = [seconds[0] + dt.timedelta(seconds=n) for n in range(len(seconds))]
    assert seconds == expected, "a second between the first and the last fire was missed"
    rows = await runs_of(session_factory, "tick")
    assert [r.status for r in rows] == ["succeeded"] * len(rows)
    assert all(r.trigger == "schedule" for r in rows)
    assert {r.id for r in rows} == {e.run_id for e in EXECUTIONS}


async def _all_past(started: Sequence[Scheduler], job: str, moment: dt.datetime) -> bool:
    return all((s.planned[job].next_fire or moment) > moment for s in started)


# --- overlap policies, across two schedulers ------------------------------------------------
# The slow jobs sleep on the schedulers' clock: a run lasts until the test moves it on.

SECOND = dt.timedelta(seconds=1)


async def test_overlap_skip_records_skipped_fires_and_never_overlaps(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    async with schedulers(session_factory, jobs("slow_skip"), 2, clock=clock):
        await clock.advance(0.5)
        first = clock.now()
        await fire_running(session_factory, "slow_skip", first)  # until first + 2.5 s
        for n in (1, 2):
            await clock.advance(1.0)
            await fire_has(session_factory, "slow_skip", first + n * SECOND, "skipped")
        await clock.advance(0.75)
        await fire_has(session_factory, "slow_skip", first, "succeeded")
        await clock.advance(0.25)
        await fire_running(session_factory, "slow_skip", first + 3 * SECOND)
        rows = await runs_of(session_factory, "slow_skip")
        executions = [e.run_id for e in EXECUTIONS]
    assert [(utc(r.scheduled_for) - first, r.status) for r in rows[:4]] == [
        (0 * SECOND, "succeeded"),
        (1 * SECOND, "skipped"),
        (2 * SECOND, "skipped"),
        (3 * SECOND, "running"),
    ]
    ran = [r for r in rows if r.status != "skipped"]
    skipped = [r for r in rows if r.status == "skipped"]
    assert all(r.error == "the previous run was still running" for r in skipped)
    assert utc(ran[0].finished_at) <= utc(ran[1].started_at)
    assert executions == [r.id for r in ran]


async def test_overlap_queue_runs_after_the_current_one(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    # One broker: both hear each run's end at once and race for the queued fires, as on Redis.
    async with schedulers(
        session_factory, jobs("slow_queue"), 2, broker=MemoryBroker(), clock=clock
    ):
        await clock.advance(0.5)
        first = clock.now()
        await fire_running(session_factory, "slow_queue", first)  # until first + 1.5 s
        await clock.advance(1.0)
        await fire_has(session_factory, "slow_queue", first + SECOND, "queued")
        await clock.advance(0.75)  # the first run ends; the queued fire takes its turn
        await fire_has(session_factory, "slow_queue", first, "succeeded")
        second = await fire_running(session_factory, "slow_queue", first + SECOND)
        await clock.advance(0.25)  # the next fire, while the second runs
        await fire_has(session_factory, "slow_queue", first + 2 * SECOND, "queued")
        rows = await runs_of(session_factory, "slow_queue")
        executions = [e.run_id for e in EXECUTIONS]
    assert "skipped" not in {r.status for r in rows}
    # The fire that waited its turn started when the first run ended, after it was due.
    assert utc(second.started_at) - utc(second.scheduled_for) == dt.timedelta(seconds=0.75)
    assert utc(rows[0].finished_at) <= utc(second.started_at)
    assert executions == [rows[0].id, second.id]


async def test_overlap_allow_runs_concurrently(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    async with schedulers(session_factory, jobs("slow_allow"), 2, clock=clock):
        await clock.advance(0.5)
        first = clock.now()
        await fire_running(session_factory, "slow_allow", first)  # until first + 2.5 s
        await clock.advance(1.0)
        await fire_running(session_factory, "slow_allow", first + SECOND)
        assert (await run_of_fire(session_factory, "slow_allow", first)).status == "running"
        await clock.advance(1.5)  # the first run ends
        await fire_has(session_factory, "slow_allow", first, "succeeded")
        await clock.advance(1.0)  # and the second
        await fire_has(session_factory, "slow_allow", first + SECOND, "succeeded")
        rows = await runs_of(session_factory, "slow_allow")
    assert "skipped" not in {r.status for r in rows}
    assert overlapping(rows[:2])
    assert len({e.run_id for e in EXECUTIONS}) >= 2


@contextlib.asynccontextmanager
async def another_process(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions as another scheduler process has them: an engine of its own, disposed after."""
    engine = create_engine(database_url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


async def take(
    session: AsyncSession, run_id: int, worker: str, clock: Callable[[], dt.datetime]
) -> bool:
    """`worker`'s claim of a queued run, in `session`."""
    lease = dt.timedelta(seconds=FAST.lease)
    return await claims.take_queued(session, run_id, worker=worker, lease=lease, clock=clock)


async def claim(
    factory: SessionFactory, run_id: int, worker: str, clock: Callable[[], dt.datetime]
) -> bool:
    """`worker`'s claim of a queued run, in a transaction of its own."""
    async with factory.begin() as session:
        return await take(session, run_id, worker, clock)


async def test_two_schedulers_never_start_two_queued_runs_of_one_job_at_once(
    database_url: str, session_factory: SessionFactory, clock: FakeClock
) -> None:
    """Two processes (each its own engine) claim different queued runs of one job at the same
    moment: the second claim waits for the first and, seeing that run running, takes nothing."""
    async with session_factory.begin() as session:
        await sync_jobs(session, jobs("sleeper"), "UTC")
        queued = [
            JobRun(
                job="sleeper",
                trigger="schedule",
                scheduled_for=clock.now() + n * dt.timedelta(seconds=1),
                status="queued",
                log="",
            )
            for n in range(2)
        ]
        session.add_all(queued)
    one, two = (run.id for run in queued)
    async with another_process(database_url) as other_process:
        async with session_factory.begin() as session:
            assert await take(session, one, "worker-0", clock.now)
            second = asyncio.create_task(claim(other_process, two, "worker-1", clock.now))
            await asyncio.sleep(0.3)  # the second claim is under way before the first commits
        assert not await second
    rows = await runs_of(session_factory, "sleeper")
    assert [(r.id, r.status, r.worker) for r in rows] == [
        (one, "running", "worker-0"),
        (two, "queued", None),
    ]


async def test_a_queued_run_that_waited_for_the_previous_one_starts_after_its_recorded_end(
    database_url: str, session_factory: SessionFactory
) -> None:
    """A claim that waits while another process records the job's running run's end reads its
    clock once it holds the job: the run history never shows the next run starting before the
    previous one finished (it did by 3 ms, the claim having read the time before waiting)."""
    now = claims.now()
    async with session_factory.begin() as session:
        await sync_jobs(session, jobs("sleeper"), "UTC")
        previous, waiting = (
            JobRun(
                job="sleeper",
                trigger="manual",
                scheduled_for=now + n * dt.timedelta(seconds=1),
                status=status,
                started_at=now if status == "running" else None,
                log="",
            )
            for n, status in enumerate(("running", "queued"))
        )
        session.add_all([previous, waiting])
    async with another_process(database_url) as other_process:
        async with session_factory.begin() as session:
            await claims.lock_job(session, "sleeper")
            taking = asyncio.create_task(claim(other_process, waiting.id, "worker-1", claims.now))
            await asyncio.sleep(0.3)  # the claim is under way, waiting for the job
            assert not taking.done()
            await claims.record_end(
                session, previous.id, {"status": "succeeded", "finished_at": claims.now()}
            )
        assert await taking
    ended, started = (await runs_of(session_factory, "sleeper"))[:2]
    assert (ended.status, started.status) == ("succeeded", "running")
    assert utc(started.started_at) >= utc(ended.finished_at)


async def test_two_schedulers_waking_together_run_queued_runs_one_at_a_time(
    database_url: str, session_factory: SessionFactory
) -> None:
    """Two scheduler processes (each its own engine, one broker: each run's end wakes both at
    once) work through queued runs of a job that does not allow overlap: one at a time."""
    definitions = jobs("brief_queue")
    runner_jobs.MOST_AT_ONCE.clear()
    async with session_factory.begin() as session:
        await sync_jobs(session, definitions, "UTC")
        now = dt.datetime.now(dt.UTC)
        session.add_all(
            JobRun(
                job="brief_queue",
                trigger="schedule",
                scheduled_for=now - n * dt.timedelta(seconds=1),
                status="queued",
                log="",
            )
            for n in range(6)
        )
    broker = MemoryBroker()
    engines = [create_engine(database_url) for _ in range(2)]
    started: list[Scheduler] = []
    try:
        for n, engine in enumerate(engines):
            scheduler = Scheduler(
                definitions,
                create_session_factory(engine),
                broker,
                LIVE,
                timing=FAST,
                worker=f"worker-{n}",
            )
            await scheduler.start()
            started.append(scheduler)

        async def all_done() -> list[JobRun] | None:
            rows = await runs_of(session_factory, "brief_queue")
            return rows if all(r.status == "succeeded" for r in rows) else None

        rows = await eventually(all_done)
    finally:
        for scheduler in started:
            await scheduler.stop()
        for engine in engines:
            await engine.dispose()
    assert len(rows) == 6
    # Started when the previous run had ended (its started_at is read just before the claim,
    # which may wait for the other's end to be written, so times alone cannot show it).
    assert runner_jobs.MOST_AT_ONCE["brief_queue"] == 1
    assert sorted(e.run_id for e in EXECUTIONS) == [r.id for r in rows]


async def run_of_fire(session_factory: SessionFactory, job: str, fire: dt.datetime) -> JobRun:
    [found] = [r for r in await runs_of(session_factory, job) if utc(r.scheduled_for) == fire]
    return found


async def test_the_fire_loop_outlives_a_database_error(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    async with schedulers(session_factory, jobs("tick"), clock=clock) as (scheduler,):
        real = scheduler.take_queued
        failures = 0

        async def unreachable() -> None:
            nonlocal failures
            failures += 1
            raise ConnectionError("database away")

        scheduler.take_queued = unreachable  # type: ignore[method-assign]
        for _ in range(3):
            scheduler.wake()
            await asyncio.sleep(0.05)
        assert failures >= 1
        scheduler.take_queued = real  # type: ignore[method-assign]
        await clock.advance(0.5)
        await fire_has(session_factory, "tick", clock.now(), "succeeded")
        await clock.advance(1.0)
        await fire_has(session_factory, "tick", clock.now(), "succeeded")
    assert len(EXECUTIONS) == 2, "fires stopped after the error"


# --- misfires after downtime ----------------------------------------------------------------


async def seen_before(
    session_factory: SessionFactory, job: str, scheduled_for: dt.datetime
) -> None:
    """The job's row and a run at `scheduled_for`, as a process that stopped then left them."""
    async with session_factory.begin() as session:
        await session.merge(ScheduledJob(name=job, schedule=ALL[job].schedule, edited=[]))
        await session.flush()  # no relationship tells the unit of work the order
        session.add(
            JobRun(
                job=job,
                trigger="schedule",
                scheduled_for=scheduled_for,
                status="succeeded",
                started_at=scheduled_for,
                finished_at=scheduled_for,
                worker="long-gone",
                log="",
            )
        )


def year_ago_fire(schedule: str, clock: Clock) -> tuple[dt.datetime, dt.datetime]:
    """The newest fire of the schedule, and the one before it."""
    latest = parse(schedule).latest_at_or_before(clock.now())
    return latest, parse(schedule).latest_at_or_before(latest - dt.timedelta(seconds=1))


async def test_misfire_run_once_makes_one_catch_up_run(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    latest, before = year_ago_fire(runner_jobs.RARELY, clock)
    await seen_before(session_factory, "yearly", before)
    async with schedulers(session_factory, jobs("yearly"), 2, clock=clock):
        rows = await eventually(
            lambda: _with_status(session_factory, "yearly", "catch-up", "succeeded")
        )
        await asyncio.sleep(0.5)
    assert len(rows) == 1
    assert utc(rows[0].scheduled_for) == latest
    assert [e.job for e in EXECUTIONS] == ["yearly"]


async def test_misfire_skip_records_a_skipped_run(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    latest, before = year_ago_fire(runner_jobs.RARELY, clock)
    await seen_before(session_factory, "yearly_skip", before)
    async with schedulers(session_factory, jobs("yearly_skip"), clock=clock):
        rows = await eventually(
            lambda: _with_status(session_factory, "yearly_skip", "schedule", "skipped")
        )
    assert utc(rows[0].scheduled_for) == latest
    assert "misfire policy: skip" in (rows[0].error or "")
    assert EXECUTIONS == []


async def test_misfire_within_grace_is_a_normal_run(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    latest, before = year_ago_fire("every 1h", clock)  # grace 2 h: the newest fire is on time
    await seen_before(session_factory, "hourly_lenient", before)
    async with schedulers(session_factory, jobs("hourly_lenient"), clock=clock):
        rows = await eventually(
            lambda: _with_status(session_factory, "hourly_lenient", "schedule", "succeeded")
        )
    assert [utc(r.scheduled_for) for r in rows] == [latest]


async def test_a_job_that_never_ran_has_nothing_to_catch_up(
    session_factory: SessionFactory,
) -> None:
    async with schedulers(session_factory, jobs("yearly")):
        await asyncio.sleep(0.5)
    assert await runs_of(session_factory, "yearly") == []


async def _with_status(
    session_factory: SessionFactory, job: str, trigger: str, status: str
) -> list[JobRun]:
    rows = await runs_of(session_factory, job)
    found = [r for r in rows if r.trigger == trigger and r.status == status]
    return [r for r in found if r.worker != "long-gone"]  # not the run seen_before() left


# --- manual runs: timeout, cancel, progress, log, failure -----------------------------------


@contextlib.asynccontextmanager
async def one_scheduler(
    session_factory: SessionFactory, *names: str, clock: Clock = SYSTEM_CLOCK
) -> AsyncIterator[tuple[Scheduler, JobsService]]:
    broker = MemoryBroker()  # shared: the service's messages wake this scheduler
    definitions = jobs(*names)
    async with schedulers(session_factory, definitions, broker=broker, clock=clock) as (scheduler,):
        yield scheduler, JobsService(definitions, session_factory, broker, clock=clock)


async def test_run_now_is_picked_up_at_once(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    async with one_scheduler(session_factory, "yearly", clock=clock) as (_, service):
        run_id = await service.run_now("yearly", ANNA)
        done = await finished(session_factory, run_id)
    assert done.status == "succeeded"
    assert (done.trigger, done.triggered_by, done.worker) == ("manual", "ops-anna", "worker-0")
    # The clock never moved, so no heartbeat ran: the channel woke the scheduler.
    assert utc(done.started_at) == utc(done.scheduled_for) == clock.now()


async def test_timeout_marks_the_run_timed_out(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    async with one_scheduler(session_factory, "too_slow", clock=clock) as (_, service):
        run_id = await service.run_now("too_slow", ANNA)
        await started(session_factory, run_id)

        async def timing_it() -> bool:  # the heartbeat, the fire loop, and the run's timeout
            return clock.sleeping == 3

        await eventually(timing_it)
        await clock.advance(0.29)
        assert (await run(session_factory, run_id)).status == "running"
        await clock.advance(0.01)
        done = await finished(session_factory, run_id)
    assert done.status == "timed_out"
    assert done.error == "stopped after its timeout of 0.3 s"
    assert done.duration_s == pytest.approx(0.3)


async def test_a_job_raising_timeout_error_itself_has_failed(
    session_factory: SessionFactory,
) -> None:
    async with one_scheduler(session_factory, "gives_up") as (_, service):
        done = await finished(session_factory, await service.run_now("gives_up", ANNA))
    assert done.status == "failed"
    assert done.error == "TimeoutError: the upstream API took too long"
    assert done.traceback is not None


async def test_cancel_a_running_run(session_factory: SessionFactory) -> None:
    async with one_scheduler(session_factory, "sleeper") as (scheduler, service):
        run_id = await service.run_now("sleeper", ANNA)
        await started(session_factory, run_id)
        assert await service.cancel(run_id, ANNA)
        done = await finished(session_factory, run_id)
        # The row is written first; the run leaves the scheduler's books once its end is told.
        await eventually(lambda: _left(scheduler, run_id))
    assert done.status == "failed"
    assert done.error == "cancelled by ops-anna"
    assert "going to sleep" in done.log


async def test_cancel_reaches_the_run_without_the_channel(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    """A lost cancel message: the owner's heartbeat sees cancel_requested in the row."""
    definitions = jobs("sleeper")
    async with schedulers(session_factory, definitions, clock=clock):
        service = JobsService(definitions, session_factory, MemoryBroker())  # nobody listens
        run_id = await service.run_now("sleeper", ANNA)
        await started(session_factory, run_id, clock)  # taken by the heartbeat: no wake either
        await service.cancel(run_id, ANNA)
        done = await finished(session_factory, run_id, clock)
    assert done.status == "failed"
    assert done.error is not None and done.error.startswith("cancelled by")


async def queued_yearly_run(
    session_factory: SessionFactory,
) -> tuple[dict[str, JobDefinition], JobsService, int]:
    """The yearly job's row synced, no scheduler running, and a manual run of it queued."""
    definitions = jobs("yearly")
    service = JobsService(definitions, session_factory, MemoryBroker())
    async with schedulers(session_factory, definitions):
        pass  # synced the job's row
    return definitions, service, await service.run_now("yearly", ANNA)


async def test_of_several_cancelling_a_queued_run_at_once_one_does_it_and_is_recorded(
    session_factory: SessionFactory,
) -> None:
    _, service, run_id = await queued_yearly_run(session_factory)
    answers = await asyncio.gather(*(service.cancel(run_id, ANNA) for _ in range(4)))
    assert sorted(answers) == [False, False, False, True]
    async with session_factory() as session:
        cancels = await session.scalars(select(AuditEntry).where(AuditEntry.action == "job-cancel"))
        assert len(cancels.all()) == 1
    assert (await run(session_factory, run_id)).error == "cancelled by ops-anna before it started"


async def test_cancel_a_queued_run_means_it_never_starts(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    definitions, service, run_id = await queued_yearly_run(session_factory)
    assert await service.cancel(run_id, ANNA)
    assert not await service.cancel(run_id, ANNA)  # finished already: nothing to do
    control = await service.run_now("yearly", ANNA)  # not cancelled: taken at start
    async with schedulers(session_factory, definitions, clock=clock):
        assert (await finished(session_factory, control)).status == "succeeded"
        for _ in range(3):  # heartbeats, each looking for queued runs

            async def heartbeat_over() -> bool:  # back asleep: the heartbeat and the fire loop
                return clock.sleeping == 2

            await clock.advance(HEARTBEAT_S)
            await eventually(heartbeat_over)
    done = await run(session_factory, run_id)
    assert done.status == "failed"
    assert done.error == "cancelled by ops-anna before it started"
    assert done.started_at is None
    assert [e.run_id for e in EXECUTIONS] == [control]


async def test_progress_and_log_are_saved_and_the_log_is_capped(
    session_factory: SessionFactory,
) -> None:
    broker = MemoryBroker()
    frames = await broker.subscribe(["jobs"])
    definitions = jobs("chatty")
    async with schedulers(session_factory, definitions, broker=broker):
        service = JobsService(definitions, session_factory, broker)
        run_id = await service.run_now("chatty", ANNA)
        done = await finished(session_factory, run_id)
    assert done.status == "succeeded"
    assert done.progress == 1.0
    assert done.progress_message == "three quarters"
    assert done.log.endswith(TRUNCATED)
    assert len(done.log) <= LOG_LIMIT + len(TRUNCATED)
    assert "line 00000" in done.log
    assert "line 01999" not in done.log
    seen = []
    while frames.qsize():
        seen.append((await frames.get()).data)
    mine = [f for f in seen if f["run_id"] == run_id]
    assert mine[0]["status"] == "queued"  # run_now tells open pages before a scheduler starts it
    mine = mine[1:]
    assert {"type": "job", "name": "chatty", "run_id": run_id, "status": "running"}.items() <= (
        mine[0].items()
    )
    # Throttled: the report sends the newest progress when it goes out.
    assert any(f["progress"] in (0.5, 0.75) and f["message"] for f in mine[1:-1]), mine
    assert mine[-1]["status"] == "succeeded"


async def test_a_failed_run_tells_the_ops_group_with_a_link(
    session_factory: SessionFactory,
) -> None:
    async with session_factory.begin() as session:
        session.add(Group(name="ops", permissions=[]))
    async with one_scheduler(session_factory, "broken") as (_, service):
        run_id = await service.run_now("broken", ANNA)
        done = await finished(session_factory, run_id)

        async def told() -> Notification | None:
            async with session_factory() as session:
                return await session.scalar(select(Notification))

        notification = await eventually(told)
    assert done.status == "failed"
    assert done.error == "RuntimeError: the printer is on fire"
    assert done.traceback is not None and "the printer is on fire" in done.traceback
    assert notification.audience == "group"
    assert notification.title == "Job broken failed"
    assert notification.level == "error"
    assert notification.link == f"/admin/jobs/broken/runs/{run_id}"


async def test_a_failed_run_without_an_ops_group_is_still_recorded(
    session_factory: SessionFactory,
) -> None:
    async with one_scheduler(session_factory, "broken") as (_, service):
        run_id = await service.run_now("broken", ANNA)
        done = await finished(session_factory, run_id)
    assert done.status == "failed"


async def test_sync_jobs_run_in_a_thread(session_factory: SessionFactory) -> None:
    runner_jobs.BLOCKING_BEGUN.clear()
    runner_jobs.RELEASE_BLOCKING.clear()
    async with one_scheduler(session_factory, "blocking", "yearly") as (_, service):
        slow = await service.run_now("blocking", ANNA)
        assert await asyncio.to_thread(runner_jobs.BLOCKING_BEGUN.wait, 10)
        # The sync job holds its thread until released: meanwhile the event loop runs another.
        quick_done = await finished(session_factory, await service.run_now("yearly", ANNA))
        runner_jobs.RELEASE_BLOCKING.set()
        slow_done = await finished(session_factory, slow)
    assert slow_done.status == "succeeded", slow_done.error
    assert utc(quick_done.finished_at) < utc(slow_done.finished_at)
    thread = next(e.thread for e in EXECUTIONS if e.job == "blocking")
    assert thread != "MainThread"
    assert f"ran in {thread}" in slow_done.log


async def test_a_job_reads_live_settings(session_factory: SessionFactory) -> None:
    async with one_scheduler(session_factory, "reads_setting") as (_, service):
        done = await finished(session_factory, await service.run_now("reads_setting", ANNA))
    assert "threshold=7" in done.log


async def test_runs_asked_for_with_arguments_each_run_with_their_own(
    session_factory: SessionFactory,
) -> None:
    """Two requests with arguments are two runs (never merged as two clicks of "run now" are),
    each reading its own; a fire or a plain "run now" reads none."""
    async with one_scheduler(session_factory, "says_arguments") as (_, service):
        first = await service.request_run("says_arguments", ANNA, {"model": "order", "rows": 3})
        second = await service.request_run("says_arguments", ANNA, {"model": "ticket"})
        plain = await service.run_now("says_arguments", ANNA)
        done = [await finished(session_factory, run.run_id) for run in (first, second)]
        plain_done = await finished(session_factory, plain)
    assert not first.already_queued and not second.already_queued
    assert len({first.run_id, second.run_id, plain}) == 3
    assert "ops-anna asked for {'model': 'order', 'rows': 3}" in done[0].log
    assert "ops-anna asked for {'model': 'ticket'}" in done[1].log
    assert "ops-anna asked for {}" in plain_done.log
    assert (done[0].arguments, plain_done.arguments) == ({"model": "order", "rows": 3}, None)


async def test_cancelling_a_sync_job_stops_its_thread_at_its_next_report(
    session_factory: SessionFactory,
) -> None:
    runner_jobs.RETURNED["reports_forever"] = threading.Event()
    async with one_scheduler(session_factory, "reports_forever") as (scheduler, service):
        run_id = await service.run_now("reports_forever", ANNA)
        await started(session_factory, run_id)

        async def reporting() -> bool:
            return runner_jobs.LOGGED.get("reports_forever", 0) >= 5

        await eventually(reporting)
        assert await service.cancel(run_id, ANNA)
        returned = await asyncio.to_thread(runner_jobs.RETURNED["reports_forever"].wait, 1.0)
        assert returned, "the job still runs in its thread a second after the cancel"
        logged = runner_jobs.LOGGED["reports_forever"]
        done = await finished(session_factory, run_id)
        await eventually(lambda: _left(scheduler, run_id))
        await asyncio.sleep(0.1)
    assert runner_jobs.LOGGED["reports_forever"] == logged < runner_jobs.LOOP_LIMIT
    assert done.status == "failed"
    assert done.error == "cancelled by ops-anna"
    # The stored log ends with the last line the job wrote before it stopped.
    lines = done.log.splitlines()
    assert len(lines) == logged
    assert lines[-1].endswith(f"step {logged - 1}")


async def test_a_cancelled_sync_job_stays_running_until_its_thread_ends(
    session_factory: SessionFactory,
) -> None:
    """While the thread finishes (its clean-up), the run is `running` with its cancel asked
    (the pages say cancelling), and no other run of the job starts."""
    runner_jobs.CLEANING_UP.clear()
    runner_jobs.CLEANED_UP.clear()
    runner_jobs.RETURNED["slow_to_stop"] = threading.Event()
    try:
        async with one_scheduler(session_factory, "slow_to_stop") as (_, service):
            run_id = await service.run_now("slow_to_stop", ANNA)
            await started(session_factory, run_id)
            assert await service.cancel(run_id, ANNA)
            assert await asyncio.to_thread(runner_jobs.CLEANING_UP.wait, WAIT_S)
            next_run = await service.run_now("slow_to_stop", ANNA)
            await asyncio.sleep(3 * HEARTBEAT_S)  # heartbeats that would cancel again and start
            stopping, waiting = (
                await run(session_factory, run_id),
                await run(session_factory, next_run),
            )
            assert (stopping.status, stopping.cancel_requested) == ("running", True)
            assert stopping.finished_at is None
            assert waiting.status == "queued"
            released_at = dt.datetime.now(dt.UTC)
            runner_jobs.CLEANED_UP.set()
            done = await finished(session_factory, run_id)
            later = await started(session_factory, next_run)
    finally:
        runner_jobs.CLEANED_UP.set()
    assert done.status == "failed"
    assert done.error == "cancelled by ops-anna"
    assert utc(done.finished_at) >= released_at
    assert utc(later.started_at) >= utc(done.finished_at)
    assert runner_jobs.RETURNED["slow_to_stop"].is_set()


async def test_a_sync_job_past_its_timeout_stops_at_its_next_report(
    session_factory: SessionFactory,
) -> None:
    runner_jobs.RETURNED["sync_too_slow"] = threading.Event()
    async with one_scheduler(session_factory, "sync_too_slow") as (_, service):
        run_id = await service.run_now("sync_too_slow", ANNA)
        done = await finished(session_factory, run_id)
        returned = runner_jobs.RETURNED["sync_too_slow"].is_set()
    assert returned, "the run was recorded while the job still ran in its thread"
    assert done.status == "timed_out"
    assert done.error == "stopped after its timeout of 0.3 s"
    assert done.duration_s is not None and 0.3 <= done.duration_s < 1.3


# --- abandoned runs -------------------------------------------------------------------------


async def test_a_dead_process_run_is_abandoned_and_the_next_fire_runs(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    """A run left `running` by a process that died: once its lease is over it is abandoned,
    the ops group hears of it, and the job (overlap skip) fires again."""
    async with session_factory.begin() as session:
        session.add(Group(name="ops", permissions=[]))
        await session.merge(ScheduledJob(name="tick", schedule="every 1s", edited=[]))
        await session.flush()
        session.add(
            JobRun(
                job="tick",
                trigger="schedule",
                scheduled_for=clock.now() - dt.timedelta(days=1),
                status="running",
                started_at=clock.now() - dt.timedelta(seconds=30),
                worker="dead-host:4242",
                lease_until=clock.now() + dt.timedelta(seconds=1),
                log="",
            )
        )
    async with schedulers(session_factory, jobs("tick"), clock=clock):
        await clock.advance(0.5)  # a fire, while the dead process's run still holds its lease
        skipped = await fire_has(session_factory, "tick", clock.now(), "skipped")
        abandoned = await advancing(
            clock, lambda: _with_status(session_factory, "tick", "schedule", "abandoned")
        )
        assert utc(abandoned[0].finished_at) > utc(abandoned[0].lease_until)
        await advancing(
            clock, lambda: _with_status(session_factory, "tick", "schedule", "succeeded")
        )
    assert skipped.error == "the previous run was still running"
    assert abandoned[0].worker == "dead-host:4242"
    assert abandoned[0].finished_at is not None
    assert "lease" in (abandoned[0].error or "")
    async with session_factory() as session:
        titles = list(await session.scalars(select(Notification.title)))
    assert "Job tick abandoned" in titles


async def test_a_frozen_scheduler_loses_its_run_to_the_lease(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    """One of two schedulers stops heartbeating mid-run (its process hangs, then dies):
    the other one marks the run abandoned after the lease."""
    definitions = jobs("sleeper")
    broker = MemoryBroker()
    doomed = Scheduler(
        definitions, session_factory, broker, LIVE, timing=FAST, worker="doomed", clock=clock
    )
    await doomed.start()
    try:
        service = JobsService(definitions, session_factory, broker, clock=clock)
        run_id = await service.run_now("sleeper", ANNA)
        await started(session_factory, run_id)
        for task in doomed._tasks:  # its loops stop: no more lease renewals
            task.cancel()
        frozen_at = clock.now()
        async with schedulers(session_factory, definitions, clock=clock) as (survivor,):
            done = await finished(session_factory, run_id, clock)
            assert survivor.worker == "worker-0"
        assert done.status == "abandoned"
        assert done.worker == "doomed"
        # Not before its lease ran out.
        assert utc(done.finished_at) > frozen_at + dt.timedelta(seconds=FAST.lease)
    finally:
        # The process dies: its run task goes without writing anything.
        for running in doomed.running.values():
            running.task.cancel()
        doomed._tasks = []
        doomed.running = {}
        doomed.session_factory = _no_database  # type: ignore[assignment]
        with contextlib.suppress(Exception):
            await doomed.stop()
    assert (await run(session_factory, run_id)).status == "abandoned"


def _no_database() -> Any:
    raise RuntimeError("this process is dead")


async def test_a_run_that_could_not_be_recorded_is_not_kept_alive_by_the_heartbeat(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    """If recording a run's end fails (database away), its row must not stay `running` for
    ever with a renewed lease: it is abandoned once the lease is over."""
    async with one_scheduler(session_factory, "yearly", clock=clock) as (scheduler, service):

        async def lost(*args: Any, **kwargs: Any) -> None:
            raise ConnectionError("database away")

        scheduler._finish = lost  # type: ignore[method-assign]
        run_id = await service.run_now("yearly", ANNA)
        await eventually(lambda: _left(scheduler, run_id))
        ended_at = clock.now()
        done = await finished(session_factory, run_id, clock)
    assert done.status == "abandoned"
    assert utc(done.finished_at) > ended_at + dt.timedelta(seconds=FAST.lease)
    assert done.error is not None and "no heartbeat before the lease ran out" in done.error
    # The job itself ran once; only recording its end failed, and nothing ran it again.
    assert [(e.job, e.run_id) for e in EXECUTIONS] == [("yearly", run_id)]


class EndWriteFails:
    """An injected fault: a session factory whose first `failures` writes of a run's end (an
    UPDATE setting `succeeded`) raise OperationalError, as when the database is away."""

    def __init__(self, factory: SessionFactory, failures: int) -> None:
        self.factory = factory
        self.failures = failures
        self.attempts = 0

    def __call__(self) -> AsyncSession:
        session = self.factory()
        real = session.execute

        async def execute(statement: Any, *args: Any, **kwargs: Any) -> Any:
            ends = isinstance(statement, Update) and (
                statement.compile().params.get("status") == "succeeded"
            )
            if ends:
                self.attempts += 1
                if self.failures:
                    self.failures -= 1
                    raise OperationalError("UPDATE job_run", {}, ConnectionError("away"))
            return await real(statement, *args, **kwargs)

        session.execute = execute  # type: ignore[method-assign]
        return session


async def test_a_run_whose_end_cannot_be_written_at_first_ends_with_its_real_outcome(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    """The database is away when the run ends: its end is written once it is back, with the
    time it really ended, instead of the run being abandoned when its lease runs out."""
    async with one_scheduler(session_factory, "yearly", clock=clock) as (scheduler, service):
        flaky = EndWriteFails(session_factory, failures=3)
        scheduler.session_factory = flaky  # type: ignore[assignment]
        run_id = await service.run_now("yearly", ANNA)
        ended_at = clock.now()  # the clock stands still until the job has ended
        await eventually(lambda: _attempted(flaky, 1))
        assert (await run(session_factory, run_id)).status == "running"
        done = await finished(session_factory, run_id, clock)
        retried_until = clock.now()
    assert done.status == "succeeded"
    assert flaky.attempts == 4
    assert utc(done.finished_at) == ended_at
    assert retried_until - ended_at > dt.timedelta(seconds=FAST.lease)  # past the lease
    assert done.error is None and done.lease_until is None
    assert [(e.job, e.run_id) for e in EXECUTIONS] == [("yearly", run_id)]


async def test_a_long_last_progress_message_does_not_keep_the_end_from_being_written(
    session_factory: SessionFactory,
) -> None:
    async with one_scheduler(session_factory, "says_much") as (_, service):
        done = await finished(session_factory, await service.run_now("says_much", ANNA))
    assert done.status == "succeeded"
    assert done.progress_message == ("done: " + "x" * 400)[:300]


async def test_a_run_end_is_retried_for_a_bounded_time_then_left_to_the_lease(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    definitions = jobs("yearly")
    broker = MemoryBroker()
    timing = replace(FAST, record_end_for=2.0)
    async with schedulers(
        session_factory, definitions, broker=broker, timing=timing, clock=clock
    ) as (scheduler,):
        flaky = EndWriteFails(session_factory, failures=1000)
        scheduler.session_factory = flaky  # type: ignore[assignment]
        service = JobsService(definitions, session_factory, broker, clock=clock)
        run_id = await service.run_now("yearly", ANNA)
        await eventually(lambda: _attempted(flaky, 1))
        await advancing(clock, lambda: _left(scheduler, run_id))
        given_up_at = clock.now()
        done = await finished(session_factory, run_id, clock)
    # 0.5 + 1 s of waits fit in 2 s; the next (2 s) would not.
    assert flaky.attempts == 3
    assert done.status == "abandoned"
    assert utc(done.finished_at) > given_up_at


async def _attempted(flaky: EndWriteFails, times: int) -> bool:
    return flaky.attempts >= times


async def _left(scheduler: Scheduler, run_id: int) -> bool:
    return run_id not in scheduler.running


# --- sync from code ------------------------------------------------------------------------


async def job_row(session_factory: SessionFactory, name: str) -> ScheduledJob:
    async with session_factory() as session:
        row = await session.get(ScheduledJob, name)
        assert row is not None
        return row


async def test_sync_adds_new_jobs_orphans_removed_ones_and_keeps_browser_edits(
    session_factory: SessionFactory,
) -> None:
    async with schedulers(session_factory, jobs("yearly", "yearly_skip")):
        pass
    service = JobsService(jobs("yearly", "yearly_skip"), session_factory, MemoryBroker())
    await service.edit("yearly", JobEdit(schedule="0 4 * * *", overlap="allow"), ANNA)
    # A new release: yearly_skip is gone, tick is new, yearly's code schedule changed too.
    changed = jobs("yearly", "tick", yearly={"schedule": "0 5 * * *", "timeout": 60.0})
    async with schedulers(session_factory, changed, timing=replace(FAST, heartbeat=60)):
        pass
    yearly = await job_row(session_factory, "yearly")
    assert (yearly.schedule, yearly.overlap) == ("0 4 * * *", "allow")  # the operator's
    assert yearly.timeout_s == 60.0  # not edited: the code's new value
    assert sorted(yearly.edited) == ["overlap", "schedule"]
    gone = await job_row(session_factory, "yearly_skip")
    assert (gone.orphaned, gone.enabled) == (True, False)
    assert (await job_row(session_factory, "tick")).schedule == "every 1s"

    service = JobsService(changed, session_factory, MemoryBroker())
    changes = await service.reset_to_code("yearly", ANNA)
    assert changes == {"schedule": "0 5 * * *", "overlap": "skip"}
    yearly = await job_row(session_factory, "yearly")
    assert (yearly.schedule, yearly.overlap, yearly.edited) == ("0 5 * * *", "skip", [])

    # Back in the code: no longer orphaned (enabled again as the code says).
    async with schedulers(session_factory, jobs("yearly", "yearly_skip", "tick")):
        pass
    back = await job_row(session_factory, "yearly_skip")
    assert (back.orphaned, back.enabled) == (False, True)


async def test_an_edit_reaches_running_schedulers_at_once(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    broker = MemoryBroker()
    definitions = jobs("tick")
    # The clock stands still: no heartbeat runs, so only the channel can bring the edit.
    async with schedulers(session_factory, definitions, broker=broker, clock=clock) as (scheduler,):
        service = JobsService(definitions, session_factory, broker, clock=clock)
        await service.edit("tick", JobEdit(schedule="0 3 1 1 *"), ANNA)
        await eventually(lambda: _planned(scheduler, "tick", "0 3 1 1 *"))
        next_fire = scheduler.planned["tick"].next_fire
        assert next_fire is not None and next_fire > clock.now() + dt.timedelta(days=1)
        await service.edit("tick", JobEdit(enabled=False), ANNA)
        await eventually(lambda: _disabled(scheduler, "tick"))
    assert clock.monotonic() == 0


async def test_a_lost_edit_message_is_healed_by_the_heartbeat(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    definitions = jobs("tick")
    async with schedulers(session_factory, definitions, clock=clock) as (scheduler,):
        service = JobsService(definitions, session_factory, MemoryBroker())  # nobody listens
        await service.edit("tick", JobEdit(schedule="0 3 1 1 *"), ANNA)
        await asyncio.sleep(0.1)
        assert scheduler.planned["tick"].row.schedule == "every 1s"  # not heard
        await clock.advance(0.4)  # short of the first fire: the heartbeat alone
        await eventually(lambda: _planned(scheduler, "tick", "0 3 1 1 *"))


async def _planned(scheduler: Scheduler, name: str, schedule: str) -> bool:
    return scheduler.planned[name].row.schedule == schedule


async def _disabled(scheduler: Scheduler, name: str) -> bool:
    return scheduler.planned[name].next_fire is None


async def test_reloading_a_job_keeps_its_pending_fire(session_factory: SessionFactory) -> None:
    """An edit that does not touch the timing (or a heal) must not drop a fire that is due."""
    definitions = jobs("tick")
    scheduler = Scheduler(definitions, session_factory, MemoryBroker(), LIVE, timing=FAST)
    async with schedulers(session_factory, definitions):
        pass  # the row exists
    await scheduler.reload_all()
    due = claims.now() - dt.timedelta(milliseconds=5)  # due, not yet popped by the fire loop
    scheduler.planned["tick"].next_fire = due
    scheduler._rebuild_heap()
    async with session_factory.begin() as session:
        await session.execute(
            update(ScheduledJob).values(timeout_s=5.0, revision=ScheduledJob.revision + 1)
        )
    await scheduler.reload_job("tick")
    assert scheduler.planned["tick"].next_fire == due
    await scheduler.reload_all()
    assert scheduler.planned["tick"].next_fire == due


# --- rows written around the checks --------------------------------------------------------

BROKEN = {
    "yearly": broken_rows.UNPARSABLE,
    "yearly_skip": broken_rows.NEVER_FIRES,
    "sleeper": broken_rows.UNKNOWN_ZONE,
}


async def ops_told(session_factory: SessionFactory) -> list[tuple[str, str, str | None]]:
    async with session_factory() as session:
        query = select(Notification.title, Notification.body, Notification.link)
        return sorted(tuple(row) for row in (await session.execute(query)).all())


async def test_broken_rows_are_skipped_while_others_fire_and_ops_are_told_once(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    """Rows broken by SQL: schedulers start, the every-second job keeps firing, the broken ones
    are never planned, and ops hear of each once: not per scheduler, reload, tick or restart."""
    definitions = jobs("tick", *BROKEN)
    async with schedulers(session_factory, definitions, timing=replace(FAST, heartbeat=60)):
        pass  # the rows, as the code declares them
    async with session_factory.begin() as session:
        session.add(Group(name="ops", permissions=[]))
        for name, broken in BROKEN.items():
            await broken_rows.write(session, name, broken)

    async with schedulers(session_factory, definitions, 2, clock=clock) as started:
        for n in range(3):
            await clock.advance(0.5 if n == 0 else 1.0)
            fire = clock.now().replace(microsecond=0)
            await fire_has(session_factory, "tick", fire, "succeeded")
        for scheduler in started:
            await scheduler.reload_all()
            for name, broken in BROKEN.items():
                await scheduler.reload_job(name)
                assert scheduler.planned[name].broken == broken.reason
                assert scheduler.planned[name].next_fire is None
    async with schedulers(session_factory, definitions, timing=replace(FAST, heartbeat=60)):
        pass  # a restart

    assert await ops_told(session_factory) == sorted(
        (f"Job {name} is not scheduled", broken.reason, f"/admin/jobs/{name}")
        for name, broken in BROKEN.items()
    )
    assert {e.job for e in EXECUTIONS} == {"tick"}


async def test_a_broken_job_mended_by_an_edit_is_scheduled_again(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    async with schedulers(session_factory, jobs("yearly"), timing=replace(FAST, heartbeat=60)):
        pass
    async with session_factory.begin() as session:
        await broken_rows.write(session, "yearly", broken_rows.NEVER_FIRES)
    async with one_scheduler(session_factory, "yearly", clock=clock) as (scheduler, service):
        assert scheduler.planned["yearly"].next_fire is None
        await service.edit("yearly", JobEdit(schedule="every 1s"), ANNA)
        await eventually(lambda: _planned(scheduler, "yearly", "every 1s"))
        assert scheduler.planned["yearly"].broken is None
        await clock.advance(0.5)
        await fire_has(session_factory, "yearly", clock.now().replace(microsecond=0), "succeeded")
    assert await ops_told(session_factory) == []  # no ops group here: nobody to tell


# --- daylight saving at the runner's level ------------------------------------------------


async def test_a_paris_every_minute_job_across_the_autumn_change_is_claimed_once_per_fire(
    session_factory: SessionFactory,
) -> None:
    """Two schedulers plan a `* * * * *` Europe/Paris job across 2026-10-25 (03:00 CEST →
    02:00 CET) and claim each fire: every minute of the repeated 02:xx hour runs in both passes
    (a wildcard runs by the clock), nothing runs twice."""
    definitions = jobs("yearly", yearly={"schedule": "* * * * *", "timezone": "Europe/Paris"})
    start = dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)  # 02:30 CEST
    end = dt.datetime(2026, 10, 25, 2, 30, tzinfo=dt.UTC)  # 03:30 CET
    async with schedulers(session_factory, definitions, timing=replace(FAST, heartbeat=60)):
        pass  # the job's row
    claimed: dict[str, list[dt.datetime]] = {}
    for worker in ("w0", "w1"):
        scheduler = Scheduler(definitions, session_factory, MemoryBroker(), LIVE, worker=worker)
        await scheduler.reload_all()
        planned = scheduler.planned["yearly"]
        scheduler._plan(planned.row, after=start - dt.timedelta(seconds=1))
        planned = scheduler.planned["yearly"]
        assert planned.schedule is not None and planned.next_fire == start
        fire, claimed[worker] = planned.next_fire, []
        while fire <= end:  # as the fire loop steps: next_after(the fire just taken)
            async with session_factory.begin() as session:
                won = await claims.claim_fire(
                    session,
                    "yearly",
                    fire,
                    trigger="schedule",
                    status="skipped",
                    worker=worker,
                    lease=dt.timedelta(seconds=1),
                    now=fire,
                )
            if won is not None:
                claimed[worker].append(fire)
            fire = planned.schedule.next_after(fire)
    minute = dt.timedelta(minutes=1)
    expected = [start + n * minute for n in range(30)]  # 02:30 to 02:59 CEST
    expected += [end - 90 * minute + n * minute for n in range(91)]  # 02:00 to 03:30 CET
    assert claimed == {"w0": expected, "w1": []}
