"""GET /healthz: what a load balancer and an operator need to know, no secrets."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from app import __version__

CHECK_TIMEOUT_S = 2.0


async def _database(request: Request) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            async with request.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return "ok"
    except Exception:
        return "down"


async def _redis(request: Request) -> str:
    client: Any = request.app.state.redis
    if client is None:
        return "off"
    if request.app.state.broker.status() == "down":
        return "down"  # the pub-sub connection is away, whatever a fresh ping says
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await client.ping()
        return "ok"
    except Exception:
        return "down"


async def healthz(request: Request) -> JSONResponse:
    database, redis = await asyncio.gather(_database(request), _redis(request))
    store = request.app.state.settings_store
    body = {
        "status": "ok" if database == "ok" else "down",
        "database": database,
        "redis": redis,
        "scheduler": request.app.state.config.scheduler,
        "settings_version": store.version,
        # stale: the last look at the database failed; the last known values are served.
        "settings": "stale" if store.stale else "ok",
        "version": __version__,
    }
    return JSONResponse(body, status_code=200 if database == "ok" else 503)
