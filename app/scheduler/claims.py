"""Claiming runs in the database: whoever inserts (job, scheduled_for) first runs it.

No lock service: the unique constraint on job_run decides, on SQLite and on PostgreSQL alike.
Starting a queued run is one conditional UPDATE that also checks no other run of its job is
running; SQLite runs one writer at a time, and on PostgreSQL the claim first locks the job's row
so two claims of one job take turns. Each function takes `now` (or the clock) from the caller, so
tests can move time instead of waiting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import and_, exists, false, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db import as_utc, now_utc
from app.models.jobs import JobRun, RunStatus, ScheduledJob, Trigger

ACTIVE = (RunStatus.RUNNING, RunStatus.QUEUED)
MANUAL_ATTEMPTS = 100  # instants tried, a microsecond apart, for a manual run's unique key


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def now() -> dt.datetime:
    """The real time, for display; the scheduler and the jobs service use their clock."""
    return dt.datetime.now(dt.UTC)


async def lock_job(session: AsyncSession, job: str) -> None:
    """Holds the job until the transaction ends: claims of one job take turns, so each sees
    what the previous one committed, and reads its clock after it. On PostgreSQL the job's row;
    on SQLite the database's write lock, which an UPDATE takes even when it changes no row (a
    check and the claim after it are then one step, with no writer in between)."""
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(update(ScheduledJob).where(false()).values(name=ScheduledJob.name))
        return
    # NO KEY UPDATE: runs being inserted meanwhile (their foreign key) are not held up.
    await session.execute(
        select(ScheduledJob.name).where(ScheduledJob.name == job).with_for_update(key_share=True)
    )


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
    session: AsyncSession,
    job: str,
    *,
    triggered_by: str | None,
    now: dt.datetime,
    arguments: dict[str, Any] | None = None,
) -> tuple[int, bool]:
    """A manual run, waiting for a scheduler to take it: (its id, False); or, while an earlier
    manual run of the job still waits, (that run's id, True): two clicks queue one run.
    A run with `arguments` is its own request (two exports of two lists): never merged."""
    await lock_job(session, job)
    waiting = and_(
        JobRun.job == job,
        JobRun.trigger == Trigger.MANUAL,
        JobRun.status == RunStatus.QUEUED,
        JobRun.arguments.is_(None),
    )
    moment = now
    for _ in range(MANUAL_ATTEMPTS):
        # One statement: on SQLite the check and the insert cannot be split by another writer.
        row = select(
            literal(job),
            literal(Trigger.MANUAL.value),
            literal(moment, JobRun.scheduled_for.type),
            literal(RunStatus.QUEUED.value),
            literal(triggered_by, JobRun.triggered_by.type),
            literal(""),
            literal(now_utc(), JobRun.created_at.type),
            literal(False),
            literal(arguments, JobRun.arguments.type),
        )
        if arguments is None:
            row = row.where(~exists().where(waiting))
        statement = (
            _insert(session)(JobRun)
            .from_select(
                [
                    JobRun.job,
                    JobRun.trigger,
                    JobRun.scheduled_for,
                    JobRun.status,
                    JobRun.triggered_by,
                    JobRun.log,
                    JobRun.created_at,
                    JobRun.cancel_requested,
                    JobRun.arguments,
                ],
                row,
                include_defaults=False,
            )
            .on_conflict_do_nothing(index_elements=["job", "scheduled_for"])
            .returning(JobRun.id)
        )
        run_id = await session.scalar(statement)
        if run_id is not None:
            return int(run_id), False
        earlier = None
        if arguments is None:
            earlier = await session.scalar(
                select(JobRun.id).where(waiting).order_by(JobRun.id).limit(1)
            )
        if earlier is not None:
            return int(earlier), True
        # Another run holds this instant (a fire, or a manual run already taken): the next one.
        moment += dt.timedelta(microseconds=1)
    raise RuntimeError(f"job {job!r}: no free instant for a manual run near {now}")


async def take_queued(
    session: AsyncSession,
    run_id: int,
    *,
    worker: str,
    lease: dt.timedelta,
    clock: Callable[[], dt.datetime],
    alone: bool = True,
) -> bool:
    """Moves a queued run to running for this process; False if someone else took it first
    or, when the job runs `alone` (overlap other than "allow"), another run of it is running.
    Its start is read from `clock` once the job is held: a run that waited for the previous one
    to end never starts before that end as recorded."""
    job = await session.scalar(select(JobRun.job).where(JobRun.id == run_id))
    if job is None:
        return False
    statement = update(JobRun).where(JobRun.id == run_id, JobRun.status == RunStatus.QUEUED)
    if alone:
        await lock_job(session, job)
        other = aliased(JobRun)
        running = exists().where(other.job == job, other.status == RunStatus.RUNNING)
        statement = statement.where(~running)
    now = clock()
    result = await session.execute(
        statement.values(
            status=RunStatus.RUNNING, worker=worker, started_at=now, lease_until=now + lease
        )
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def record_end(session: AsyncSession, run_id: int, values: dict[str, Any]) -> None:
    """Writes a run's end (status, finish time, log...): whatever the row says, even
    `abandoned` by a scheduler that could not see this process, the outcome is the truth."""
    await session.execute(update(JobRun).where(JobRun.id == run_id).values(**values))


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
        # Only runs still executing here, or whose end is being recorded: a run whose end
        # could not be recorded even after retries must run out of lease and be abandoned,
        # not stay `running` for ever.
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
