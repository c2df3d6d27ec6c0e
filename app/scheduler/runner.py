"""The scheduler of one process: fires jobs on time, claims each fire, runs and records it.

Every scheduler process computes the same fire times and tries to claim each one by inserting
its job_run row; the unique (job, scheduled_for) lets exactly one win. Edits and "run now"
arrive on the `scheduler` channel and wake it at once; a check every few seconds heals a
missed message. Running runs renew a lease; a run whose process died is marked abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import logging
import os
import socket
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.channels import Broker, Subscription
from app.channels.names import JOBS_CHANNEL, SCHEDULER_CHANNEL
from app.clock import SYSTEM_CLOCK, Clock
from app.config import Config
from app.constance import LiveSettings
from app.db import as_utc
from app.models import Group, Notification
from app.models.jobs import JobRun, RunStatus, ScheduledJob, Trigger
from app.notifications.service import NotifyError, notify
from app.scheduler import claims
from app.scheduler.context import JobCancelled, JobContext
from app.scheduler.queries import schedule_of
from app.scheduler.registry import JobDefinition
from app.scheduler.schedules import Schedule
from app.scheduler.sync import sync_jobs

OPS_GROUP = "ops"
END_RETRY_FIRST_S = 0.5  # the first wait before writing a run's end again; doubled each time
END_RETRY_MAX_S = 30.0

T = TypeVar("T")

log = logging.getLogger(__name__)


def job_frame(run: JobRun | Mapping[str, Any]) -> dict[str, Any]:
    get = run.get if isinstance(run, Mapping) else lambda name: getattr(run, name)
    return {
        "type": "job",
        "name": get("job"),
        "run_id": get("id"),
        "status": get("status"),
        "progress": get("progress"),
        "message": get("progress_message"),
    }


class RunWatch(Protocol):
    """Told how runs go, for /metrics (app/metrics.py); a scheduler without one tells nobody."""

    def run_started(self, job: str, trigger: str, delay: float) -> None:
        """A run started `delay` seconds after its scheduled time (a manual run: its queueing)."""

    def run_ended(self, job: str, status: str, seconds: float | None) -> None:
        """A run ended with `status` after `seconds` of running (None: it never ran here)."""


@dataclass
class Timing:
    lease: float = 15.0  # seconds a running run stays ours without a heartbeat
    heartbeat: float = 3.0  # seconds between lease renewals, abandoned-run checks and healing
    shutdown_grace: float = 10.0  # seconds running jobs get to finish at shutdown
    record_end_for: float = 600.0  # seconds a run's end is retried while the database is away

    @classmethod
    def of(cls, config: Config) -> Timing:
        return cls(config.job_lease, config.job_heartbeat, config.job_shutdown_grace)


@dataclass
class Planned:
    """One job as this process schedules it."""

    row: ScheduledJob
    schedule: Schedule | None
    next_fire: dt.datetime | None = None
    broken: str | None = None  # why the stored schedule cannot run: the job is skipped


@dataclass(frozen=True)
class Requested:
    """What a queued run was asked to work on, and by whom (`ctx.arguments`, `ctx.triggered_by`)."""

    arguments: dict[str, Any] | None
    by: str | None


@dataclass
class Running:
    task: asyncio.Task[Any]
    job: str
    cancelled_by: str | None = None
    timed_out: bool = False
    context: JobContext | None = field(default=None)
    finishing: bool = False  # the job is over and its end is being recorded: not cancellable


class Scheduler:
    def __init__(
        self,
        definitions: Mapping[str, JobDefinition],
        session_factory: async_sessionmaker[AsyncSession],
        broker: Broker,
        live_settings: LiveSettings,
        *,
        default_timezone: str = "UTC",
        timing: Timing | None = None,
        worker: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        watch: RunWatch | None = None,
    ) -> None:
        self.definitions = dict(definitions)
        self.watch = watch
        self.session_factory = session_factory
        self.broker = broker
        self.live_settings = live_settings
        self.default_timezone = default_timezone
        self.timing = timing or Timing()
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.planned: dict[str, Planned] = {}
        self.running: dict[int, Running] = {}
        self._heap: list[tuple[dt.datetime, str]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None
        self._stopping = asyncio.Event()
        self._firing: set[asyncio.Task[None]] = set()  # claims under way, awaited by stop()
        self._told_broken: dict[str, int] = {}  # job → the revision ops were told is broken

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        async with self.session_factory() as session, session.begin():
            await sync_jobs(session, self.definitions, self.default_timezone)
        self._subscription = await self.broker.subscribe([SCHEDULER_CHANNEL])
        await self.reload_all()
        await self.catch_up()
        self._tasks = [
            asyncio.create_task(self._fire_loop()),
            asyncio.create_task(self._listen(self._subscription)),
            asyncio.create_task(self._heartbeat_loop()),
        ]
        self.wake()

    async def stop(self) -> None:
        # The loops are asked to end at their next wait, not cancelled mid-query: a query
        # cancelled at shutdown leaves the database driver's thread answering a closed loop.
        self._stopping.set()
        self.wake()
        loops = [*self._tasks, *self._firing]
        if loops:
            _, stuck = await asyncio.wait(loops, timeout=self.timing.shutdown_grace)
            for task in stuck:
                task.cancel()
            for task in stuck:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = []
        if self.running:
            pending = [r.task for r in self.running.values()]
            # Real time, not the clock's: it bounds how long real coroutines get to finish.
            _, still = await asyncio.wait(pending, timeout=self.timing.shutdown_grace)
            for run in list(self.running.values()):
                if run.task in still:
                    run.cancelled_by = "shutdown"
                    run.task.cancel()
            if still:
                await asyncio.wait(still, timeout=5)
        if self._subscription is not None:
            await self.broker.unsubscribe(self._subscription)
            self._subscription = None

    def wake(self) -> None:
        self._wake.set()

    # -- what to run when ------------------------------------------------------------------

    async def reload_all(self) -> None:
        async with self.session_factory() as session:
            rows = (await session.scalars(select(ScheduledJob))).all()
        previous, self.planned = self.planned, {}
        for row in rows:
            if row.name in previous:
                self.planned[row.name] = previous[row.name]  # its pending fire is kept
            self._plan(row)
        self._rebuild_heap()
        await self.tell_broken()

    async def reload_job(self, name: str) -> None:
        async with self.session_factory() as session:
            row = await session.get(ScheduledJob, name)
        if row is None:
            self.planned.pop(name, None)
        else:
            self._plan(row)
        self._rebuild_heap()
        self.wake()
        await self.tell_broken([name])

    def _plan(self, row: ScheduledJob, after: dt.datetime | None = None) -> None:
        previous = self.planned.get(row.name)
        schedule: Schedule | None
        broken: str | None = None
        if (
            previous is not None
            and previous.schedule is not None
            and ((previous.row.schedule, previous.row.timezone) == (row.schedule, row.timezone))
        ):
            schedule = previous.schedule  # parsing 10,000 again would block the loop seconds
        else:
            schedule, broken = schedule_of(row)
            if broken is not None:
                log.error("job %s: not scheduled: %s", row.name, broken)
        planned = Planned(row, schedule, broken=broken)
        if schedule is not None and self._runnable(row):
            if after is None and previous is not None and previous.schedule == schedule:
                # Same timing (another field was edited, or a heal): keep the pending fire,
                # which may be due and not yet taken; recomputing from now would drop it.
                planned.next_fire = previous.next_fire
            if planned.next_fire is None:
                planned.next_fire = schedule.next_after(after or self.clock.now())
        self.planned[row.name] = planned

    def _runnable(self, row: ScheduledJob) -> bool:
        return row.enabled and not row.orphaned and row.name in self.definitions

    def _rebuild_heap(self) -> None:
        self._heap = [(p.next_fire, name) for name, p in self.planned.items() if p.next_fire]
        heapq.heapify(self._heap)

    async def catch_up(self) -> None:
        """After downtime: each job's newest missed fire runs once (or is recorded skipped)."""
        moment = self.clock.now()
        async with self.session_factory() as session:
            newest = await claims.last_scheduled_fors(session)  # one query, however many jobs
        for name, planned in self.planned.items():
            if planned.next_fire is None or planned.schedule is None:
                continue
            last = newest.get(name)
            if last is None:
                continue  # never ran: nothing was missed yet
            missed = planned.schedule.latest_at_or_before(moment)
            if missed > last:
                self._fire_soon(name, missed)

    def _fire_soon(self, name: str, fire: dt.datetime) -> None:
        task = asyncio.create_task(self._fire(name, fire))
        self._firing.add(task)
        task.add_done_callback(self._firing.discard)

    async def _fire_loop(self) -> None:
        while not self._stopping.is_set():
            moment = self.clock.now()
            while self._heap and self._heap[0][0] <= moment:
                fire, name = heapq.heappop(self._heap)
                planned = self.planned.get(name)
                if planned is None or planned.next_fire != fire or planned.schedule is None:
                    continue  # replaced by an edit
                planned.next_fire = planned.schedule.next_after(fire)
                heapq.heappush(self._heap, (planned.next_fire, name))
                self._fire_soon(name, fire)
            delay = (self._heap[0][0] - self.clock.now()).total_seconds() if self._heap else 60.0
            await self._nap(max(0.0, min(delay, 60.0)))
            if self._stopping.is_set():
                return
            # Cleared once awake, not before napping: a wake() while queued runs were being
            # taken (or start()'s own) must bring another look, not wait for a heartbeat.
            self._wake.clear()
            try:
                await self.take_queued()
            except Exception:
                # The database away: this loop must live on (the heartbeat retries).
                log.warning("queued runs not taken (database away?); retrying")

    async def _nap(self, seconds: float) -> None:
        """Until `seconds` pass on the clock, or wake() is called, whichever comes first."""
        woken = asyncio.ensure_future(self._wake.wait())
        timer = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait((woken, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            timer.cancel()

    async def _unless_stopping(self, waiting: Awaitable[T]) -> T | None:
        """What `waiting` gives, or None once stop() is called first."""
        wanted = asyncio.ensure_future(waiting)
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((wanted, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not wanted.done():
                wanted.cancel()
        return None if self._stopping.is_set() and not wanted.done() else wanted.result()

    async def _fire(self, name: str, fire: dt.datetime) -> None:
        planned = self.planned.get(name)
        if planned is None:
            return
        row = planned.row
        late = (self.clock.now() - fire).total_seconds()
        trigger, status, error = Trigger.SCHEDULE, RunStatus.RUNNING, None
        if late > row.misfire_grace_s:
            if row.misfire == "skip":
                status, error = RunStatus.SKIPPED, f"missed by {late:.0f} s (misfire policy: skip)"
            else:
                trigger = Trigger.CATCH_UP
        lease = dt.timedelta(seconds=self.timing.lease)
        try:
            async with self.session_factory() as session, session.begin():
                overlap_matters = status == RunStatus.RUNNING and row.overlap != "allow"
                if overlap_matters:
                    await claims.lock_job(session, name)  # a queued run's claim waits for ours
                if overlap_matters and await claims.is_busy(session, name):
                    if row.overlap == "skip":
                        status, error = RunStatus.SKIPPED, "the previous run was still running"
                    else:
                        status = RunStatus.QUEUED
                run_id = await claims.claim_fire(
                    session,
                    name,
                    fire,
                    trigger=trigger,
                    status=status,
                    worker=self.worker,
                    lease=lease,
                    now=self.clock.now(),
                    error=error,
                )
        except Exception:
            log.exception("job %s: could not claim the fire at %s", name, fire)
            return
        if run_id is None:
            return  # another process has this fire
        await self._publish_frame({"job": name, "id": run_id, "status": status})
        if status == RunStatus.RUNNING:
            self._start_run(run_id, name, fire, trigger)
        elif status == RunStatus.SKIPPED and self.watch is not None:
            self.watch.run_ended(name, status, None)

    async def take_queued(self) -> None:
        """Starts queued runs (manual, or waiting their turn) whose job is free to run."""
        async with self.session_factory() as session:
            queued = (
                await session.execute(
                    select(
                        JobRun.id,
                        JobRun.job,
                        JobRun.scheduled_for,
                        JobRun.trigger,
                        JobRun.arguments,
                        JobRun.triggered_by,
                    )
                    .where(JobRun.status == RunStatus.QUEUED)
                    .order_by(JobRun.id)
                    .limit(50)
                )
            ).all()
        lease = dt.timedelta(seconds=self.timing.lease)
        for run_id, name, scheduled_for, trigger, arguments, triggered_by in queued:
            planned = self.planned.get(name)
            if name not in self.definitions or planned is None:
                continue  # a job this process does not have (older code)
            async with self.session_factory() as session, session.begin():
                # One claim checks and takes: two schedulers never each start a run of one job.
                taken = await claims.take_queued(
                    session,
                    run_id,
                    worker=self.worker,
                    lease=lease,
                    clock=self.clock.now,
                    alone=planned.row.overlap != "allow",
                )
            if not taken:
                continue
            await self._publish_frame({"job": name, "id": run_id, "status": RunStatus.RUNNING})
            self._start_run(
                int(run_id),
                name,
                as_utc(scheduled_for),
                trigger,
                Requested(arguments, triggered_by),
            )

    # -- running one run -------------------------------------------------------------------

    def _start_run(
        self,
        run_id: int,
        name: str,
        scheduled_for: dt.datetime,
        trigger: str,
        requested: Requested | None = None,
    ) -> None:
        task = asyncio.create_task(self._execute(run_id, name, scheduled_for, requested))
        self.running[run_id] = Running(task, name)
        if self.watch is not None:
            delay = (self.clock.now() - scheduled_for).total_seconds()
            self.watch.run_started(name, str(trigger), max(0.0, delay))

    async def _execute(
        self,
        run_id: int,
        name: str,
        scheduled_for: dt.datetime,
        requested: Requested | None = None,
    ) -> None:
        definition = self.definitions[name]
        row = self.planned[name].row
        loop = asyncio.get_running_loop()

        async def report(fraction: float | None, message: str | None) -> None:
            await self._save_progress(run_id, name, fraction, message, context)

        def call_soon(work: Callable[[], Awaitable[Any]]) -> None:
            loop.call_soon_threadsafe(lambda: loop.create_task(work()))  # type: ignore[arg-type]

        context = JobContext(
            job=name,
            run_id=run_id,
            scheduled_for=scheduled_for,
            session_factory=self.session_factory,
            broker=self.broker,
            settings=self.live_settings,
            report=report,
            call_soon=call_soon,
            clock=self.clock,
            arguments=requested.arguments if requested else None,
            triggered_by=requested.by if requested else None,
        )
        running = self.running.get(run_id)
        if running is not None:
            running.context = context
        status, error, trace = RunStatus.SUCCEEDED, None, None
        started = self.clock.monotonic()
        deadline = asyncio.timeout(None)
        try:
            async with deadline:
                call_off_expiry = self._expire_on_clock(deadline, row.timeout_s)
                try:
                    if definition.is_async:
                        await definition.function(context)
                    else:
                        await self._in_thread(definition.function, context)
                finally:
                    call_off_expiry()
        except (asyncio.CancelledError, JobCancelled):
            by = running.cancelled_by if running else None
            status, error = RunStatus.FAILED, f"cancelled by {by or 'shutdown'}"
        except Exception as exc:
            if isinstance(exc, TimeoutError) and deadline.expired():
                status, error = (
                    RunStatus.TIMED_OUT,
                    f"stopped after its timeout of {row.timeout_s:g} s",
                )
            else:  # the job's own TimeoutError too (a slow upstream, say): a failure like any other
                status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
                trace = traceback.format_exc()
        duration = self.clock.monotonic() - started
        ended_at = self.clock.now()  # kept while recording it is retried
        if running is not None:
            running.finishing = True
        if self.watch is not None:  # before the row says so: whoever reads the row sees it counted
            self.watch.run_ended(name, status, duration)
        try:
            await self._finish(run_id, name, status, error, trace, duration, ended_at, context)
        except Exception:
            # Not recorded even after retries: the lease is no longer renewed, so the run is
            # marked abandoned once it runs out.
            log.exception("job %s run %s: its end (%s) was not recorded", name, run_id, status)
        finally:
            self.running.pop(run_id, None)
            await self._tell_schedulers({"type": "run-finished", "name": name})

    async def _in_thread(self, function: Callable[[JobContext], Any], context: JobContext) -> None:
        """Runs a sync job in a worker thread. Cancelled (or timed out), it asks the job to stop
        and waits for the thread to end: the run stays `running` (its page says cancelling)
        and its job busy until then, then the cancellation goes on."""
        thread = asyncio.ensure_future(asyncio.to_thread(function, context))
        try:
            await asyncio.shield(thread)
        except asyncio.CancelledError:
            context.cancel()  # its next ctx.log or ctx.progress raises JobCancelled
            with contextlib.suppress(Exception, JobCancelled):
                await thread
            raise

    def _expire_on_clock(
        self, deadline: asyncio.Timeout, seconds: float | None
    ) -> Callable[[], None]:
        """Expires `deadline` once `seconds` pass on the scheduler's clock (None: never);
        returns what calls that off."""
        if seconds is None:
            return lambda: None
        over = asyncio.ensure_future(self.clock.sleep(seconds))  # counted from now

        async def expire() -> None:
            await over
            deadline.reschedule(asyncio.get_running_loop().time())  # expires at once

        expiry = asyncio.create_task(expire())

        def call_off() -> None:
            expiry.cancel()
            over.cancel()  # also when `expiry` never got to run

        return call_off

    async def _save_progress(
        self,
        run_id: int,
        name: str,
        fraction: float | None,
        message: str | None,
        context: JobContext,
    ) -> None:
        still_running = True  # if the save fails, the page may as well hear the progress
        try:
            async with self.session_factory() as session, session.begin():
                result = await session.execute(
                    update(JobRun)
                    .where(JobRun.id == run_id, JobRun.status == RunStatus.RUNNING)
                    .values(
                        progress=fraction,
                        progress_message=(message or "")[:300] or None,
                        log=context.log_lines.text(),
                    )
                )
                still_running = getattr(result, "rowcount", 1) == 1
        except Exception:
            log.warning("job %s run %s: progress not saved", name, run_id)
        if not still_running:
            return  # the run ended meanwhile: a late "running" frame would undo its badge
        await self._publish_frame(
            {
                "job": name,
                "id": run_id,
                "status": RunStatus.RUNNING,
                "progress": fraction,
                "progress_message": message,
            }
        )

    async def _finish(
        self,
        run_id: int,
        name: str,
        status: str,
        error: str | None,
        trace: str | None,
        duration: float,
        ended_at: dt.datetime,
        context: JobContext,
    ) -> None:
        progress = 1.0 if status == RunStatus.SUCCEEDED else context.fraction
        values = {
            "status": status,
            "finished_at": ended_at,
            "duration_s": round(duration, 3),
            "progress": progress,
            "progress_message": (context.message or "")[:300] or None,  # the column's size
            "log": context.log_lines.text(),
            "error": error,
            "traceback": trace,
            "lease_until": None,
        }
        await self._record_end(run_id, name, values)
        await self._publish_frame(
            {"job": name, "id": run_id, "status": status, "progress": progress}
        )
        if status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
            await self._tell_ops(name, run_id, status, error)

    async def _record_end(self, run_id: int, name: str, values: dict[str, Any]) -> None:
        """Writes the run's end; while the database is away, retries with backoff for up to
        `Timing.record_end_for` seconds (the run stays ours: the heartbeat renews its lease)."""
        delay, waited = END_RETRY_FIRST_S, 0.0
        while True:
            try:
                async with self.session_factory() as session, session.begin():
                    await claims.record_end(session, run_id, values)
                return
            except (OperationalError, InterfaceError, OSError):  # the database away, not a bug
                if waited + delay > self.timing.record_end_for:
                    raise
                log.warning(
                    "job %s run %s: its end (%s) not recorded yet (database away?); retrying "
                    "in %g s",
                    name,
                    run_id,
                    values["status"],
                    delay,
                )
            await self.clock.sleep(delay)
            waited += delay
            delay = min(delay * 2, END_RETRY_MAX_S)

    async def _tell_ops(self, name: str, run_id: int, status: str, error: str | None) -> None:
        try:
            await notify(
                self.session_factory,
                self.broker,
                group=OPS_GROUP,
                title=f"Job {name} {status.replace('_', ' ')}",
                body=(error or "")[:500],
                level="error",
                link=f"/admin/jobs/{name}/runs/{run_id}",
            )
        except NotifyError as exc:
            log.warning("job %s run %s %s; ops not told: %s", name, run_id, status, exc)

    async def tell_broken(self, names: Iterable[str] | None = None) -> None:
        """Tells `ops` once about each job (of `names`, else all) that should run but whose
        stored schedule cannot (written around the checks: by SQL, by an older release)."""
        for name in list(self.planned) if names is None else names:
            planned = self.planned.get(name)
            if planned is None or planned.broken is None or not self._runnable(planned.row):
                self._told_broken.pop(name, None)
                continue
            row = planned.row
            if self._told_broken.get(name) == row.revision:
                continue
            self._told_broken[name] = row.revision
            try:
                await self._tell_ops_broken(row, planned.broken)
            except Exception:  # never fatal: the job stays skipped and shown as broken
                log.warning("job %s is broken; ops not told", name, exc_info=True)

    async def _tell_ops_broken(self, row: ScheduledJob, broken: str) -> None:
        title, body = f"Job {row.name} is not scheduled", broken
        # Once for every scheduler and restart: not when ops heard this since the row changed.
        async with self.session_factory() as session:
            latest = await session.scalar(
                select(func.max(Notification.created_at))
                .join(Group, Notification.group_id == Group.id)
                .where(Group.name == OPS_GROUP, Notification.title == title)
                .where(Notification.body == body)
            )
        if latest is not None and as_utc(latest) >= as_utc(row.updated_at):
            return
        try:
            await notify(
                self.session_factory,
                self.broker,
                group=OPS_GROUP,
                title=title,
                body=body,
                level="error",
                link=f"/admin/jobs/{row.name}",
            )
        except NotifyError as exc:
            log.warning("job %s is broken; ops not told: %s", row.name, exc)

    # -- channels and heartbeats -----------------------------------------------------------

    async def _publish_frame(self, run: Mapping[str, Any]) -> None:
        try:
            await self.broker.publish(JOBS_CHANNEL, job_frame(run))
        except Exception:
            log.warning("job frame for run %s not published", run.get("id"))

    async def _tell_schedulers(self, message: dict[str, Any]) -> None:
        try:
            await self.broker.publish(SCHEDULER_CHANNEL, message)
        except Exception:
            log.warning("scheduler message %s not published; peers heal", message.get("type"))

    async def _listen(self, subscription: Subscription) -> None:
        while True:
            message = await self._unless_stopping(subscription.get())
            if message is None:
                return
            data = message.data
            kind = data.get("type")
            try:
                if kind == "job-changed":
                    await self.reload_job(str(data.get("name")))
                elif kind in ("run-queued", "run-finished"):
                    self.wake()
                elif kind == "cancel":
                    self.cancel_here(int(data.get("run_id", 0)), str(data.get("by") or ""))
                elif kind == "missed":
                    await self.reload_all()
                    self.wake()
            except Exception:
                log.exception("scheduler message %r not handled", kind)

    def cancel_here(self, run_id: int, by: str) -> bool:
        running = self.running.get(run_id)
        # Once is enough: a sync job's thread may take a while to stop, and the heartbeat
        # sees the request again meanwhile; a second cancel would stop waiting for it.
        if running is None or running.finishing or running.cancelled_by is not None:
            return False
        running.cancelled_by = by or "an operator"
        running.task.cancel()
        return True

    async def _heartbeat_loop(self) -> None:
        while True:
            await self._unless_stopping(self.clock.sleep(self.timing.heartbeat))
            if self._stopping.is_set():
                return
            try:
                await self.heartbeat()
            except Exception:
                log.warning("scheduler heartbeat failed (database away?); retrying")

    async def heartbeat(self) -> None:
        """Renews our leases, marks dead processes' runs, applies missed edits and cancels."""
        lease = dt.timedelta(seconds=self.timing.lease)
        now = self.clock.now()
        async with self.session_factory() as session, session.begin():
            await claims.renew_leases(session, self.worker, lease, now, run_ids=list(self.running))
            abandoned = await claims.abandon_expired(session, now)
            cancels = (
                await session.scalars(
                    select(JobRun.id).where(
                        JobRun.worker == self.worker,
                        JobRun.status == RunStatus.RUNNING,
                        JobRun.cancel_requested.is_(True),
                    )
                )
            ).all()
            # Revisions only grow: while their count and sum match ours, no edit was missed,
            # and one row is read instead of every job's (10,000 jobs, every heartbeat).
            total = (
                await session.execute(
                    select(func.count(), func.coalesce(func.sum(ScheduledJob.revision), 0))
                )
            ).one()
            ours = (len(self.planned), sum(p.row.revision for p in self.planned.values()))
            revisions: dict[str, int] = {}
            if (int(total[0]), int(total[1])) != ours:
                revisions = dict(
                    (await session.execute(select(ScheduledJob.name, ScheduledJob.revision))).all()
                )
        for run_id, name in abandoned:
            if self.watch is not None:  # counted by the process that marked it
                self.watch.run_ended(name, RunStatus.ABANDONED, None)
            await self._publish_frame({"job": name, "id": run_id, "status": RunStatus.ABANDONED})
            await self._tell_ops(name, run_id, RunStatus.ABANDONED, "its scheduler process stopped")
        for run_id in cancels:
            self.cancel_here(int(run_id), "an operator")
        stale = [
            name
            for name, revision in revisions.items()
            if name not in self.planned or self.planned[name].row.revision != revision
        ]
        for name in stale:
            await self.reload_job(name)
        await self.take_queued()
