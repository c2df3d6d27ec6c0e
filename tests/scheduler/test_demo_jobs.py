"""The demo's jobs do real work on the demo data and read the live settings they name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import jobs
from app.channels.memory import MemoryBroker
from app.constance import LiveSettings
from app.constance.hooks import load_declarations
from app.models import Customer, CustomerStats, Group, JobRun, Notification, ScheduledJob
from app.scheduler.context import JobContext
from tests import factories

DECLARED = load_declarations("app.live_settings").declared


class Harness:
    """Runs a job function as the scheduler would, with live settings given by the test."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory
        self.reported: list[tuple[float | None, str | None]] = []
        self.live = LiveSettings(DECLARED)

    def set(self, **values: Any) -> None:
        self.live.replace(values, self.live.version + 1)

    async def run(self, function: Callable[[JobContext], Awaitable[None]]) -> JobContext:
        async def report(fraction: float | None, message: str | None) -> None:
            self.reported.append((fraction, message))

        pending: list[Awaitable[Any]] = []
        context = JobContext(
            job=function.__name__,
            run_id=1,
            scheduled_for=dt.datetime.now(dt.UTC),
            session_factory=self.session_factory,
            broker=MemoryBroker(),
            settings=self.live,
            report=report,
            call_soon=lambda work: pending.append(work()),
        )
        await function(context)
        for work in pending:
            await work
        return context


async def add_stock(session_factory: async_sessionmaker[AsyncSession], *stocks: int) -> None:
    async with session_factory.begin() as session:
        session.add(Group(name="ops", permissions=["jobs:view"]))
        session.add_all(factories.product(stock=stock) for stock in stocks)


async def test_low_stock_report_uses_the_threshold_setting(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await add_stock(session_factory, 0, 3, 9, 10, 50)
    harness = Harness(session_factory)

    harness.set(LOW_STOCK_THRESHOLD=10)
    first = await harness.run(jobs.low_stock_report)
    harness.set(LOW_STOCK_THRESHOLD=4)
    second = await harness.run(jobs.low_stock_report)
    harness.set(LOW_STOCK_THRESHOLD=0)
    third = await harness.run(jobs.low_stock_report)

    assert "3 products below 10 units" in first.log_lines.text()
    assert "2 products below 4 units" in second.log_lines.text()
    assert "0 products below 0 units" in third.log_lines.text()
    async with session_factory() as session:
        titles = (await session.scalars(select(Notification.title).order_by(Notification.id))).all()
        audience = set((await session.scalars(select(Notification.audience))).all())
    # Nothing low, nothing sent: ops hear only about the first two runs.
    assert titles == [
        "3 products low on stock (under 10)",
        "2 products low on stock (under 4)",
    ]
    assert audience == {"group"}


async def test_customer_statistics_are_recomputed_in_batches_with_progress(
    session_factory: async_sessionmaker[AsyncSession], monkeypatch: Any
) -> None:
    monkeypatch.setattr(jobs, "STATS_BATCH", 2)
    async with session_factory.begin() as session:
        await factories.shop(session, customers=5, orders_each=2)
        session.add(factories.customer())  # no orders: still gets a row of zeroes
    harness = Harness(session_factory)

    context = await harness.run(jobs.refresh_customer_stats)

    async with session_factory() as session:
        stats = (await session.scalars(select(CustomerStats))).all()
        customers = await session.scalar(select(func.count()).select_from(Customer))
    assert len(stats) == customers == 6
    assert sorted(s.orders for s in stats) == [0, 2, 2, 2, 2, 2]
    assert all(s.spent > Decimal("0") for s in stats if s.orders)
    assert context.fraction == 1.0 and context.message == "6 of 6 customers"
    assert harness.reported[-1] == (1.0, "6 of 6 customers")
    assert "6 customers to refresh" in context.log_lines.text()


async def test_the_purge_keeps_runs_younger_than_the_retention_setting(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    now = dt.datetime.now(dt.UTC)
    async with session_factory.begin() as session:
        session.add(ScheduledJob(name="report", schedule="0 7 * * *", edited=[]))
        await session.flush()
        for days in (40, 20, 2):
            finished = now - dt.timedelta(days=days)
            session.add(
                JobRun(
                    job="report",
                    trigger="schedule",
                    scheduled_for=finished,
                    status="succeeded",
                    finished_at=finished,
                    log="",
                )
            )
        session.add(  # still running: never purged, however old
            JobRun(job="report", trigger="manual", scheduled_for=now, status="running", log="")
        )
    harness = Harness(session_factory)

    harness.set(JOB_RUN_RETENTION=dt.timedelta(days=30))
    await harness.run(jobs.purge_job_runs)
    async with session_factory() as session:
        after_30 = await session.scalar(select(func.count()).select_from(JobRun))
    harness.set(JOB_RUN_RETENTION=dt.timedelta(days=7))
    context = await harness.run(jobs.purge_job_runs)
    async with session_factory() as session:
        after_7 = await session.scalar(select(func.count()).select_from(JobRun))

    assert (after_30, after_7) == (3, 2)
    assert context.log_lines.text().split(" ", 1)[1].startswith("deleted 1 runs finished before")
