"""Scheduled jobs' tables: one row per job (synced from code), one row per run."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now_utc

SCHEDULE_LENGTH = 200  # characters of `scheduled_job.schedule`; longer ones are refused


class RunStatus(StrEnum):
    """A run's status; members equal the strings stored in `job_run.status` and sent in frames."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    ABANDONED = "abandoned"
    SKIPPED = "skipped"


class Trigger(StrEnum):
    """What made a run: its schedule, an operator (run now), or a catch-up after downtime."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    CATCH_UP = "catch-up"


FINISHED = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.ABANDONED,
        RunStatus.SKIPPED,
    }
)


class ScheduledJob(Base):
    """A job as operators see it: code gives the defaults, fields edited in the browser win."""

    __tablename__ = "scheduled_job"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    schedule: Mapped[str] = mapped_column(String(SCHEDULE_LENGTH))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    timeout_s: Mapped[float | None] = mapped_column(Float)
    overlap: Mapped[str] = mapped_column(String(10), default="skip", server_default="skip")
    misfire: Mapped[str] = mapped_column(String(10), default="run_once", server_default="run_once")
    misfire_grace_s: Mapped[float] = mapped_column(Float, default=60.0, server_default="60")
    # The field names an operator changed: a restart keeps them instead of the code's values.
    edited: Mapped[list[str]] = mapped_column(JSON, default=list)
    # In the database but no longer in code: kept for its history, never run.
    orphaned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Bumped on every edit, so schedulers can tell their copy is old.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now()
    )
    updated_by: Mapped[str | None] = mapped_column(String(150))

    def __str__(self) -> str:
        return self.name


class JobRun(Base):
    """One run. The unique (job, scheduled_for) is the claim: one process inserts, others fail."""

    __tablename__ = "job_run"
    __table_args__ = (
        UniqueConstraint("job", "scheduled_for"),
        Index("ix_job_run_job_id", "job", "id"),
        Index("ix_job_run_status_lease", "status", "lease_until"),
        Index("ix_job_run_created_at", "created_at"),  # the dashboard's last 24 hours
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(
        ForeignKey("scheduled_job.name", ondelete="CASCADE", onupdate="CASCADE")
    )
    trigger: Mapped[str] = mapped_column(String(10))
    scheduled_for: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now()
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)
    worker: Mapped[str | None] = mapped_column(String(120))
    triggered_by: Mapped[str | None] = mapped_column(String(150))
    progress: Mapped[float | None] = mapped_column(Float)
    progress_message: Mapped[str | None] = mapped_column(String(300))
    log: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    # A running run's owner renews this; past it, any scheduler may mark the run abandoned.
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What a run started on request works on (an export's list and format); None for fires.
    arguments: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    def __str__(self) -> str:
        return f"{self.job} #{self.id}"
