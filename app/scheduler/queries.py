"""What the jobs page and `jobs list|history` show: each job with its next and last run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import as_utc
from app.models.jobs import JobRun, RunStatus, ScheduledJob
from app.scheduler.claims import now
from app.scheduler.schedules import InvalidSchedule, Schedule, parse


@dataclass(frozen=True)
class JobOverview:
    job: ScheduledJob
    schedule: Schedule | None  # None: the stored schedule cannot run; `broken` says why
    next_run_at: dt.datetime | None
    last_run: JobRun | None
    broken: str | None = None

    @property
    def sentence(self) -> str:
        return self.schedule.describe if self.schedule else "broken schedule"

    def as_json(self) -> dict[str, Any]:
        last = self.last_run
        return {
            "name": self.job.name,
            "description": self.job.description,
            "schedule": self.job.schedule,
            "schedule_text": self.sentence,
            "timezone": self.job.timezone,
            "enabled": self.job.enabled,
            "orphaned": self.job.orphaned,
            "broken": self.broken,
            "next_run_at": iso(self.next_run_at),
            "last_run_at": iso(as_utc(last.started_at) if last and last.started_at else None),
            "last_status": last.status if last else None,
            "last_duration_s": last.duration_s if last else None,
        }


def iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def schedule_of(job: ScheduledJob) -> tuple[Schedule | None, str | None]:
    """The row's schedule, or why it cannot run: a row written around the checks (by SQL, by
    an older release) may hold an invalid or never-firing schedule, or an unknown zone."""
    try:
        return parse(job.schedule, job.timezone), None
    except (InvalidSchedule, ValueError) as exc:
        return None, str(exc)


def next_run(job: ScheduledJob, schedule: Schedule | None) -> dt.datetime | None:
    if schedule is None or not job.enabled or job.orphaned:
        return None
    return schedule.next_after(now())


async def overview(session: AsyncSession, name: str | None = None) -> list[JobOverview]:
    """Every job (or one) with its newest run, in two statements whatever the job count."""
    jobs_query = select(ScheduledJob).order_by(ScheduledJob.name)
    if name is not None:
        jobs_query = jobs_query.where(ScheduledJob.name == name)
    jobs = (await session.scalars(jobs_query)).all()
    newest = (
        select(func.max(JobRun.id)).where(JobRun.status != RunStatus.QUEUED).group_by(JobRun.job)
    )
    if name is not None:
        newest = newest.where(JobRun.job == name)
    runs = {
        run.job: run
        for run in (await session.scalars(select(JobRun).where(JobRun.id.in_(newest)))).all()
    }
    result = []
    for job in jobs:
        schedule, broken = schedule_of(job)
        last = runs.get(job.name)
        result.append(JobOverview(job, schedule, next_run(job, schedule), last, broken))
    return result


async def runs_of(
    session: AsyncSession, name: str, *, limit: int = 25, offset: int = 0
) -> tuple[list[JobRun], int]:
    """One page of a job's runs, newest first, and how many there are."""
    page = (
        await session.scalars(
            select(JobRun)
            .where(JobRun.job == name)
            .order_by(JobRun.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    total = await session.scalar(select(func.count()).where(JobRun.job == name))
    return list(page), int(total or 0)


def run_json(run: JobRun) -> dict[str, Any]:
    """A run as `jobs history --json` prints it (docs/reference.md lists the fields)."""
    return {
        "id": run.id,
        "job": run.job,
        "trigger": run.trigger,
        "scheduled_for": iso(as_utc(run.scheduled_for)),
        "started_at": iso(as_utc(run.started_at) if run.started_at else None),
        "finished_at": iso(as_utc(run.finished_at) if run.finished_at else None),
        "status": run.status,
        "worker": run.worker,
        "error": run.error,
        "duration_s": run.duration_s,
        "triggered_by": run.triggered_by,
        "progress": run.progress,
    }
