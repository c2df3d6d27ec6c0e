"""JobsService on SQLite and PostgreSQL: checked edits that lose nothing, audit, run, cancel."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.current import Actor
from app.channels.memory import MemoryBroker
from app.clock import FakeClock
from app.db import as_utc
from app.models import AuditEntry, JobRun, ScheduledJob
from app.scheduler.registry import jobs_in
from app.scheduler.runner import SCHEDULER_CHANNEL
from app.scheduler.service import JobEdit, JobError, JobsService, UnknownJob
from app.scheduler.sync import sync_jobs
from tests.scheduler import runner_jobs
from tests.scheduler.test_schedules import TOO_LONG

SessionFactory = async_sessionmaker[AsyncSession]
ANNA = Actor(user_id=None, username="ops-anna", client_address="198.51.100.4")
DEFINITIONS = {name: d for name, d in jobs_in(runner_jobs).items() if name in ("tick", "yearly")}


@pytest.fixture
async def service(session_factory: SessionFactory) -> JobsService:
    async with session_factory.begin() as session:
        await sync_jobs(session, DEFINITIONS, "UTC")
    return JobsService(DEFINITIONS, session_factory, MemoryBroker())


async def row(session_factory: SessionFactory, name: str = "tick") -> ScheduledJob:
    async with session_factory() as session:
        found = await session.get(ScheduledJob, name)
        assert found is not None
        return found


async def audit(session_factory: SessionFactory) -> list[AuditEntry]:
    async with session_factory() as session:
        return list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def state(job: ScheduledJob) -> dict[str, Any]:
    return {
        k: getattr(job, k)
        for k in ("schedule", "timezone", "enabled", "timeout_s", "overlap", "misfire", "revision")
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (JobEdit(schedule="61 * * * *"), "invalid schedule '61 * * * *': minute must be 0-59"),
        (JobEdit(schedule="* 24 * * *"), "hour must be 0-23"),
        (JobEdit(schedule="every 0s"), "an interval must be at least 1"),
        (JobEdit(schedule="daily"), "1 fields; expected 5-field cron"),
        (JobEdit(schedule="0 0 30 2 *"), "never fires: day of month 30 never falls in month 2"),
        (JobEdit(schedule=TOO_LONG), "at most 200 characters, got 202"),
        (JobEdit(timezone="Mars/Olympus"), "timezone 'Mars/Olympus': expected an IANA name"),
        (JobEdit(timezone="x" * 300), "expected an IANA name"),
        (JobEdit(timezone="localtime"), "timezone 'localtime': expected an IANA name"),
        (JobEdit(timeout_s=-1), "timeout: expected seconds from 1 to 604800"),
        (JobEdit(overlap="sometimes"), "overlap: expected one of skip, queue, allow"),
        (JobEdit(misfire="later"), "misfire: expected one of run_once, skip"),
        (JobEdit(misfire_grace_s=-5), "misfire grace: expected seconds from 0 to 86400"),
        # A good field with a bad one: nothing of either is saved.
        (JobEdit(enabled=False, schedule="0 0 32 * *"), "day of month must be 1-31"),
    ],
)
async def test_an_invalid_edit_names_the_field_and_saves_nothing(
    service: JobsService, session_factory: SessionFactory, edit: JobEdit, message: str
) -> None:
    before = state(await row(session_factory))
    with pytest.raises(JobError) as raised:
        await service.edit("tick", edit, ANNA)
    assert message in str(raised.value)
    assert state(await row(session_factory)) == before
    assert await audit(session_factory) == []


async def test_an_edit_is_saved_marked_audited_and_announced(
    service: JobsService, session_factory: SessionFactory
) -> None:
    heard = await service.broker.subscribe([SCHEDULER_CHANNEL])
    before = await row(session_factory)
    changes = await service.edit(
        "tick", JobEdit(schedule="*/5  * * * *", timeout_s=30, overlap="queue"), ANNA
    )
    assert changes == {"schedule": "*/5 * * * *", "timeout_s": 30.0, "overlap": "queue"}
    after = await row(session_factory)
    assert (after.schedule, after.timeout_s, after.overlap) == ("*/5 * * * *", 30.0, "queue")
    assert sorted(after.edited) == ["overlap", "schedule", "timeout_s"]
    assert after.revision == before.revision + 1
    assert after.updated_by == "ops-anna"
    (entry,) = await audit(session_factory)
    assert (entry.action, entry.object_pk, entry.username) == ("job-edit", "tick", "ops-anna")
    assert entry.changes == {
        "schedule": {"old": "every 1s", "new": "*/5 * * * *"},
        "timeout_s": {"old": None, "new": 30.0},
        "overlap": {"old": "skip", "new": "queue"},
    }
    assert (await heard.get()).data == {"type": "job-changed", "name": "tick"}


async def test_an_edit_that_changes_nothing_is_not_recorded(
    service: JobsService, session_factory: SessionFactory
) -> None:
    assert await service.edit("tick", JobEdit(schedule="every 1s", enabled=True), ANNA) == {}
    assert await audit(session_factory) == []
    assert (await row(session_factory)).edited == []


async def test_a_schedule_is_checked_in_the_new_timezone(
    service: JobsService, session_factory: SessionFactory
) -> None:
    changes = await service.edit(
        "yearly", JobEdit(schedule="30 2 * * *", timezone="Europe/Paris"), ANNA
    )
    assert changes == {"timezone": "Europe/Paris", "schedule": "30 2 * * *"}
    await service.edit("yearly", JobEdit(clear_timeout=True, timeout_s=10), ANNA)
    assert (await row(session_factory, "yearly")).timeout_s is None


async def test_an_unknown_job_names_the_known_ones(service: JobsService) -> None:
    for attempt in (
        service.edit("nightly", JobEdit(enabled=False), ANNA),
        service.run_now("nightly", ANNA),
        service.reset_to_code("nightly", ANNA),  # not "no longer in the code": never was
    ):
        with pytest.raises(UnknownJob) as raised:
            await attempt
        assert str(raised.value) == "job 'nightly': no such job; known jobs: tick, yearly"
    with pytest.raises(JobError, match="run 999: no such run"):
        await service.cancel(999, ANNA)


async def test_an_orphaned_job_cannot_run_or_be_enabled(
    service: JobsService, session_factory: SessionFactory
) -> None:
    async with session_factory.begin() as session:
        await sync_jobs(session, {"yearly": DEFINITIONS["yearly"]}, "UTC")  # tick left the code
    orphan = await row(session_factory)
    assert (orphan.orphaned, orphan.enabled) == (True, False)
    with pytest.raises(JobError, match="no longer in the code, so it cannot run"):
        await service.run_now("tick", ANNA)
    with pytest.raises(JobError, match="no longer in the code, so it cannot be enabled"):
        await service.edit("tick", JobEdit(enabled=True), ANNA)
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(JobRun)) == 0
    assert state(await row(session_factory)) == state(orphan)
    # Its other fields stay editable (e.g. to keep a note of the schedule it had).
    assert await service.edit("tick", JobEdit(schedule="every 5m"), ANNA)


async def test_run_now_queues_an_audited_manual_run_and_wakes_the_schedulers(
    service: JobsService, session_factory: SessionFactory
) -> None:
    heard = await service.broker.subscribe([SCHEDULER_CHANNEL])
    run_id = await service.run_now("yearly", ANNA)
    async with session_factory() as session:
        run = await session.get(JobRun, run_id)
    assert run is not None
    assert (run.status, run.trigger, run.triggered_by) == ("queued", "manual", "ops-anna")
    (entry,) = await audit(session_factory)
    assert (entry.action, entry.object_pk) == ("job-run", "yearly")
    assert (await heard.get()).data == {"type": "run-queued", "name": "yearly", "run_id": run_id}
    # A second click while the run still waits answers that run: two clicks, one run.
    assert await service.run_now("yearly", ANNA) == run_id


async def test_manual_runs_in_the_same_microsecond_never_collide_on_the_unique_key(
    session_factory: SessionFactory,
) -> None:
    """Two "run now" at the same instant queue one run and answer both with it; once that run
    has started, another at that very instant is a new run, a microsecond later."""
    async with session_factory.begin() as session:
        await sync_jobs(session, DEFINITIONS, "UTC")
    clock = FakeClock(dt.datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=dt.UTC))
    service = JobsService(DEFINITIONS, session_factory, MemoryBroker(), clock=clock)
    first, second = await asyncio.gather(
        service.run_now("yearly", ANNA), service.run_now("yearly", ANNA)
    )
    assert first == second
    answered = await service.request_run("yearly", ANNA)
    assert (answered.run_id, answered.already_queued) == (first, True)
    async with session_factory.begin() as session:  # a scheduler takes it
        await session.execute(update(JobRun).values(status="running"))
    third = await service.request_run("yearly", ANNA)
    assert not third.already_queued
    async with session_factory() as session:
        runs = list(await session.scalars(select(JobRun).order_by(JobRun.id)))
    assert [(r.id, r.status, r.trigger) for r in runs] == [
        (first, "running", "manual"),
        (third.run_id, "queued", "manual"),
    ]
    assert [as_utc(r.scheduled_for) for r in runs] == [
        clock.now(),
        clock.now() + dt.timedelta(microseconds=1),
    ]
    # Only the runs queued are audited, not the click that found one waiting.
    assert [e.changes for e in await audit(session_factory)] == [
        {"run": {"old": None, "new": first}},
        {"run": {"old": None, "new": third.run_id}},
    ]


async def test_reset_to_code_forgets_every_edit(
    service: JobsService, session_factory: SessionFactory
) -> None:
    await service.edit("tick", JobEdit(schedule="every 5m", enabled=False), ANNA)
    changes = await service.reset_to_code("tick", ANNA)
    assert changes == {"schedule": "every 1s", "enabled": True}
    after = await row(session_factory)
    assert (after.schedule, after.enabled, after.edited) == ("every 1s", True, [])
    entries = await audit(session_factory)
    assert [e.action for e in entries] == ["job-edit", "job-edit"]
    assert entries[-1].changes == {
        "schedule": {"old": "every 5m", "new": "every 1s"},
        "enabled": {"old": False, "new": True},
    }
