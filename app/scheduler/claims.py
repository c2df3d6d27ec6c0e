"""Claiming runs in the database: whoever inserts (job, scheduled_for) first runs it.

No lock service: the unique constraint on job_run decides, on SQLite and on PostgreSQL alike.
Each function takes `now` from the caller's clock, so tests can move time instead of waiting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import as_utc
from app.models.jobs import JobRun, RunStatus, Trigger

ACTIVE = (RunStatus.RUNNING, RunStatus.QUEUED)


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def now() -> dt.datetime:
    """The real time, for display; the scheduler and the jobs service use their clock."""
    return dt.datetime.now(dt.UTC)


async def is_busy(session: AsyncSession, job: str) -> bool:
    """Whether a run of the job is running (or waiting its turn) anywhere."""
    query = select(exists().where(and_(JobRun.job == job, JobRun.status.in_(ACTIVE))))
    return bool(await session.scalar(query))


async def claim_fire(
    session: AsyncSession,
    job: str,
    scheduled_for: dt.datetime,
    *,
    trigger: str,
    status: str,
    worker: str,
    lease: dt.timedelta,
    now: dt.datetime,
    error: str | None = None,
) -> int | None:
    """Inserts the run; its id if this process won the fire, None if another one had."""
    running = status == RunStatus.RUNNING
    statement = (
        _insert(session)(JobRun)
        .values(
            job=job,
            trigger=trigger,
            scheduled_for=scheduled_for,
            status=status,
            worker=worker,
            started_at=now if running else None,
            finished_at=now if status == RunStatus.SKIPPED else None,
            lease_until=now + lease if running else None,
            error=error,
            log="",
        )
        .on_conflict_do_nothing(index_elements=["job", "scheduled_for"])
        .returning(JobRun.id)
    )
    run_id = await session.scalar(statement)
    return None if run_id is None else int(run_id)


async def queue_run(
    session: AsyncSession, job: str, *, trigger: str, triggered_by: str | None, now: dt.datetime
) -> int:
    """A manual run, waiting for a scheduler to take it."""
    run = JobRun(
        job=job,
        trigger=trigger,
        scheduled_for=now,
        status=RunStatus.QUEUED,
        triggered_by=triggered_by,
        log="",
    )
    session.add(run)
    await session.flush()
    return int(run.id)


async def take_queued(
    session: AsyncSession, run_id: int, *, worker: str, lease: dt.timedelta, now: dt.datetime
) -> bool:
    """Moves a queued run to running for this process; False if someone else took it first."""
    result = await session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.RUNNING, worker=worker, started_at=now, lease_until=now + lease)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def renew_leases(
    session: AsyncSession,
    worker: str,
    lease: dt.timedelta,
    now: dt.datetime,
    run_ids: Collection[int] | None = None,
) -> None:
    """Extends the leases of the worker's running runs; only `run_ids` when given."""
    query = update(JobRun).where(JobRun.worker == worker, JobRun.status == RunStatus.RUNNING)
    if run_ids is not None:
        # Only runs still executing here: a run whose end could not be recorded (database
        # away) must run out of lease and be abandoned, not stay `running` for ever.
        if not run_ids:
            return
        query = query.where(JobRun.id.in_(list(run_ids)))
    await session.execute(query.values(lease_until=now + lease))


async def abandon_expired(session: AsyncSession, now: dt.datetime) -> list[tuple[int, str]]:
    """Marks runs whose process stopped renewing their lease; returns (id, job) of each."""
    expired = (
        await session.execute(
            select(JobRun.id, JobRun.job).where(
                JobRun.status == RunStatus.RUNNING, JobRun.lease_until < now
            )
        )
    ).all()
    for run_id, _ in expired:
        await session.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.status == RunStatus.RUNNING)
            .values(
                status=RunStatus.ABANDONED,
                finished_at=now,
                error="its scheduler process stopped (no heartbeat before the lease ran out)",
            )
        )
    return [(int(run_id), str(job)) for run_id, job in expired]


async def last_scheduled_fors(session: AsyncSession) -> dict[str, dt.datetime]:
    """The newest fire time any process recorded for each job (manual runs aside), in one
    statement (10,000 jobs: one query, not 10,000)."""
    rows = await session.execute(
        select(JobRun.job, func.max(JobRun.scheduled_for))
        .where(JobRun.trigger != Trigger.MANUAL)
        .group_by(JobRun.job)
    )
    return {str(job): as_utc(moment) for job, moment in rows.all() if moment is not None}
