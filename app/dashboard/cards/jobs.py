"""Scheduled jobs: those that failed in the last 24 hours; runs by status per hour."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.clock import Clock
from app.dashboard.charts import Chart, columns_chart
from app.dashboard.figures import whole
from app.dashboard.periods import hour_key, hour_label, last_hours, utc_hour
from app.dashboard.registry import card
from app.local_formats import reader
from app.models.jobs import JobRun, RunStatus

FAILED = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABANDONED)
HOURS = 24
# The chart's series, stacked bottom up; queued and running runs show as "running".
CHARTED = ("succeeded", "failed", "skipped", "running")
CHARTED_AS = {
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.TIMED_OUT: "failed",
    RunStatus.ABANDONED: "failed",
    RunStatus.SKIPPED: "skipped",
    RunStatus.QUEUED: "running",
    RunStatus.RUNNING: "running",
}


@dataclass(frozen=True)
class FailingJob:
    name: str
    failures: int
    last_at: dt.datetime

    @property
    def failures_shown(self) -> str:
        return whole(self.failures)


@dataclass(frozen=True)
class FailingJobs:
    jobs: tuple[FailingJob, ...]  # most failures first


@card(
    "failing_jobs",
    title=f"Failing jobs, last {HOURS} hours",
    template="dashboard/cards/failing_jobs.html",
    permission="jobs:view",
    refresh_on=("job-finished",),
    place=40,
    reads=(JobRun,),
)
async def failing_jobs(session: AsyncSession, clock: Clock, user: CurrentUser) -> FailingJobs:
    now = clock.now()
    last = func.max(JobRun.created_at)
    stmt = (
        select(JobRun.job, func.count(), last)
        .where(
            JobRun.created_at >= now - dt.timedelta(hours=HOURS),
            JobRun.status.in_([s.value for s in FAILED]),
        )
        .group_by(JobRun.job)
        .order_by(func.count().desc(), JobRun.job)
    )
    rows = await session.execute(stmt)
    return FailingJobs(tuple(FailingJob(name, int(n), at) for name, n, at in rows))


@card(
    "job_runs_per_hour",
    title=f"Job runs by status per hour, last {HOURS} hours",
    template="dashboard/cards/chart.html",
    permission="jobs:view",
    refresh_on=("job-finished",),
    wide=True,
    place=70,
    reads=(JobRun,),
)
async def job_runs_per_hour(session: AsyncSession, clock: Clock, user: CurrentUser) -> Chart:
    now = clock.now()
    hours = last_hours(now, HOURS)
    hour = utc_hour(JobRun.created_at)
    stmt = (
        select(hour, JobRun.status, func.count())
        .where(JobRun.created_at >= hours[0], JobRun.created_at <= now)
        .group_by(hour, JobRun.status)
    )
    found: dict[tuple[str, str], int] = {}
    for key, status, n in await session.execute(stmt):
        shown_as = CHARTED_AS.get(RunStatus(status), "running")
        found[key, shown_as] = found.get((key, shown_as), 0) + int(n)
    zone = reader().zone
    points = [
        (hour_label(h, zone), [found.get((hour_key(h), s), 0) for s in CHARTED]) for h in hours
    ]
    return columns_chart("Job runs per hour", points, CHARTED, stacked=True)
