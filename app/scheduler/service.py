"""What operators do to jobs (page and CLI alike): run now, switch on/off, edit, reset, cancel.

Each change is written and audited in one transaction, then every scheduler is told at once on
the `scheduler` channel (their heartbeat check heals a lost message).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.log import record
from app.auth.current import Actor
from app.channels import Broker
from app.channels.names import JOBS_CHANNEL, SCHEDULER_CHANNEL
from app.clock import SYSTEM_CLOCK, Clock
from app.errors import BadInput, Conflict, NotFound
from app.models.jobs import JobRun, RunStatus, ScheduledJob
from app.scheduler import claims
from app.scheduler.registry import MISFIRE_POLICIES, OVERLAP_POLICIES, JobDefinition
from app.scheduler.runner import job_frame
from app.scheduler.schedules import InvalidSchedule, parse, zone
from app.scheduler.sync import EDITABLE, code_values


class JobError(BadInput, ValueError):
    """An operator's request that cannot be done; the message names the field or the job."""


class UnknownJob(NotFound, JobError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        listed = ", ".join(known) or "none"
        super().__init__(f"job {name!r}: no such job; known jobs: {listed}")


class UnknownRun(NotFound, JobError):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"run {run_id}: no such run")


class JobConflict(Conflict, JobError):
    """The job's state refuses the request (it is no longer in the code); nothing was saved."""


@dataclass(frozen=True)
class ManualRun:
    """What "run now" did: queued run `run_id`, or found it already waiting to start."""

    run_id: int
    already_queued: bool


@dataclass(frozen=True)
class JobEdit:
    """Fields to change; None leaves a field as it is."""

    schedule: str | None = None
    timezone: str | None = None
    enabled: bool | None = None
    timeout_s: float | None = None
    clear_timeout: bool = False
    overlap: str | None = None
    misfire: str | None = None
    misfire_grace_s: float | None = None


def checked(edit: JobEdit, current: ScheduledJob) -> dict[str, Any]:
    """The new values, each checked; JobError names the first bad field and what it accepts."""
    values: dict[str, Any] = {}
    timezone = edit.timezone if edit.timezone is not None else current.timezone
    if edit.timezone is not None:
        try:
            zone(edit.timezone)
        except ValueError as exc:
            raise JobError(str(exc)) from None
        values["timezone"] = edit.timezone
    if edit.schedule is not None:
        try:
            values["schedule"] = parse(edit.schedule, timezone).expression
        except (InvalidSchedule, ValueError) as exc:  # ValueError: the stored zone is unknown
            raise JobError(str(exc)) from None
    if edit.enabled is not None:
        values["enabled"] = edit.enabled
    if edit.clear_timeout:
        values["timeout_s"] = None
    elif edit.timeout_s is not None:
        if not 0 < edit.timeout_s <= 7 * 86400:
            raise JobError("timeout: expected seconds from 1 to 604800, or empty for none")
        values["timeout_s"] = float(edit.timeout_s)
    if edit.overlap is not None:
        if edit.overlap not in OVERLAP_POLICIES:
            raise JobError(f"overlap: expected one of {', '.join(OVERLAP_POLICIES)}")
        values["overlap"] = edit.overlap
    if edit.misfire is not None:
        if edit.misfire not in MISFIRE_POLICIES:
            raise JobError(f"misfire: expected one of {', '.join(MISFIRE_POLICIES)}")
        values["misfire"] = edit.misfire
    if edit.misfire_grace_s is not None:
        if not 0 <= edit.misfire_grace_s <= 86400:
            raise JobError("misfire grace: expected seconds from 0 to 86400")
        values["misfire_grace_s"] = float(edit.misfire_grace_s)
    return {k: v for k, v in values.items() if getattr(current, k) != v}


