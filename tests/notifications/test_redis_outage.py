"""Redis going away for a while: the app keeps working and sockets catch up when it returns."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.notifications import test_many_processes
from tests.notifications.test_many_processes import (
    SECRET_KEY,
    Frame,
    cli_notify,
    next_frame,
    nothing_more,
    notify_from_here,
    shared_database,
)
from tests.services import RedisServer, UvicornServer

pytestmark = [pytest.mark.redis, pytest.mark.timeout(55)]

browsers = test_many_processes.browsers  # the fixture: signed-in HTTP clients and sockets

# Long enough for several reconnect attempts (0.1 s doubling); the 5 s cap itself is tested
# on a moved clock in tests/channels/test_brokers.py.
OUTAGE_S = 5.0
# The broker retries with a backoff capped at 5 s, plus up to 50% jitter.
RECOVERY_S = 12.0


async def healthz_redis(server: UvicornServer) -> str:
    response = await asyncio.to_thread(server.healthz)
    assert response.status_code == 200, response.text  # the database is fine throughout
    redis: str = response.json()["redis"]
    return redis


async def until_redis_is(server: UvicornServer, wanted: str, within: float) -> None:
    seen = None
    try:
        async with asyncio.timeout(within):
            while True:
                seen = await healthz_redis(server)
                if seen == wanted:
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"/healthz redis: {seen!r}, not {wanted!r} within {within}s") from None


async def until_unread(tab: ClientConnection) -> list[Frame]:
    """Frames up to and including the next unread count (sent after every catch-up)."""
    frames: list[Frame] = []
    async with asyncio.timeout(RECOVERY_S):
        while not (frames and frames[-1]["type"] == "unread"):
            frames.append(await next_frame(tab, within=RECOVERY_S))
    return frames


def persisted(path: Path, ids: list[int]) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as db:
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            f"SELECT id, title FROM notification WHERE id IN ({marks}) ORDER BY id", ids
        )
        return list(rows)


@pytest.fixture
def env(tmp_path: Path, fresh_redis_server: RedisServer) -> dict[str, str]:
    database_url = shared_database(tmp_path)
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": fresh_redis_server.url,
        "SECRET_KEY": SECRET_KEY,
    }


async def test_notifications_sent_while_redis_is_down_reach_the_socket_when_it_returns(
    run_uvicorn: Callable[..., UvicornServer],
    browsers: Callable[[UvicornServer, str], Any],
    fresh_redis_server: RedisServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    server = await asyncio.to_thread(run_uvicorn, env)
    await until_redis_is(server, "ok", 5)
    alice = await browsers(server, "alice")
    tab = await alice.socket()
    live = await notify_from_here(env, user="alice", title="Before the outage")
    assert (await next_frame(tab))["id"] == live

    loop = asyncio.get_running_loop()
    await asyncio.to_thread(fresh_redis_server.stop)
    stopped_at = loop.time()
    try:
        await until_redis_is(server, "down", 5)
        admin_page = await alice.http.get("/admin/")
        assert admin_page.status_code == 200, admin_page.text[-500:]
        assert "/admin/login" not in str(admin_page.url)
        # Signing in still works (the throttle falls back to memory); so does a new socket.
        carol = await browsers(server, "carol")
        carol_tab = await carol.socket()

        sent = [
            await cli_notify(env, "--user", "alice", "During the outage 1", "kept"),
            await notify_from_here(env, group="support", level="error", title="During 2"),
            await notify_from_here(env, everyone=True, title="During 3"),
        ]
        assert persisted(tmp_path / "shared.db", sent) == [
            (sent[0], "During the outage 1"),
            (sent[1], "During 2"),
            (sent[2], "During 3"),
        ]
        await nothing_more(tab)  # nothing could be published
        assert await healthz_redis(server) == "down"
        await asyncio.sleep(max(0.0, OUTAGE_S - (loop.time() - stopped_at)))
    finally:
        await asyncio.to_thread(fresh_redis_server.start)

    frames = await until_unread(tab)
    # Replayed from the database, oldest first, once each; then the unread count.
    assert [(f["type"], f.get("id")) for f in frames] == [
        *(("notification", n) for n in sent),
        ("unread", None),
    ]
    assert (frames[0]["title"], frames[0]["body"]) == ("During the outage 1", "kept")
    assert frames[1]["level"] == "error"
    assert frames[-1]["count"] == 4
    # Carol is not in support: of the three, only the one for everyone is hers.
    carol_frames = await until_unread(carol_tab)
    assert [(f["type"], f.get("id")) for f in carol_frames] == [
        ("notification", sent[2]),
        ("unread", None),
    ]
    assert carol_frames[-1]["count"] == 1
    await until_redis_is(server, "ok", RECOVERY_S)
    await nothing_more(tab)
    await nothing_more(carol_tab)

    after = await notify_from_here(env, user="alice", title="After the outage")
    assert (await next_frame(tab))["id"] == after
    await nothing_more(tab)
    await nothing_more(carol_tab)
    assert "Traceback" not in server.output(), server.output()[-4000:]
