"""The real app in-process, HTTP clients to it (signed in or not), a timed GET; a real server's
session cookie.

A timed GET is timed on the server's side: from the moment the app is called to its last body
byte (`ServerClock`), so the figures leave out what the client spends building the request and
reading the answer (~1 ms of a list page's, the same for every app measured)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import sessions
from app.auth.accounts import create_user, find_user
from app.statement_log import StatementLog, background_work
from bench.stats import Stopwatch

BENCH_USER = "bench"
BENCH_PASSWORD = "bench-correct-horse-battery-staple"
# The session cookie is Secure: the client must believe it talks HTTPS.
BASE_URL = "https://bench.local"
ROW = re.compile(r'<tr data-sa-pk="([^"]+)"')


async def ensure_superuser(session_factory: async_sessionmaker[AsyncSession]) -> int:
    """The bench superuser's id, creating the account when missing."""
    async with session_factory.begin() as session:
        user = await find_user(session, BENCH_USER)
        if user is None:
            user = await create_user(session, BENCH_USER, BENCH_PASSWORD, superuser=True)
        return user.id


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[int]:
    """The app's lifespan, with the bench superuser in its database; yields the user's id.

    What the lifespan starts (the live settings' version check) is background work: a
    StatementLog leaves its statements out of the requests it overlaps.
    """
    async with AsyncExitStack() as stack:
        with background_work():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield await ensure_superuser(app.state.session_factory)


class ServerClock:
    """The app, timing each HTTP request from its call to its last body byte (wall and this
    process's CPU): the server's side of an in-process request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, cpu_start = time.perf_counter(), time.process_time()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.seconds = time.perf_counter() - start
                self.cpu_seconds = time.process_time() - cpu_start
            await send(message)

        await self.app(scope, receive, timed_send)


class InProcessClient(httpx.AsyncClient):
    """An HTTP client whose requests never leave the process, and the app's clock."""

    def __init__(self, app: ASGIApp) -> None:
        self.clock = ServerClock(app)
        super().__init__(transport=httpx.ASGITransport(app=self.clock), base_url=BASE_URL)


def in_process_client(app: Starlette) -> InProcessClient:
    """A client whose requests never leave the process; signed in to nothing yet."""
    return InProcessClient(app)


@asynccontextmanager
async def signed_in_client(app: Starlette) -> AsyncIterator[InProcessClient]:
    """Run the app's lifespan and yield a client signed in as the bench superuser."""
    async with running(app), in_process_client(app) as client:
        await sign_in(client)
        yield client


async def sign_in(
    client: httpx.AsyncClient, username: str = BENCH_USER, password: str = BENCH_PASSWORD
) -> None:
    page = await client.get("/admin/login")
    match = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    if match is None:
        raise RuntimeError("no CSRF field on /admin/login")
    response = await client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrftoken": match.group(1)},
    )
    if response.status_code != 303:
        raise RuntimeError(f"sign-in failed with HTTP {response.status_code}")


@dataclass(frozen=True)
class Side:
    """One way of sending a request in a comparison: a client and its app's statement log."""

    client: httpx.AsyncClient
    log: StatementLog


@dataclass(frozen=True)
class Timing:
    seconds: float  # the app called to its full body (ServerClock), else the client's request
    cpu_seconds: float  # of this process, meanwhile
    db_seconds: float  # of which inside the database driver
    statements: int
    rows: list[str]  # the primary keys a list page lists
    response: httpx.Response


async def timed_get(
    client: httpx.AsyncClient,
    log: StatementLog,
    path: str,
    params: dict[str, str | int] | None = None,
) -> Timing:
    log.reset()
    with Stopwatch() as watch:
        response = await client.get(path, params=params)
    if response.status_code != 200:
        raise RuntimeError(f"GET {response.url} answered HTTP {response.status_code}")
    server: Stopwatch | ServerClock = watch
    if isinstance(client, InProcessClient):
        server = client.clock  # the server's side alone
    return Timing(
        server.seconds,
        server.cpu_seconds,
        log.seconds,
        len(log),
        ROW.findall(response.text),
        response,
    )


async def session_cookie(
    base_url: str, username: str = BENCH_USER, password: str = BENCH_PASSWORD
) -> str:
    """Sign in through the admin's login form over a real socket; the session cookie's value."""
    async with httpx.AsyncClient(base_url=base_url, trust_env=False) as client:
        await sign_in(client, username, password)
        # The cookie is Secure, so the jar keeps it for plain HTTP but would never send it.
        cookie = client.cookies.get(sessions.COOKIE)
    if cookie is None:
        raise RuntimeError(f"signed in as {username}, but got no {sessions.COOKIE} cookie")
    return cookie
