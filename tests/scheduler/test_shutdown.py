"""At shutdown, running jobs get JOB_SHUTDOWN_GRACE_S to finish; past it they are cancelled and
recorded `failed`, `cancelled by shutdown` (docs/reference.md). The Scheduler runs in-process."""

from __future__ import annotations

import asyncio
import sys
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.current import Actor
from app.channels.memory import MemoryBroker
from app.constance import DeclaredSettings, LiveSettings
from app.scheduler import JobContext, job
from app.scheduler.registry import jobs_in
from app.scheduler.runner import Scheduler, Timing
from app.scheduler.service import JobsService
from tests.conftest import make_config
from tests.scheduler.test_runner import eventually, run

SessionFactory = async_sessionmaker[AsyncSession]
RARELY = "0 3 1 1 *"  # started only by run_now here
OPS = Actor(user_id=None, username="ops", client_address=None)
# Generous: a busy machine may be slow to start a run or to record its end, never early.
SLACK_S = 4.0


@job(RARELY)
async def finishes_soon(ctx: JobContext) -> None:
    ctx.log("started")
    await asyncio.sleep(0.3)
    ctx.log("finished its work")


@job(RARELY)
async def outlasts_the_grace(ctx: JobContext) -> None:
    ctx.log("started")
    await asyncio.sleep(60)
    ctx.log("never reached")


DEFINITIONS = jobs_in(sys.modules[__name__])


async def scheduler_with_grace(
    session_factory: SessionFactory, database_url: str, grace: float
) -> tuple[Scheduler, JobsService]:
    config = make_config(database_url, job_lease=5.0, job_heartbeat=0.5, job_shutdown_grace=grace)
    broker = MemoryBroker()  # shared: run_now wakes this scheduler
    scheduler = Scheduler(
        DEFINITIONS,
        session_factory,
        broker,
        LiveSettings(DeclaredSettings([])),
        timing=Timing.of(config),
        worker="stopping",
    )
    await scheduler.start()
    return scheduler, JobsService(DEFINITIONS, session_factory, broker)


async def start_runs(
    session_factory: SessionFactory, service: JobsService, *names: str
) -> list[int]:
    run_ids = [await service.run_now(name, OPS) for name in names]
    for run_id in run_ids:

        async def running(run_id: int = run_id) -> bool:
            return (await run(session_factory, run_id)).status == "running"

        await eventually(running)
    return run_ids


async def test_a_job_that_finishes_inside_the_grace_succeeds_and_one_that_does_not_is_cancelled(
    session_factory: SessionFactory, database_url: str
) -> None:
    grace = 1.5
    scheduler, service = await scheduler_with_grace(session_factory, database_url, grace)
    quick, slow = await start_runs(session_factory, service, "finishes_soon", "outlasts_the_grace")

    began = time.monotonic()
    await scheduler.stop()
    took = time.monotonic() - began

    finished = await run(session_factory, quick)
    assert (finished.status, finished.error) == ("succeeded", None)
    assert "finished its work" in finished.log
    cancelled = await run(session_factory, slow)
    assert (cancelled.status, cancelled.error) == ("failed", "cancelled by shutdown")
    assert cancelled.finished_at is not None
    assert "never reached" not in cancelled.log
    assert scheduler.running == {}
    # It waited out the grace for the slow one, then returned soon after cancelling it.
    assert grace * 0.9 <= took < grace + SLACK_S, took


async def test_shutdown_returns_once_running_jobs_finish_without_waiting_out_the_grace(
    session_factory: SessionFactory, database_url: str
) -> None:
    grace = 30.0
    scheduler, service = await scheduler_with_grace(session_factory, database_url, grace)
    [quick] = await start_runs(session_factory, service, "finishes_soon")

    began = time.monotonic()
    await scheduler.stop()
    took = time.monotonic() - began

    finished = await run(session_factory, quick)
    assert (finished.status, finished.error) == ("succeeded", None)
    assert took < grace / 3, took
