"""The composition root: the only place that builds services and hands them to each other."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app.admin.site import build_admin
from app.auth.sessions import SessionCookieMiddleware
from app.auth.throttle import create_throttle
from app.channels.choose import broker_for
from app.clock import Clock, SystemClock
from app.config import PROJECT_DIR, Settings, load_settings
from app.constance import LiveSettings, install
from app.constance.hooks import load_declarations
from app.constance.store import SettingsStore
from app.db import create_engine, create_session_factory
from app.scheduler.registry import JobDefinition, load_jobs
from app.scheduler.runner import Scheduler, Timing
from app.scheduler.service import JobsService
from app.scheduler.sync import sync_jobs
from app.security_headers import SecurityHeadersMiddleware
from app.views.health import healthz
from app.views.home import home
from app.views.ws import ws_endpoint

log = logging.getLogger(__name__)


async def sync_job_rows(
    session_factory: async_sessionmaker[AsyncSession],
    definitions: Mapping[str, JobDefinition],
    timezone: str,
) -> None:
    """Without a scheduler here, the jobs page still lists what the code declares."""
    try:
        async with session_factory() as session, session.begin():
            await sync_jobs(session, definitions, timezone)
    except Exception:
        log.exception("job rows not synced from code (database away?); the page may lag")


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    settings = settings or load_settings()
    clock = clock or SystemClock()  # one for every service: tests pass a FakeClock
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    broker, redis_client = broker_for(settings.redis_url, clock)
    declared = load_declarations(settings.live_settings_module)  # bad declarations stop here
    live_settings = LiveSettings(declared.catalogue)
    settings_store = SettingsStore(
        declared.catalogue,
        live_settings,
        session_factory,
        broker,
        declared.hooks,
        check_interval=settings.settings_check_interval,
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broker.start()
        await settings_store.start()
        if scheduler is not None:
            await scheduler.start()  # syncs the job rows from code first
        else:
            await sync_job_rows(session_factory, definitions, settings.timezone)
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            await settings_store.stop()
            await broker.stop()
            if redis_client is not None:
                await redis_client.aclose()
            await engine.dispose()

    definitions = load_jobs(settings.jobs_module, settings.timezone)  # bad declarations stop here
    jobs = JobsService(definitions, session_factory, broker, settings.timezone, clock)
    scheduler = None
    if settings.scheduler == "embedded":
        scheduler = Scheduler(
            definitions,
            session_factory,
            broker,
            live_settings,
            default_timezone=settings.timezone,
            timing=Timing.of(settings),
            clock=clock,
        )

    app = Starlette(
        debug=settings.debug,
        routes=[
            Route("/", home),
            Route("/healthz", healthz),
            WebSocketRoute("/ws", ws_endpoint),
            Mount(
                "/static",
                StaticFiles(directory=PROJECT_DIR / "static", check_dir=False),
                name="static",
            ),
        ],
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                SessionCookieMiddleware,
                secret_key=str(settings.secret_key),
                https_only=not settings.debug,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.redis = redis_client
    app.state.broker = broker
    app.state.live_settings = live_settings
    app.state.settings_store = settings_store
    install(live_settings)
    app.state.jobs = jobs
    app.state.scheduler = scheduler
    throttle = create_throttle(redis_client, clock=clock)
    build_admin(settings, session_factory, throttle, broker, clock).mount_to(app)
    return app


def __getattr__(name: str) -> Starlette:
    # `uvicorn app.main:app` builds the app on first access, not at import time.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
