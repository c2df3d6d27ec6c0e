"""The real app in-process, and an HTTP client signed in to it as a superuser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from app.auth.accounts import create_user, find_user

BENCH_USER = "bench"
BENCH_PASSWORD = "bench-correct-horse-battery-staple"
# The session cookie is Secure: the client must believe it talks HTTPS.
BASE_URL = "https://bench.local"


async def ensure_superuser(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory.begin() as session:
        if await find_user(session, BENCH_USER) is None:
            await create_user(session, BENCH_USER, BENCH_PASSWORD, superuser=True)


@asynccontextmanager
async def signed_in_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield a client whose requests never leave the process."""
    async with app.router.lifespan_context(app):
        await ensure_superuser(app.state.session_factory)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            await sign_in(client)
            yield client


async def sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/admin/login")
    match = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    if match is None:
        raise RuntimeError("no CSRF field on /admin/login")
    response = await client.post(
        "/admin/login",
        data={"username": BENCH_USER, "password": BENCH_PASSWORD, "csrftoken": match.group(1)},
    )
    if response.status_code != 303:
        raise RuntimeError(f"sign-in failed with HTTP {response.status_code}")
