"""Two uvicorn processes sharing one database and one Redis: sockets hear every process.

No test stops them: the module's tests share them, each with sockets of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import sys
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from websockets.asyncio.client import ClientConnection, connect

from app.cache import CACHE_INFO, Cache
from app.channels.redis import RedisBroker
from app.clock import SystemClock
from app.db import create_engine, create_session_factory
from app.notifications.service import notify
from app.redis_cache import RedisValues
from tests.conftest import ADMIN_PASSWORD, add_user, csrf_token, migrated_url
from tests.services import ROOT, RedisServer, RunUvicorn, UvicornServer, app_environment

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

WAIT_S = 30.0  # for a frame or a page: generous, a busy machine is slow
CLI_TIMEOUT_S = 30.0
SECRET_KEY = "many-processes-secret"
Frame = dict[str, Any]


class LoopbackCookies(httpx.Auth):
    """Sends the Secure session cookie over http://127.0.0.1 too, as browsers do for loopback."""

    def __init__(self, cookies: httpx.Cookies) -> None:
        self.cookies = cookies

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Cookie"] = self.header()
        yield request

    def header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies.jar)


class Browser:
    """One signed-in user: HTTP to the server signed in on, and /ws sockets to any server."""

    def __init__(self, server: UvicornServer, stack: AsyncExitStack) -> None:
        self.server = server
        self.stack = stack
        self.http = httpx.AsyncClient(base_url=server.base_url, timeout=WAIT_S, trust_env=False)
        self.cookies = LoopbackCookies(self.http.cookies)
        self.http.auth = self.cookies

    async def sign_in(self, username: str) -> None:
        page = await self.http.get("/admin/login")
        assert page.status_code == 200, page.text[-500:]
        signed_in = await self.http.post(
            "/admin/login",
            data={
                "username": username,
                "password": ADMIN_PASSWORD,
                "csrftoken": csrf_token(page.text),
            },
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text[-500:]
        assert "starboard_session" in self.http.cookies

    def dial(self, server: UvicornServer | None) -> connect:
        url = (server or self.server).base_url.replace("http://", "ws://") + "/ws"
        headers = {"Cookie": self.cookies.header()}
        return connect(url, additional_headers=headers, proxy=None, open_timeout=WAIT_S)

    async def socket(self, server: UvicornServer | None = None) -> ClientConnection:
        """An open /ws, its first frame (the unread count) already checked and read."""
        socket = await self.stack.enter_async_context(self.dial(server))
        first = await next_frame(socket)
        assert first["type"] == "unread", first
        return socket

    async def first_frame(self, server: UvicornServer) -> Frame:
        """What a /ws opened now on `server` is told first (the socket is then closed)."""
        async with self.dial(server) as socket:
            return await next_frame(socket)


@pytest.fixture
async def browsers() -> AsyncIterator[Callable[[UvicornServer, str], Any]]:
    """`await browsers(server, username)`: a Browser signed in; all closed after the test."""
    async with AsyncExitStack() as stack:

        async def open_browser(server: UvicornServer, username: str) -> Browser:
            browser = Browser(server, stack)
            stack.push_async_callback(browser.http.aclose)
            await browser.sign_in(username)
            return browser

        yield open_browser


async def next_frame(socket: ClientConnection, within: float = WAIT_S) -> Frame:
    async with asyncio.timeout(within):
        frame: Frame = json.loads(await socket.recv())
    return frame


async def nothing_more(socket: ClientConnection) -> None:
    """The socket has sent nothing since the last frame read: a ping comes straight back."""
    await socket.send(json.dumps({"type": "ping"}))
    assert await next_frame(socket) == {"type": "pong"}


async def command(env: Mapping[str, str], *args: str) -> str:
    """`python -m app ARGS` in a process of its own; its output, once it has exited."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app", *args),
        cwd=ROOT,
        env=app_environment(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(CLI_TIMEOUT_S):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, err.decode()
    return out.decode()


async def cli_notify(env: Mapping[str, str], *args: str) -> int:
    """`python -m app notify ARGS` in a process of its own; returns the notification's id."""
    out = await command(env, "notify", *args)
    sent = re.search(r"Sent notification (\d+)", out)
    assert sent, out
    return int(sent.group(1))


def shared_database(tmp_path: Path) -> str:
    """One migrated SQLite file for every process; root, alice (support), carol (sales)."""
    url = migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}")
    add_user(url, "root")
    add_user(url, "alice", superuser=False, groups={"support": ["tag:view"]})
    add_user(url, "carol", superuser=False, groups={"sales": []})
    return url


@dataclass(frozen=True)
class Two:
    """Two processes on one database and Redis, and the environment they run with."""

    a: UvicornServer
    b: UvicornServer
    env: dict[str, str]


@pytest.fixture(scope="module")
def two(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, module_uvicorn: RunUvicorn
) -> Two:
    """The module's two processes, started once; the tests share them."""
    redis_server.start()
    redis_server.flushall()
    database_url = shared_database(tmp_path_factory.mktemp("notifications"))
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url, "SECRET_KEY": SECRET_KEY}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: module_uvicorn(env), range(2))
    assert a.pid != b.pid
    return Two(a, b, env)


