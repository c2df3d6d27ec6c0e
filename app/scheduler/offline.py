"""Jobs from a process that runs none (the CLI): the same JobsService the pages use.

Its changes are written and audited, then published on the `scheduler` channel, so running
schedulers apply them at once (their heartbeat check heals a lost message, e.g. without Redis).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.channels.choose import broker_for
from app.config import Settings
from app.db import create_engine, create_session_factory
from app.models.jobs import ScheduledJob
from app.scheduler.registry import JobDefinition, load_jobs
from app.scheduler.service import JobsService
from app.scheduler.sync import sync_jobs


@dataclass(frozen=True)
class OfflineJobs:
    service: JobsService
    session_factory: async_sessionmaker[AsyncSession]


@asynccontextmanager
async def offline_jobs(
    settings: Settings, definitions: Mapping[str, JobDefinition] | None = None
) -> AsyncIterator[OfflineJobs]:
    if definitions is None:
        definitions = load_jobs(settings.jobs_module, settings.timezone)
    engine = create_engine(settings.database_url)
    factory = create_session_factory(engine)
    # Publishing needs no subscription, so the broker is never started here.
    broker, client = broker_for(settings.redis_url)
    try:
        async with factory.begin() as session:
            # A fresh database no server has started on yet: the rows come from the code.
            # Otherwise the rows stand as the running servers synced them.
            if not await session.scalar(select(exists().where(ScheduledJob.name.is_not(None)))):
                await sync_jobs(session, definitions, settings.timezone)
        service = JobsService(definitions, factory, broker, settings.timezone)
        yield OfflineJobs(service, factory)
    finally:
        if client is not None:
            await client.aclose()
        await engine.dispose()
