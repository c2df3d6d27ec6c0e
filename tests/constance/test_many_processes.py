"""Three uvicorn processes on one PostgreSQL database and Redis: a change reaches every one.

The change is made by `python -m app settings set` in a process of its own (it writes through
the same database records and publishes on Redis), and seen where operators see it: `/healthz`'s
`settings_version`, and the rows an admin list shows (ADMIN_PAGE_SIZE's hook sets the page size).
The tests wait generously (a busy machine is slow); how fast a change travels is timed by
bench/settings.py. The processes that no test stops are shared by the module's tests.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import anyio
import httpx
import pytest
import redis
from sqlalchemy import insert

from app.auth.current import Actor
from app.channels.redis import PREFIX
from app.constance.records import Change
from app.db import create_engine
from app.models import Tag
from app.services import build_services, open_services
from tests.conftest import ADMIN_PASSWORD, add_user, csrf_token, make_config, migrated_url
from tests.services import (
    APP,
    ROOT,
    PostgresServer,
    RedisServer,
    ServiceError,
    UvicornServer,
    app_environment,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(120)]

TAGS = 40  # more than any page size used here, so the page size decides the rows shown
DEFAULT_PAGE_SIZE = 25
# Generous: a change takes well under a second by message and ~2 s by the version check (both
# timed by bench/settings.py, not here), and the broker's reconnect back-off tops out at 5 s.
EVENTUALLY_S = 30.0
CLI_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 15.0  # one page or /healthz on a busy machine
ROW = re.compile(r"<tr data-sa-pk=")
HEARD_APP = "tests.constance.heard_app:app"  # the app, its version check slowed to once an hour
Run = Callable[..., UvicornServer]


@dataclass(frozen=True)
class Seen:
    """What one process shows right now."""

    status: int
    version: int | None
    redis: str | None
    rows: int | None  # rows on the tag list; None if the page did not render


def look(server: UvicornServer, cookie: str, *, page: bool = True) -> Seen:
    health = httpx.get(f"{server.base_url}/healthz", timeout=REQUEST_TIMEOUT_S, trust_env=False)
    body = health.json()
    rows = None
    if page:
        listed = httpx.get(
            f"{server.base_url}/admin/tag/list",
            headers={"Cookie": cookie},
            timeout=REQUEST_TIMEOUT_S,
            trust_env=False,
        )
        rows = len(ROW.findall(listed.text)) if listed.status_code == 200 else None
    return Seen(health.status_code, body.get("settings_version"), body.get("redis"), rows)


def look_at_all(servers: Sequence[UvicornServer], cookie: str, *, page: bool = True) -> list[Seen]:
    # In parallel: one round takes as long as the slowest process, not the sum.
    with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
        return list(pool.map(lambda server: look(server, cookie, page=page), servers))


def wait_everywhere(
    servers: Sequence[UvicornServer],
    cookie: str,
    want: Callable[[Seen], bool],
    *,
    page: bool = True,
) -> list[Seen]:
    """Polls every process until each shows `want` (within EVENTUALLY_S); everything seen."""
    deadline = time.monotonic() + EVENTUALLY_S
    pending = list(servers)
    seen: list[Seen] = []
    while True:
        looks = look_at_all(pending, cookie, page=page)
        seen.extend(looks)
        last = [(server.port, now) for server, now in zip(pending, looks, strict=True)]
        pending = [server for server, now in zip(pending, looks, strict=True) if not want(now)]
        if not pending:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"not everywhere within {EVENTUALLY_S:g} s: {last}")
        time.sleep(0.05)


def reached(servers: Sequence[UvicornServer], cookie: str, version: int, rows: int) -> list[Seen]:
    """Every process comes to serve `version`, and its list then shows `rows`.

    The version is polled on /healthz alone (a list render takes a few hundred ms on a busy
    machine); the list is then checked once, with no retry: the value came with the version.
    """
    seen = wait_everywhere(
        servers, cookie, lambda now: now.status == 200 and now.version == version, page=False
    )
    pages = look_at_all(servers, cookie)
    assert [(now.version, now.rows) for now in pages] == [(version, rows)] * len(servers), pages
    return seen + pages


def warm(servers: Sequence[UvicornServer], cookie: str, version: int = 0) -> None:
    """Every process has rendered the list once: the first render is slow, and not news."""
    reached(servers, cookie, version, DEFAULT_PAGE_SIZE)


def settings_set(env: Mapping[str, str], key: str, value: str) -> int:
    """`python -m app settings set` as an operator runs it; the new version."""
    done = subprocess.run(
        [sys.executable, "-m", "app", "settings", "set", key, value],
        cwd=ROOT,
        env=app_environment(env),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = re.search(r"\(settings version (\d+)\)", done.stdout)
    assert version, done.stdout + done.stderr
    return int(version.group(1))


def save_here(env: Mapping[str, str], key: str, value: str) -> int:
    """The same save from the test's own process (another publisher, and ~2 s cheaper)."""

    async def work() -> int:
        config = make_config(env["DATABASE_URL"], redis_url=env["REDIS_URL"])
        async with open_services(build_services(config), listen=False) as services:
            store = services.settings_store
            parsed = store.declared[key].parse(value)
            assert await store.save([Change(key, parsed)], Actor(None, "test", None)) == [key]
            return store.version

    return anyio.run(work)


