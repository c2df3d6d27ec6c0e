"""`python -m app scheduler`: a scheduler with no web server, for web workers run with
SCHEDULER=off. Its services open as the web app's do; stops gracefully on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping

from app.config import Config
from app.scheduler.registry import JobDefinition
from app.scheduler.runner import Scheduler
from app.services import build_services, open_services

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_scheduler(
    config: Config,
    *,
    stop: asyncio.Event | None = None,
    ready: Callable[[Scheduler], object] = lambda scheduler: None,
    handle_signals: bool = True,
    definitions: Mapping[str, JobDefinition] | None = None,
) -> None:
    """Runs until `stop` is set or a stop signal arrives; running jobs get the shutdown grace."""
    # No @on_change hooks: they adjust what a web process serves, and this one serves nothing.
    # Listening: jobs read current live config, kept current over channels.
    services = build_services(config, scheduler=True, definitions=definitions)
    scheduler = services.scheduler
    assert scheduler is not None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = STOP_SIGNALS if handle_signals else ()  # only the main thread may take them
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    try:
        async with open_services(services, listen=True):
            ready(scheduler)
            await stop.wait()
            for number in signals:
                loop.remove_signal_handler(number)  # a second signal stops at once
            log.info("scheduler %s stopping", scheduler.worker)
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
