"""The services a process works with, opened one way by the web app, the scheduler process, the
CLI and the shell: database engine and sessions, broker (and its Redis client), live settings
with their store, the jobs service, and a scheduler where the process runs one.

`build_services` makes the objects without any I/O (so the web app can hand them to its routes
while it is built); `open_services` starts what the process needs and closes everything on
exit, on error too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.cache import CACHE_INFO, Cache
from app.cached_reads import declare_cached_reads
from app.channels import Broker
from app.channels.choose import broker_for
from app.clock import Clock, SystemClock
from app.config import Config
from app.constance import LiveSettings
from app.constance.hooks import Hooks, load_declarations
from app.constance.store import SettingsStore
from app.db import create_engine, create_session_factory
from app.exports.files import use_exports_dir
from app.metrics import Metrics
from app.models.jobs import ScheduledJob
from app.scheduler.registry import JobDefinition, load_jobs
from app.scheduler.runner import Scheduler, Timing
from app.scheduler.service import JobsService
from app.scheduler.sync import sync_jobs

if TYPE_CHECKING:
    import redis.asyncio as redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    config: Config
    clock: Clock
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    broker: Broker
    redis: redis.Redis | None  # shared by the broker and the throttle; None without REDIS_URL
    cache: Cache  # values kept a while, dropped everywhere when their rows change
    live_settings: LiveSettings
    settings_store: SettingsStore
    jobs: JobsService
    scheduler: Scheduler | None  # only in a process that runs jobs
    metrics: Metrics | None = None  # what the broker and the scheduler count, where asked


def build_services(
    config: Config,
    *,
    hooks: bool = False,
    scheduler: bool = False,
    definitions: Mapping[str, JobDefinition] | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
) -> Services:
    """Every object, unstarted; bad setting or job declarations stop here.

    `hooks`: run the @on_change hooks, which adjust what a web process serves (only there).
    `scheduler`: build a scheduler to run the jobs in this process.
    `clock`: one for every service (tests pass a FakeClock).
    `metrics`: where the broker and the scheduler count deliveries and runs (a web process's).
    """
    clock = clock or SystemClock()
    use_exports_dir(config.exports_dir)
    declarations = load_declarations(config.live_settings_module)
    if definitions is None:
        definitions = load_jobs(config.jobs_module, config.timezone)
    engine = create_engine(config.database_url)
    session_factory = create_session_factory(engine)
    broker, client = broker_for(config.redis_url, engine, clock, relay=config.relay, watch=metrics)
    # With Redis, values are kept there too, for every process (app/redis_cache.py).
    shared = None
    if client is not None:
        # Imports redis-py, which a process without REDIS_URL never loads (app/channels/choose.py).
        from app.redis_cache import RedisValues

        shared = RedisValues(client)
    cache = Cache(broker, clock, shared=shared)
    # Each commit of these sessions drops the cached values it changes (app/cache.py).
    session_factory.configure(info={CACHE_INFO: cache})
    declare_cached_reads()
    live_settings = LiveSettings(declarations.declared)
    store = SettingsStore(
        declarations.declared,
        live_settings,
        session_factory,
        broker,
        declarations.hooks if hooks else Hooks(),
        check_interval=config.settings_check_interval,
        clock=clock,
    )
    return Services(
        config=config,
        clock=clock,
        engine=engine,
        session_factory=session_factory,
        broker=broker,
        redis=client,
        cache=cache,
        live_settings=live_settings,
        settings_store=store,
        jobs=JobsService(definitions, session_factory, broker, config.timezone, clock),
        scheduler=Scheduler(
            definitions,
            session_factory,
            broker,
            live_settings,
            default_timezone=config.timezone,
            timing=Timing.of(config),
            clock=clock,
            watch=metrics,
        )
        if scheduler
        else None,
        metrics=metrics,
    )


@contextlib.asynccontextmanager
async def open_services(services: Services, *, listen: bool) -> AsyncIterator[Services]:
    """Starts what the process needs; on exit (or a failed start) stops and closes everything.

    `listen`: start the broker and the settings store, so live settings follow every change
    (a serving process). Otherwise the live settings are read once, and the broker only publishes.
    The scheduler, if built, starts last (it syncs the job rows from code first); without one,
    a listening process syncs the rows so its pages list what the code declares, and any
    other syncs them only into a database no process has filled yet.
    """
    if services.scheduler is not None and not listen:
        raise ValueError("a scheduler hears edits and manual runs on channels: open with listen")
    async with contextlib.AsyncExitStack() as stack:
        # Each stop is safe on what never started, so it is pushed before the start it undoes.
        stack.push_async_callback(services.engine.dispose)
        if services.redis is not None:
            stack.push_async_callback(services.redis.aclose)
        if listen:
            stack.push_async_callback(services.broker.stop)
            await services.broker.start()
            stack.push_async_callback(services.cache.stop)
            await services.cache.start()
            stack.push_async_callback(services.settings_store.stop)
            await services.settings_store.start()
        else:
            stack.push_async_callback(services.cache.stop)  # sends a command's drops
            await _read_settings_once(services.settings_store)
        if services.scheduler is not None:
            stack.push_async_callback(services.scheduler.stop)  # running jobs get their grace
            await services.scheduler.start()
        else:
            await _sync_job_rows(services, always=listen)
        yield services


async def _read_settings_once(store: SettingsStore) -> None:
    try:
        await store.reload(None, None)
    except Exception:
        log.warning("live settings: database unreachable; the declared defaults are shown")


async def _sync_job_rows(services: Services, *, always: bool) -> None:
    jobs = services.jobs
    filled = exists().where(ScheduledJob.name.is_not(None))
    try:
        async with services.session_factory.begin() as session:
            # Otherwise the rows stand as the running schedulers synced them.
            if always or not await session.scalar(select(filled)):
                await sync_jobs(session, jobs.definitions, jobs.default_timezone)
    except Exception as exc:
        # What reads the rows next meets the same trouble, and says so where it is shown.
        log.warning("job rows not synced from code (database away?): %s", exc)
