"""The job edit form: its text as stored or as typed, read back and checked field by field."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from starlette.datastructures import FormData

from app.models.jobs import ScheduledJob
from app.scheduler.service import JobEdit, JobError, checked
from app.typed_values import NUMBER

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
        # Whole, never cut to a length: the service refuses what is too long, naming the limit.
        values = {f.name: str(form.get(f.name) or "").strip() for f in fields(cls)}
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
        # The schedule is read in the zone it will run in; in UTC when that one is bad (its own
        # error says so): whether a schedule is valid does not depend on its zone.
        timezone = "UTC" if "timezone" in errors else self.timezone
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
    value = float(text) if NUMBER.fullmatch(text.strip()) else math.nan
    if not math.isfinite(value):
        errors[field] = f"{FORM_FIELDS[field + '_s']}: expected {accepted}, got {text!r}"
        return None
    return value


def check(edit: JobEdit, job: ScheduledJob, field: str, errors: dict[str, Any]) -> None:
    try:
        checked(edit, job)
    except JobError as exc:
        errors[field] = str(exc)
