"""`python -m app scheduler`: a scheduler with no web server, for web workers run with
SCHEDULER=off. Wired as create_app() wires the embedded one; stops gracefully on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping

from app.channels.choose import broker_for
from app.config import Settings
from app.constance import LiveSettings
from app.constance.hooks import Hooks, load_declarations
from app.constance.store import SettingsStore
from app.db import create_engine, create_session_factory
from app.scheduler.registry import JobDefinition, load_jobs
from app.scheduler.runner import Scheduler, Timing

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_scheduler(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    ready: Callable[[Scheduler], object] = lambda scheduler: None,
    handle_signals: bool = True,
    definitions: Mapping[str, JobDefinition] | None = None,
) -> None:
    """Runs until `stop` is set or a stop signal arrives; running jobs get the shutdown grace."""
    if definitions is None:
        definitions = load_jobs(settings.jobs_module, settings.timezone)  # bad ones stop here
    catalogue = load_declarations(settings.live_settings_module).catalogue
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    broker, redis_client = broker_for(settings.redis_url)
    live_settings = LiveSettings(catalogue)
    # No @on_change hooks: they adjust what a web process serves, and this one serves nothing.
    store = SettingsStore(
        catalogue,
        live_settings,
        session_factory,
        broker,
        Hooks(),
        check_interval=settings.settings_check_interval,
    )
    scheduler = Scheduler(
        definitions,
        session_factory,
        broker,
        live_settings,
        default_timezone=settings.timezone,
        timing=Timing.of(settings),
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = STOP_SIGNALS if handle_signals else ()  # only the main thread may take them
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    try:
        await broker.start()
        await store.start()  # jobs read current live settings, kept current over channels
        try:
            await scheduler.start()
            ready(scheduler)
            await stop.wait()
        finally:
            for number in signals:
                loop.remove_signal_handler(number)  # a second signal stops at once
            log.info("scheduler %s stopping", scheduler.worker)
            await scheduler.stop()  # running jobs get the shutdown grace
    finally:
        await store.stop()
        await broker.stop()
        if redis_client is not None:
            await redis_client.aclose()
        await engine.dispose()