class JobsService:
    def __init__(
        self,
        definitions: Mapping[str, JobDefinition],
        session_factory: async_sessionmaker[AsyncSession],
        broker: Broker,
        default_timezone: str = "UTC",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.definitions = dict(definitions)
        self.session_factory = session_factory
        self.broker = broker
        self.default_timezone = default_timezone
        self.clock = clock

    async def _job(self, session: AsyncSession, name: str) -> ScheduledJob:
        row = await session.get(ScheduledJob, name)
        if row is None:
            known = (await session.scalars(select(ScheduledJob.name))).all()
            raise UnknownJob(name, sorted(known) or sorted(self.definitions))
        return row

    async def edit(self, name: str, edit: JobEdit, actor: Actor) -> dict[str, Any]:
        """Applies the edit; returns {field: new value} of what changed (empty: nothing did)."""
        async with self.session_factory() as session, session.begin():
            row = await self._job(session, name)
            if row.orphaned and edit.enabled:
                raise JobConflict(f"job {name!r}: no longer in the code, so it cannot be enabled")
            values = checked(edit, row)
            if not values:
                return {}
            before = {k: getattr(row, k) for k in values}
            edited = sorted(set(row.edited or []) | set(values))
            changes = {k: {"old": before[k], "new": v} for k, v in values.items()}
            await self._write(session, name, actor, values, edited, changes)
        await self._tell({"type": "job-changed", "name": name})
        return values

    async def reset_to_code(self, name: str, actor: Actor) -> dict[str, Any]:
        """Forgets every browser edit of the job: the code's values apply again."""
        definition = self.definitions.get(name)
        if definition is None:
            async with self.session_factory() as session:
                await self._job(session, name)  # a job never heard of is a 404, not this 409
            raise JobConflict(f"job {name!r}: not in the code, so it has no code defaults")
        code = {
            k: v for k, v in code_values(definition, self.default_timezone).items() if k in EDITABLE
        }
        async with self.session_factory() as session, session.begin():
            row = await self._job(session, name)
            # Read before the UPDATE: it synchronises `row`, so afterwards old == new.
            before = {k: getattr(row, k) for k in code}
            changes = {k: v for k, v in code.items() if before[k] != v}
            audited = {k: {"old": before[k], "new": v} for k, v in changes.items()}
            await self._write(
                session,
                name,
                actor,
                code,
                [],
                audited or {"reset": {"old": None, "new": "code defaults"}},
            )
        await self._tell({"type": "job-changed", "name": name})
        return changes

    async def _write(
        self,
        session: AsyncSession,
        name: str,
        actor: Actor,
        values: dict[str, Any],
        edited: list[str],
        changes: dict[str, Any],
    ) -> None:
        """The row's new values and edited fields, a new revision, and the audit entry."""
        await session.execute(
            update(ScheduledJob)
            .where(ScheduledJob.name == name)
            .values(
                edited=edited,
                revision=ScheduledJob.revision + 1,
                updated_by=actor.username,
                updated_at=self.clock.now(),
                **values,
            )
        )
        record(
            session,
            "job-edit",
            actor,
            model="jobs",
            object_pk=name,
            object_label=name,
            changes=changes,
        )

    async def run_now(self, name: str, actor: Actor) -> int:
        """Queues a manual run; a scheduler takes it at once. Returns the run's id."""
        return (await self.request_run(name, actor)).run_id

    async def request_run(
        self, name: str, actor: Actor, arguments: dict[str, Any] | None = None
    ) -> ManualRun:
        """Queues a manual run, unless one of the job's manual runs is still waiting to start:
        then that one is answered (`already_queued`), so a double click queues one run.
        A run with `arguments` (JSON values the job reads as `ctx.arguments`) is always queued."""
        async with self.session_factory() as session, session.begin():
            row = await self._job(session, name)
            if row.orphaned or name not in self.definitions:
                raise JobConflict(f"job {name!r}: no longer in the code, so it cannot run")
            run_id, already_queued = await claims.queue_run(
                session,
                name,
                triggered_by=actor.username,
                now=self.clock.now(),
                arguments=arguments,
            )
            if already_queued:
                return ManualRun(run_id, already_queued=True)
            record(
                session,
                "job-run",
                actor,
                model="jobs",
                object_pk=name,
                object_label=name,
                changes={"run": {"old": None, "new": run_id}},
            )
        # Open pages show the queued run at once; published before the schedulers are told, so
        # a scheduler's "running" never reaches a page ahead of it.
        with contextlib.suppress(Exception):
            frame = job_frame({"job": name, "id": run_id, "status": RunStatus.QUEUED})
            await self.broker.publish(JOBS_CHANNEL, frame)
        await self._tell({"type": "run-queued", "name": name, "run_id": run_id})
        return ManualRun(run_id, already_queued=False)

    async def cancel(self, run_id: int, actor: Actor) -> bool:
        """Asks the run's process to stop it; a queued run is simply never started. False when
        there is nothing (left) to cancel: the run has ended, or its cancel was asked already.

        Each change is one UPDATE on the status it expects, so of several people (or tabs)
        cancelling at once exactly one does it and is recorded in the audit log."""
        async with self.session_factory() as session, session.begin():
            job = await session.scalar(select(JobRun.job).where(JobRun.id == run_id))
            if job is None:
                raise UnknownRun(run_id)
            by = actor.username or "an operator"
            never_started = await session.execute(
                update(JobRun)
                .where(JobRun.id == run_id, JobRun.status == RunStatus.QUEUED)
                .values(
                    status=RunStatus.FAILED,
                    error=f"cancelled by {by} before it started",
                    finished_at=self.clock.now(),
                )
            )
            if not never_started.rowcount:  # type: ignore[attr-defined]
                asked = await session.execute(
                    update(JobRun)
                    .where(
                        JobRun.id == run_id,
                        JobRun.status == RunStatus.RUNNING,
                        JobRun.cancel_requested.is_(False),
                    )
                    .values(cancel_requested=True)
                )
                if not asked.rowcount:  # type: ignore[attr-defined]
                    return False
            record(
                session,
                "job-cancel",
                actor,
                model="jobs",
                object_pk=job,
                object_label=job,
                changes={"run": {"old": run_id, "new": "cancel"}},
            )
        await self._tell({"type": "cancel", "run_id": run_id, "by": actor.username})
        return True

    async def _tell(self, message: dict[str, Any]) -> None:
        # Committed already: if this is lost, the schedulers' heartbeat check finds it.
        with contextlib.suppress(Exception):
            await self.broker.publish(SCHEDULER_CHANNEL, message)