@pytest.fixture
async def servers(two: Two) -> Two:
    """The shared processes, both up and on Redis."""
    for server in (two.a, two.b):
        assert (await asyncio.to_thread(server.healthz)).json()["redis"] == "ok"
    return two


async def notify_from_here(env: Mapping[str, str], **values: Any) -> int:
    """notify() in the test's own process: one more process publishing through Redis, whose
    commit drops what the servers keep, as every process's does (app/services.py)."""
    engine = create_engine(env["DATABASE_URL"])
    client = redis.asyncio.from_url(env["REDIS_URL"])
    broker = RedisBroker(client)
    cache = Cache(broker, SystemClock(), shared=RedisValues(client))
    session_factory = create_session_factory(engine)
    session_factory.configure(info={CACHE_INFO: cache})
    try:
        sent = await notify(session_factory, broker, **values)
    finally:
        await cache.stop()  # the drops still on their way
        await client.aclose()
        await engine.dispose()
    return sent.id


async def test_a_notification_from_the_cli_reaches_its_recipients_on_every_process(
    servers: Two, browsers: Callable[[UvicornServer, str], Any]
) -> None:
    a, b, env = servers.a, servers.b, servers.env
    # Signed in on A; the cookie is good on B too, since both share the SECRET_KEY.
    alice, carol = await browsers(a, "alice"), await browsers(a, "carol")
    alice_tabs = [await alice.socket(a), await alice.socket(b)]
    carol_tabs = [await carol.socket(a), await carol.socket(b)]

    to_alice = await cli_notify(env, "--user", "alice", "--level", "warning", "Stock low", "SKU-1")
    to_support = await notify_from_here(env, group="support", title="Queue long", link="/admin/")
    to_carol = await notify_from_here(env, user="carol", title="For carol only")
    to_alice_again = await notify_from_here(env, user="alice", title="Second for alice")

    for tab in alice_tabs:
        first = await next_frame(tab)
        assert first["type"] == "notification" and first["id"] == to_alice, first
        assert (first["title"], first["body"], first["level"]) == ("Stock low", "SKU-1", "warning")
        group = await next_frame(tab)
        assert (group["id"], group["link"]) == (to_support, "/admin/"), group
        # Published after carol's: had hers leaked to alice, it would have come first.
        assert (await next_frame(tab))["id"] == to_alice_again
        await nothing_more(tab)
    for tab in carol_tabs:
        only = await next_frame(tab)
        assert (only["type"], only["id"], only["title"]) == (
            "notification",
            to_carol,
            "For carol only",
        )
        await nothing_more(tab)


async def test_an_admin_change_on_one_process_reaches_sockets_on_the_other(
    servers: Two, browsers: Callable[[UvicornServer, str], Any]
) -> None:
    # Nothing over HTTP calls notify() yet: an admin change is what a request on A publishes.
    a, b, env = servers.a, servers.b, servers.env
    root_on_a = await browsers(a, "root")
    alice_tab = await (await browsers(b, "alice")).socket()  # support may view tags
    carol_tab = await (await browsers(b, "carol")).socket()  # sales may not

    form = await root_on_a.http.get("/admin/tag/create")
    assert form.status_code == 200, form.text[-500:]
    created = await root_on_a.http.post(
        "/admin/tag/create",
        data={"csrftoken": csrf_token(form.text), "name": "clearance"},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text[-500:]

    frame = await next_frame(alice_tab)
    assert {k: frame[k] for k in ("type", "model", "action", "by")} == {
        "type": "model",
        "model": "tag",
        "action": "create",
        "by": "root",
    }
    await nothing_more(alice_tab)
    # Carol's next frame is one of her own: the change was never sent to her.
    to_carol = await notify_from_here(env, user="carol", title="Tag added")
    assert (await next_frame(carol_tab))["id"] == to_carol
    await nothing_more(carol_tab)
    await nothing_more(alice_tab)


async def test_a_socket_opened_after_a_notification_from_the_cli_counts_it_on_every_process(
    servers: Two, browsers: Callable[[UvicornServer, str], Any]
) -> None:
    a, b, env = servers.a, servers.b, servers.env
    carol = await browsers(a, "carol")
    # What each process tells a new socket of carol's now, and keeps (earlier tests sent some).
    before = [await carol.first_frame(server) for server in (a, b)]
    assert before[0] == before[1] == await carol.first_frame(b)
    to_carol = await cli_notify(env, "--user", "carol", "Kept counts move")
    expected = {"type": "unread", "count": before[0]["count"] + 1, "newest": to_carol}
    # The command's commit drops what both kept: the drop travels over Redis in milliseconds.
    for server in (a, b):
        async with asyncio.timeout(1.0):
            while (frame := await carol.first_frame(server)) != expected:
                assert frame == before[0], frame  # the kept one, until the drop arrives
                await asyncio.sleep(0.02)
