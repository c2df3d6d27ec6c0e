"""What a running job gets: log lines, progress, notifications, a DB session, live settings."""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.channels import Broker
from app.clock import SYSTEM_CLOCK, Clock
from app.constance import LiveSettings
from app.notifications.service import notify

LOG_LIMIT = 64 * 1024  # characters of log kept per run; the tail is dropped with a marker
TRUNCATED = "\n… log truncated at 64 KiB\n"


class JobCancelled(BaseException):
    """Raised in a job by `ctx.log` and `ctx.progress` once its run is cancelled or timed out.

    A thread cannot be stopped from outside, so a sync job stops at its next report. Like
    asyncio.CancelledError it is no Exception: a job's `except Exception` does not swallow it.
    """


class RunLog:
    """The run's captured log, capped so a chatty job cannot fill the database."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def add(self, line: str) -> None:
        if self.truncated:
            return
        stamp = self.clock.now().strftime("%H:%M:%S")
        text = f"{stamp} {line.rstrip()}\n"
        if self.size + len(text) > LOG_LIMIT:
            self.parts.append(text[: max(0, LOG_LIMIT - self.size)] + TRUNCATED)
            self.truncated = True
            return
        self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        return "".join(self.parts)


class JobContext:
    """Passed to every job function. Sync jobs run in a thread and may call these too."""

    def __init__(
        self,
        *,
        job: str,
        run_id: int,
        scheduled_for: dt.datetime,
        session_factory: async_sessionmaker[AsyncSession],
        broker: Broker,
        settings: LiveSettings,
        report: Callable[[float | None, str | None], Awaitable[None]],
        call_soon: Callable[[Callable[[], Awaitable[Any]]], None],
        clock: Clock = SYSTEM_CLOCK,
        arguments: Mapping[str, Any] | None = None,
        triggered_by: str | None = None,
    ) -> None:
        self.job = job
        self.run_id = run_id
        self.scheduled_for = scheduled_for
        # A run started on request with its own input (an export's list and format); {} for fires.
        self.arguments: Mapping[str, Any] = dict(arguments or {})
        self.triggered_by = triggered_by  # the user name that asked for the run; None for fires
        self.settings = settings  # live settings: `ctx.settings.LOW_STOCK_THRESHOLD`
        self.clock = clock  # the scheduler's: a job that waits sleeps on it (tests move it)
        self.log_lines = RunLog(clock)
        self.fraction: float | None = None
        self.message: str | None = None
        self._session_factory = session_factory
        self._broker = broker
        self._report = report
        self._call_soon = call_soon
        self._last_report = -math.inf  # the first progress always goes out
        self._cancelled = threading.Event()  # set from the event loop, read in the job's thread

    @property
    def cancelled(self) -> bool:
        """Whether the run was cancelled (or timed out): a sync job may check it between steps
        (an async job is cancelled where it awaits)."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Makes the job's next `log` or `progress` raise JobCancelled."""
        self._cancelled.set()

    def _stop_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled(f"run {self.run_id} of {self.job} was cancelled")

    def log(self, line: str) -> None:
        self._stop_if_cancelled()
        self.log_lines.add(str(line))

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Where the run is, 0.0 to 1.0; sent to open pages at most a few times a second."""
        self._stop_if_cancelled()
        self.fraction = min(1.0, max(0.0, float(fraction)))
        self.message = message
        moment = self.clock.monotonic()
        if moment - self._last_report >= 0.25 or self.fraction >= 1.0:
            self._last_report = moment
            self._call_soon(lambda: self._report(self.fraction, self.message))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in its own transaction, committed when the block ends without error."""
        async with self._session_factory() as session, session.begin():
            yield session

    async def notify(
        self,
        title: str,
        body: str = "",
        *,
        user: str | None = None,
        group: str | None = None,
        everyone: bool = False,
        level: str = "info",
        link: str | None = None,
    ) -> None:
        await notify(
            self._session_factory,
            self._broker,
            user=user,
            group=group,
            everyone=everyone,
            title=title,
            body=body,
            level=level,
            link=link,
        )
