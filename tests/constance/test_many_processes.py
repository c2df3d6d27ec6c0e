"""Three uvicorn processes on one PostgreSQL database and Redis: a change reaches every one.

The change is made by `python -m app settings set` in a process of its own (it writes through
the same storage and publishes on Redis), and seen where operators see it: `/healthz`'s
`settings_version`, and the rows an admin list shows (ADMIN_PAGE_SIZE's hook sets the page size).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import anyio
import httpx
import pytest
import redis
from sqlalchemy import insert

from app.auth.current import Actor
from app.channels.redis import PREFIX
from app.constance.storage import Change
from app.db import create_engine
from app.models import Tag
from app.services import build_services, open_services
from tests.conftest import ADMIN_PASSWORD, add_user, csrf_token, make_settings, migrated_url
from tests.services import ROOT, RedisServer, UvicornServer, app_environment

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(60)]

TAGS = 40  # more than any page size used here, so the page size decides the rows shown
DEFAULT_PAGE_SIZE = 25
BY_MESSAGE_S = 1.0  # a published change, everywhere
BY_VERSION_CHECK_S = 5.0  # a change nobody heard of: the 2 s version check, with room
REDIS_BACK_S = 15.0  # the broker's reconnect backoff tops out at 5 s
CLI_TIMEOUT_S = 30.0
ROW = re.compile(r"<tr data-sa-pk=")
Run = Callable[..., UvicornServer]


@dataclass(frozen=True)
class Seen:
    """What one process shows right now."""

    status: int
    version: int | None
    redis: str | None
    rows: int | None  # rows on the tag list; None if the page did not render


def look(server: UvicornServer, cookie: str, *, page: bool = True) -> Seen:
    health = httpx.get(f"{server.base_url}/healthz", timeout=5, trust_env=False)
    body = health.json()
    rows = None
    if page:
        listed = httpx.get(
            f"{server.base_url}/admin/tag/list",
            headers={"Cookie": cookie},
            timeout=5,
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
    since: float,
    within: float,
    page: bool = True,
) -> tuple[float, list[Seen]]:
    """Polls every process until each shows `want`; seconds since `since`, and everything seen.

    A process counts as there when the look that saw it has ended, so the time never flatters.
    """
    pending = list(servers)
    seen: list[Seen] = []
    while True:
        looks = look_at_all(pending, cookie, page=page)
        elapsed = time.monotonic() - since
        seen.extend(looks)
        last = [(server.port, now) for server, now in zip(pending, looks, strict=True)]
        pending = [server for server, now in zip(pending, looks, strict=True) if not want(now)]
        if elapsed > within:
            raise AssertionError(f"not everywhere within {within}s ({elapsed:.2f}s): {last}")
        if not pending:
            return elapsed, seen
        time.sleep(0.02)


def reached(
    servers: Sequence[UvicornServer],
    cookie: str,
    version: int,
    rows: int,
    *,
    since: float,
    within: float,
) -> list[Seen]:
    """Every process serves `version` within `within` s of `since`, and its list shows `rows`.

    The version is timed on /healthz alone (a list render takes a few hundred ms on a busy
    machine); the list is then checked once, with no retry: the value came with the version.
    """
    _, seen = wait_everywhere(
        servers,
        cookie,
        lambda now: now.status == 200 and now.version == version,
        since=since,
        within=within,
        page=False,
    )
    pages = look_at_all(servers, cookie)
    assert [(now.version, now.rows) for now in pages] == [(version, rows)] * len(servers), pages
    return seen + pages


def warm(servers: Sequence[UvicornServer], cookie: str) -> None:
    """Every process has rendered the list once: the first render is slow, and not news."""
    reached(servers, cookie, 0, DEFAULT_PAGE_SIZE, since=time.monotonic(), within=10)


def settings_set(env: Mapping[str, str], key: str, value: str) -> tuple[int, float]:
    """`python -m app settings set` as an operator runs it; the new version, and when it exited."""
    done = subprocess.run(
        [sys.executable, "-m", "app", "settings", "set", key, value],
        cwd=ROOT,
        env=app_environment(env),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    exited = time.monotonic()
    assert done.returncode == 0, done.stdout + done.stderr
    version = re.search(r"\(settings version (\d+)\)", done.stdout)
    assert version, done.stdout + done.stderr
    return int(version.group(1)), exited


def save_here(env: Mapping[str, str], key: str, value: str) -> tuple[int, float]:
    """The same save from the test's own process (another publisher, and ~2 s cheaper)."""

    async def work() -> int:
        config = make_settings(env["DATABASE_URL"], redis_url=env["REDIS_URL"])
        async with open_services(build_services(config), listen=False) as services:
            store = services.settings_store
            parsed = store.catalogue[key].parse(value)
            assert await store.save([Change(key, parsed)], Actor(None, "test", None)) == [key]
            return store.version

    version = anyio.run(work)
    return version, time.monotonic()


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


