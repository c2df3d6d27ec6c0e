"""One way to open the services: the web app, the scheduler process, the commands and the shell
get the same kinds of objects, and everything opened is closed on exit, on error too.

(tests/test_services.py tests the real PostgreSQL/Redis the suite starts, not these.)
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from starlette.testclient import TestClient

from app.auth.current import Actor
from app.channels.database import DatabaseBroker
from app.channels.memory import MemoryBroker
from app.channels.redis import RedisBroker
from app.cli.shared import command_services
from app.constance.records import Change
from app.main import create_app
from app.metrics import Metrics
from app.models import ScheduledJob
from app.scheduler.runner import Scheduler
from app.scheduler.standalone import run_scheduler
from app.services import Services, build_services, open_services
from app.shell import opened
from tests.conftest import make_config
from tests.scheduler import jobs_for_tests

TEST_ACTOR = Actor(None, "test", None)


def kinds(services: Services) -> dict[str, type]:
    return {f.name: type(getattr(services, f.name)) for f in dataclasses.fields(services)}


async def scheduler_process_services(config: Any) -> Scheduler:
    """The scheduler a `scheduler` process runs, stopped again once it is up."""
    stop = asyncio.Event()
    box: dict[str, Scheduler] = {}

    def ready(scheduler: Scheduler) -> None:
        box["scheduler"] = scheduler
        stop.set()

    await run_scheduler(config, stop=stop, ready=ready, handle_signals=False)
    return box["scheduler"]


def test_the_web_app_the_scheduler_the_commands_and_the_shell_get_the_same_kinds_of_services(
    sqlite_url: str,
) -> None:
    config = make_config(sqlite_url, jobs_module=jobs_for_tests.MODULE, relay=True)
    app = create_app(config)
    with TestClient(app, base_url="https://testserver"):
        web: Services = app.state.services

    async def command() -> Services:
        async with command_services(config) as services:
            return services

    cli = asyncio.run(command())
    loop = asyncio.new_event_loop()
    try:
        with opened(config, loop) as names:
            shell = names["services"]
            assert names["live_settings"] is shell.live_settings
            assert names["jobs"] is shell.jobs
    finally:
        loop.close()
    scheduler = asyncio.run(scheduler_process_services(config))

    # Counted where they are served: the web app measures, the commands and the shell do not.
    assert isinstance(web.metrics, Metrics) and cli.metrics is None and shell.metrics is None
    assert kinds(web) == {**kinds(cli), "metrics": Metrics} == {**kinds(shell), "metrics": Metrics}
    assert kinds(web)["broker"] is DatabaseBroker and kinds(web)["redis"] is type(None)
    # A process known to be alone (the suite's in-process apps) keeps its frames in memory.
    alone = build_services(dataclasses.replace(config, relay=False))
    assert type(alone.broker) is MemoryBroker
    # The scheduler runs where it is asked for, and nowhere else.
    assert web.scheduler is None and cli.scheduler is None and shell.scheduler is None
    assert isinstance(scheduler, Scheduler)
    assert type(scheduler.broker) is kinds(web)["broker"]
    assert type(scheduler.live_settings) is kinds(web)["live_settings"]
    # The same jobs everywhere, from the configured module.
    for services in (web, cli, shell):
        assert sorted(services.jobs.definitions) == sorted(scheduler.definitions)
    # Only the web app runs the @on_change hooks: they adjust what it serves.
    assert web.settings_store.hooks.by_key
    assert not cli.settings_store.hooks.by_key and not shell.settings_store.hooks.by_key


def test_the_web_app_runs_a_scheduler_when_embedded(sqlite_url: str) -> None:
    app = create_app(make_config(sqlite_url, scheduler="embedded"))
    with TestClient(app, base_url="https://testserver"):
        services: Services = app.state.services
        assert isinstance(services.scheduler, Scheduler)
        assert app.state.scheduler is services.scheduler
        assert services.scheduler.planned  # started: the job rows are planned


async def redis_clients(url: str) -> int:
    client = redis.from_url(url)
    try:
        return len(await client.client_list()) - 1  # not counting this one
    finally:
        await client.aclose()


def other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


@pytest.fixture
async def baseline(redis_url: str) -> AsyncIterator[tuple[int, set[asyncio.Task[Any]]]]:
    yield await redis_clients(redis_url), other_tasks()


async def assert_all_closed(
    services: Services, redis_url: str, baseline: tuple[int, set[asyncio.Task[Any]]]
) -> None:
    clients, tasks = baseline
    assert other_tasks() <= tasks, other_tasks() - tasks  # broker, store, scheduler all stopped
    assert services.engine.pool.checkedout() == 0
    assert services.engine.pool.checkedin() == 0  # disposed: a fresh pool with no connection
    assert await redis_clients(redis_url) == clients  # the broker's and the shared client's


@pytest.mark.redis
async def test_everything_opened_is_closed_on_exit(
    sqlite_url: str, redis_url: str, baseline: tuple[int, set[asyncio.Task[Any]]]
) -> None:
    config = make_config(sqlite_url, redis_url=redis_url, jobs_module=jobs_for_tests.MODULE)
    services = build_services(config, hooks=True, scheduler=True)
    assert isinstance(services.broker, RedisBroker)
    async with open_services(services, listen=True) as opened_services:
        assert opened_services is services
        assert services.broker.status() == "ok"
        await services.broker.publish("models", {"type": "model"})  # a pooled connection
        assert await redis_clients(redis_url) > baseline[0]
        assert other_tasks() - baseline[1]  # the broker, the store and the scheduler run
        async with services.session_factory() as session:
            assert await session.get(ScheduledJob, "quick") is not None
    await assert_all_closed(services, redis_url, baseline)


@pytest.mark.redis
async def test_everything_opened_is_closed_when_the_work_fails(
    sqlite_url: str, redis_url: str, baseline: tuple[int, set[asyncio.Task[Any]]]
) -> None:
    config = make_config(sqlite_url, redis_url=redis_url, jobs_module=jobs_for_tests.MODULE)
    services = build_services(config, scheduler=True)
    with pytest.raises(LookupError, match="the work failed"):
        async with open_services(services, listen=True):
            async with services.session_factory() as session:
                await session.get(ScheduledJob, "quick")
            await services.broker.publish("models", {"type": "model"})
            raise LookupError("the work failed")
    await assert_all_closed(services, redis_url, baseline)


@pytest.mark.redis
async def test_what_started_is_closed_when_a_later_start_fails(
    tmp_path: Path, redis_url: str, baseline: tuple[int, set[asyncio.Task[Any]]]
) -> None:
    # A database nobody migrated: the settings store serves defaults, the scheduler cannot sync.
    unmigrated = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    config = make_config(unmigrated, redis_url=redis_url, jobs_module=jobs_for_tests.MODULE)
    services = build_services(config, scheduler=True)
    with pytest.raises(Exception, match="no such table: scheduled_job"):
        async with open_services(services, listen=True):
            pytest.fail("opened on a database without tables")
    await assert_all_closed(services, redis_url, baseline)


async def test_a_process_that_does_not_listen_reads_the_live_settings_once(
    sqlite_url: str,
) -> None:
    config = make_config(sqlite_url)
    async with command_services(config) as writer:
        await writer.settings_store.save([Change("LOW_STOCK_THRESHOLD", 7)], TEST_ACTOR)
    async with command_services(config) as reader:
        assert reader.live_settings.LOW_STOCK_THRESHOLD == 7
        assert reader.live_settings.version == writer.live_settings.version
        async with command_services(config) as other:
            await other.settings_store.save([Change("LOW_STOCK_THRESHOLD", 8)], TEST_ACTOR)
        assert reader.live_settings.LOW_STOCK_THRESHOLD == 7  # nothing listens here


async def test_a_scheduler_is_only_opened_in_a_process_that_listens(sqlite_url: str) -> None:
    services = build_services(make_config(sqlite_url), scheduler=True)
    with pytest.raises(ValueError, match="a scheduler hears edits and manual runs on channels"):
        async with open_services(services, listen=False):
            pytest.fail("a deaf scheduler was opened")
