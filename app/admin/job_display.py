"""How the jobs pages show times, durations, run statuses and runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.db import as_utc
from app.models.jobs import FINISHED, JobRun, RunStatus

STATUS_COLOURS: dict[str, str] = {
    RunStatus.QUEUED: "secondary",
    RunStatus.RUNNING: "blue",
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.TIMED_OUT: "orange",
    RunStatus.ABANDONED: "yellow",
    RunStatus.SKIPPED: "muted",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@dataclass(frozen=True)
class Moment:
    """A point in time on the jobs pages, shown in the reader's zone (`local_time`); `timezone`
    is the job's, the zone its cron runs in."""

    at: dt.datetime  # aware, UTC
    timezone: str


def moment(value: dt.datetime | None, timezone: str) -> Moment | None:
    return None if value is None else Moment(as_utc(value), timezone)


@dataclass(frozen=True)
class RunShown:
    run: JobRun
    timezone: str

    @property
    def colour(self) -> str:
        return STATUS_COLOURS.get(self.run.status, "secondary")

    @property
    def status_text(self) -> str:
        return self.run.status.replace("_", " ")

    @property
    def running(self) -> bool:
        return self.run.status == RunStatus.RUNNING

    @property
    def cancellable(self) -> bool:
        return (
            self.run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
            and not self.run.cancel_requested
        )

    @property
    def finished(self) -> bool:
        return self.run.status in FINISHED

    @property
    def percent(self) -> int:
        return round(100 * min(1.0, max(0.0, self.run.progress or 0.0)))

    @property
    def duration(self) -> str:
        return duration(self.run.duration_s)

    def at(self, field: str) -> Moment | None:
        return moment(getattr(self.run, field), self.timezone)