def sign_in(server: UvicornServer, username: str = "root") -> str:
    """The session cookie as a Cookie header: good on every process (one SECRET_KEY)."""
    with httpx.Client(base_url=server.base_url, timeout=10, trust_env=False) as client:
        page = client.get("/admin/login")
        assert page.status_code == 200, server.output()[-3000:]
        signed = client.post(
            "/admin/login",
            data={
                "username": username,
                "password": ADMIN_PASSWORD,
                "csrftoken": csrf_token(page.text),
            },
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text[-500:]
        # The cookie is Secure: httpx would not send it back over http://127.0.0.1 itself.
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in client.cookies.jar)


def start_three(run_uvicorn: Run, env: Mapping[str, str], app: str = APP) -> list[UvicornServer]:
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        servers = list(pool.map(lambda _: run_uvicorn(env, app=app), range(3)))
    assert len({server.pid for server in servers}) == 3
    return servers


def seed(url: str) -> None:
    add_user(url, "root")

    async def work() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                rows = [{"name": f"tag-{number:02}"} for number in range(TAGS)]
                await connection.execute(insert(Tag), rows)
        finally:
            await engine.dispose()

    anyio.run(work)


def repeat_news(redis_url: str, version: int) -> int:
    """Publishes a settings message for `version` as a save does; how many listeners got it."""
    client = redis.Redis.from_url(redis_url)
    try:
        frame = {"type": "settings", "keys": ["ADMIN_PAGE_SIZE"], "version": version}
        return int(client.publish(PREFIX + "settings", json.dumps(frame)))
    finally:
        client.close()


@pytest.fixture
def database(migrated_postgres_url: str) -> str:
    url = migrated_postgres_url
    seed(url)
    return url


@dataclass(frozen=True)
class Three:
    """Three processes on one database and Redis, and a signed-in cookie good on each."""

    servers: list[UvicornServer]
    cookie: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def shared_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A migrated, seeded database for the module's shared processes; dropped after."""
    postgres_server.ensure_running()
    name = f"settings_{uuid.uuid4().hex[:12]}"
    url = migrated_url(postgres_server.create_database(name))
    seed(url)
    yield url
    if postgres_server.is_running():
        with contextlib.suppress(ServiceError):
            postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def shared_three(shared_database: str, redis_server: RedisServer, module_uvicorn: Run) -> Three:
    """Three processes shared by the tests that stop nothing (started after the database and
    stopped before it is dropped). Their version check is slowed to once an hour: each change
    they show came by message."""
    redis_server.start()
    redis_server.flushall()
    env = {"DATABASE_URL": shared_database, "REDIS_URL": redis_server.url}
    servers = start_three(module_uvicorn, env, HEARD_APP)
    return Three(servers, sign_in(servers[0]), env)


