"""How the jobs pages show times, durations and runs, and read the job form back."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields
from typing import Any

from starlette.datastructures import FormData

from app.db import as_utc
from app.models.jobs import FINISHED, JobRun, ScheduledJob
from app.scheduler.claims import now
from app.scheduler.schedules import zone
from app.scheduler.service import JobEdit, JobError, checked

STATUS_COLOURS = {
    "queued": "secondary",
    "running": "blue",
    "succeeded": "green",
    "failed": "red",
    "timed_out": "orange",
    "abandoned": "yellow",
    "skipped": "muted",
}
# Form field → how operators call it (also the stored field's name in ScheduledJob.edited).
FORM_FIELDS = {
    "schedule": "schedule",
    "timezone": "timezone",
    "timeout_s": "timeout",
    "overlap": "overlap",
    "misfire": "misfire",
    "misfire_grace_s": "misfire grace",
    "enabled": "enabled",
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
        return self.at.astimezone(zone(self.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")

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
        return self.run.status == "running"

    @property
    def cancellable(self) -> bool:
        return self.run.status in ("queued", "running") and not self.run.cancel_requested

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


def number_text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@dataclass(frozen=True)
class JobForm:
    """The edit form's text, as stored or as the operator typed it (kept after an error)."""

    schedule: str
    timezone: str
    timeout: str
    overlap: str
    misfire: str
    misfire_grace: str

    @classmethod
    def of(cls, job: ScheduledJob) -> JobForm:
        return cls(
            job.schedule,
            job.timezone,
            number_text(job.timeout_s),
            job.overlap,
            job.misfire,
            number_text(job.misfire_grace_s),
        )

    @classmethod
    def posted(cls, form: FormData) -> JobForm:
        values = {f.name: str(form.get(f.name) or "").strip()[:200] for f in fields(cls)}
        return cls(**values)

    def edit_of(self, job: ScheduledJob) -> tuple[JobEdit, dict[str, str]]:
        """The edit and, per form field, what is wrong with it (all fields, not only the first)."""
        errors: dict[str, str] = {}
        timeout = seconds(self.timeout, "timeout", "seconds from 1 to 604800, or empty", errors)
        grace = seconds(self.misfire_grace, "misfire_grace", "seconds from 0 to 86400", errors)
        single = {
            "timezone": JobEdit(timezone=self.timezone),
            "timeout": JobEdit(timeout_s=timeout),
            "overlap": JobEdit(overlap=self.overlap),
            "misfire": JobEdit(misfire=self.misfire),
            "misfire_grace": JobEdit(misfire_grace_s=grace),
        }
        for name, edit in single.items():
            if name not in errors:
                check(edit, job, name, errors)
        # The schedule is read in the zone it will run in; the stored one if the new one is bad.
        timezone = None if "timezone" in errors else self.timezone
        check(JobEdit(schedule=self.schedule, timezone=timezone), job, "schedule", errors)
        edit = JobEdit(
            schedule=self.schedule,
            timezone=self.timezone,
            timeout_s=timeout,
            clear_timeout=not self.timeout and job.timeout_s is not None,
            overlap=self.overlap,
            misfire=self.misfire,
            misfire_grace_s=grace,
        )
        return edit, errors


def seconds(text: str, field: str, accepted: str, errors: dict[str, str]) -> float | None:
    if not text:
        if field != "timeout":
            errors[field] = f"{FORM_FIELDS[field + '_s']}: expected {accepted}"
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        errors[field] = f"{FORM_FIELDS[field + '_s']}: expected {accepted}, got {text!r}"
        return None
    return value


def check(edit: JobEdit, job: ScheduledJob, field: str, errors: dict[str, Any]) -> None:
    try:
        checked(edit, job)
    except JobError as exc:
        errors[field] = str(exc)