def start_three(run_uvicorn: Run, env: Mapping[str, str]) -> list[UvicornServer]:
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        servers = list(pool.map(lambda _: run_uvicorn(env), range(3)))
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


@pytest.fixture
def database(fresh_postgres_url: str) -> str:
    url = migrated_url(fresh_postgres_url)
    seed(url)
    return url


def test_a_change_from_the_cli_reaches_every_process_within_a_second(
    run_uvicorn: Run, database: str, redis_url: str
) -> None:
    env = {"DATABASE_URL": database, "REDIS_URL": redis_url}
    servers = start_three(run_uvicorn, env)
    cookie = sign_in(servers[0])
    warm(servers, cookie)

    version, exited = settings_set(env, "ADMIN_PAGE_SIZE", "7")
    reached(servers, cookie, version, 7, since=exited, within=BY_MESSAGE_S)
    # Again from another process: it is the message each time, not a value loaded at start.
    version, exited = save_here(env, "ADMIN_PAGE_SIZE", "12")
    reached(servers, cookie, version, 12, since=exited, within=BY_MESSAGE_S)
    assert all(server.healthz().json()["settings"] == "ok" for server in servers)


def test_with_redis_down_the_version_check_still_brings_the_change_everywhere(
    run_uvicorn: Run, database: str, fresh_redis_server: RedisServer
) -> None:
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
        since=time.monotonic(),
        within=10,
    )
    version, exited = settings_set(env, "ADMIN_PAGE_SIZE", "9")  # its publish is lost
    seen = reached(servers, cookie, version, 9, since=exited, within=BY_VERSION_CHECK_S)
    assert all(now.status == 200 and now.redis == "down" for now in seen), seen

    # Redis back: messages flow again, and the next change is prompt once more.
    fresh_redis_server.start()
    wait_everywhere(
        servers,
        cookie,
        lambda now: now.redis == "ok",
        since=time.monotonic(),
        within=REDIS_BACK_S,
        page=False,
    )
    version, exited = save_here(env, "ADMIN_PAGE_SIZE", "11")
    reached(servers, cookie, version, 11, since=exited, within=BY_MESSAGE_S)


def test_a_late_or_repeated_message_never_rolls_a_process_back(
    run_uvicorn: Run, database: str, redis_url: str
) -> None:
    env = {"DATABASE_URL": database, "REDIS_URL": redis_url}
    servers = start_three(run_uvicorn, env)
    cookie = sign_in(servers[0])
    warm(servers, cookie)
    older, _ = save_here(env, "ADMIN_PAGE_SIZE", "7")
    newer, exited = save_here(env, "ADMIN_PAGE_SIZE", "9")
    reached(servers, cookie, newer, 9, since=exited, within=BY_MESSAGE_S)

    client = redis.Redis.from_url(redis_url)
    try:
        for version in (older, newer, 0):  # late, repeated, and from before any change
            frame = {"type": "settings", "keys": ["ADMIN_PAGE_SIZE"], "version": version}
            heard_by = client.publish(PREFIX + "settings", json.dumps(frame))
            assert heard_by >= len(servers)  # each process's pub-sub connection got it
    finally:
        client.close()

    for _ in range(5):  # delivered within milliseconds: watch a while for any step back
        assert look_at_all(servers, cookie) == [Seen(200, newer, "ok", 9)] * len(servers)
    # A later change on another key: once every process has it, the old messages were handled.
    latest, exited = save_here(env, "LOW_STOCK_THRESHOLD", "3")
    seen = reached(servers, cookie, latest, 9, since=exited, within=BY_MESSAGE_S)
    assert all(now.version in (newer, latest) for now in seen), seen
