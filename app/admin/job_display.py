"""How the jobs pages show times, durations, run statuses and runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.db import as_utc
from app.models.jobs import FINISHED, JobRun, RunStatus
from app.scheduler.claims import now
from app.scheduler.schedules import zone

STATUS_COLOURS: dict[str, str] = {
    RunStatus.QUEUED: "secondary",
    RunStatus.RUNNING: "blue",
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.TIMED_OUT: "orange",
    RunStatus.ABANDONED: "yellow",
    RunStatus.SKIPPED: "muted",
}


def relative(moment: dt.datetime, reference: dt.datetime | None = None) -> str:
    """ "in 3 h", "12 min ago": rounded, for a glance."""
    seconds = (moment - (reference or now())).total_seconds()
    span = abs(seconds)
    if span < 60:
        text = f"{span:.0f} s"
    elif span < 3600:
        text = f"{span / 60:.0f} min"
    elif span < 48 * 3600:
        text = f"{span / 3600:.0f} h"
    else:
        text = f"{span / 86400:.0f} days"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


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


def shown_zone(name: str) -> dt.tzinfo:
    """The job's zone; UTC for a stored name that is unknown (the job shows as broken)."""
    try:
        return zone(name)
    except ValueError:
        return dt.UTC


@dataclass(frozen=True)
class Moment:
    """A point in time as the pages show it: UTC, the job's zone, and relative to now."""

    at: dt.datetime  # aware, UTC
    timezone: str

    @property
    def iso(self) -> str:
        return self.at.isoformat(timespec="seconds").replace("+00:00", "Z")

    @property
    def utc(self) -> str:
        return self.at.strftime("%Y-%m-%d %H:%M:%S UTC")

    @property
    def local(self) -> str:
        return self.at.astimezone(shown_zone(self.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")

    @property
    def relative(self) -> str:
        return relative(self.at)


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