@pytest.fixture
def three(shared_three: Three) -> Three:
    """The module's three processes, each showing ADMIN_PAGE_SIZE's default again."""
    servers, cookie, env = shared_three.servers, shared_three.cookie, shared_three.env
    assert all(server.is_running() for server in servers)
    now = look(servers[0], cookie)
    version = now.version if now.rows == DEFAULT_PAGE_SIZE else None
    if version is None:
        version = save_here(env, "ADMIN_PAGE_SIZE", str(DEFAULT_PAGE_SIZE))
    assert version is not None
    warm(servers, cookie, version)
    return shared_three


def test_a_change_from_the_cli_reaches_every_process(three: Three) -> None:
    servers, cookie, env = three.servers, three.cookie, three.env

    version = settings_set(env, "ADMIN_PAGE_SIZE", "7")
    reached(servers, cookie, version, 7)
    # Again from another process: it is the message each time (the processes' version check is
    # slowed to once an hour), not a value loaded at start.
    version = save_here(env, "ADMIN_PAGE_SIZE", "12")
    reached(servers, cookie, version, 12)
    assert all(server.healthz().json()["settings"] == "ok" for server in servers)


def test_with_redis_down_the_version_check_still_brings_the_change_everywhere(
    run_uvicorn: Run, database: str, fresh_redis_server: RedisServer
) -> None:
    # Processes of its own: it stops their Redis.
    env = {"DATABASE_URL": database, "REDIS_URL": fresh_redis_server.url}
    servers = start_three(run_uvicorn, env)
    cookie = sign_in(servers[0])  # signing in counts attempts in Redis: do it while it is up
    warm(servers, cookie)
    assert all(server.healthz().json()["redis"] == "ok" for server in servers)

    fresh_redis_server.stop()
    # Every process notices (its pub-sub connection drops), and keeps serving pages.
    wait_everywhere(
        servers,
        cookie,
        lambda now: now.status == 200 and now.redis == "down" and now.rows == DEFAULT_PAGE_SIZE,
    )
    version = settings_set(env, "ADMIN_PAGE_SIZE", "9")  # its publish is lost
    seen = reached(servers, cookie, version, 9)
    assert all(now.status == 200 and now.redis == "down" for now in seen), seen

    # Redis back: messages flow again (every process listens once more), and the next change
    # arrives once more.
    fresh_redis_server.start()
    wait_everywhere(servers, cookie, lambda now: now.redis == "ok", page=False)
    assert repeat_news(fresh_redis_server.url, version) >= len(servers)
    version = save_here(env, "ADMIN_PAGE_SIZE", "11")
    reached(servers, cookie, version, 11)


def test_a_late_or_repeated_message_never_rolls_a_process_back(three: Three) -> None:
    servers, cookie, env = three.servers, three.cookie, three.env
    older = save_here(env, "ADMIN_PAGE_SIZE", "7")
    newer = save_here(env, "ADMIN_PAGE_SIZE", "9")
    reached(servers, cookie, newer, 9)

    for version in (older, newer, 0):  # late, repeated, and from before any change
        # Each process's pub-sub connection got it.
        assert repeat_news(env["REDIS_URL"], version) >= len(servers)

    for _ in range(5):  # delivered within milliseconds: watch a while for any step back
        assert look_at_all(servers, cookie) == [Seen(200, newer, "ok", 9)] * len(servers)
    # A later change on another key: once every process has it, the old messages were handled.
    latest = save_here(env, "LOW_STOCK_THRESHOLD", "3")
    seen = reached(servers, cookie, latest, 9)
    assert all(now.version in (newer, latest) for now in seen), seen
