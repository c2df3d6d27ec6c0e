"""Without REDIS_URL, what other processes publish reaches a server's open sockets in time.

A uvicorn server (SCHEDULER=off), a standalone scheduler process and commands, sharing one
database and nothing else: frames travel through its `relayed_frame` table (docs/reference.md,
"Channels").
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import ClientConnection

from tests.conftest import add_user
from tests.notifications.test_many_processes import (
    CLI_TIMEOUT_S,
    WAIT_S,
    Browser,
    Frame,
    cli_notify,
    command,
    next_frame,
    nothing_more,
)
from tests.services import ROOT, RunUvicorn, UvicornServer, app_environment

pytestmark = pytest.mark.timeout(120)

# The promise (docs/reference.md, "Channels"): read twice a second, so well within 2 s.
WITHIN_S = 2.0


@pytest.fixture(scope="module")
def env(module_database_url: str) -> dict[str, str]:
    """A database on each backend with root (superuser) and alice (support, no rights yet)."""
    add_user(module_database_url, "root")
    add_user(module_database_url, "alice", superuser=False, groups={"support": []})
    return {"DATABASE_URL": module_database_url, "SCHEDULER": "off"}


@pytest.fixture(scope="module")
def server(env: dict[str, str], module_uvicorn: RunUvicorn) -> UvicornServer:
    """One server per backend for the module: each test opens its own tab on it."""
    server = module_uvicorn(env)
    assert server.healthz().json()["redis"] == "off"
    return server


@pytest.fixture
async def tab(server: UvicornServer) -> AsyncIterator[ClientConnection]:
    """An open /ws of root, signed in on the server; closed after the test."""
    async with AsyncExitStack() as stack:
        browser = Browser(server, stack)
        stack.push_async_callback(browser.http.aclose)
        await browser.sign_in("root")
        yield await browser.socket()


@pytest.fixture
async def scheduler_process(env: dict[str, str]) -> AsyncIterator[None]:
    """`python -m app scheduler`, the only process that runs jobs; stopped after the test."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app", "scheduler"),
        cwd=ROOT,
        env=app_environment(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(CLI_TIMEOUT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_a_notification_from_the_cli_reaches_an_open_tab_within_two_seconds(
    env: dict[str, str], tab: ClientConnection
) -> None:

    first = await cli_notify(env, "--user", "root", "--level", "warning", "Stock low", "SKU-1")
    frame = await next_frame(tab, within=WITHIN_S)
    assert (frame["type"], frame["id"], frame["title"], frame["body"], frame["level"]) == (
        "notification",
        first,
        "Stock low",
        "SKU-1",
        "warning",
    )
    second = await cli_notify(env, "--user", "root", "Second")
    # The next frame is the second notification: the first came once.
    assert (await next_frame(tab, within=WITHIN_S))["id"] == second
    await nothing_more(tab)


async def test_a_model_change_from_a_command_reaches_an_open_tab_within_two_seconds(
    env: dict[str, str], tab: ClientConnection
) -> None:

    await command(env, "groups", "grant", "support", "tag:view")

    frame = await next_frame(tab, within=WITHIN_S)
    assert {k: frame[k] for k in ("type", "model", "action")} == {
        "type": "model",
        "model": "group",
        "action": "edit",
    }
    await nothing_more(tab)


async def test_job_frames_from_a_command_and_a_standalone_scheduler_reach_an_open_tab(
    env: dict[str, str], scheduler_process: None, tab: ClientConnection
) -> None:

    out = await command(env, "jobs", "run", "low_stock_report")
    queued = re.search(r"Queued run (\d+) of low_stock_report", out)
    assert queued, out
    run_id = int(queued.group(1))

    frame = await next_frame(tab, within=WITHIN_S)  # the command's own frame
    assert (frame["type"], frame["name"], frame["run_id"], frame["status"]) == (
        "job",
        "low_stock_report",
        run_id,
        "queued",
    )
    # The scheduler process hears the queued run through the database too, runs it and says so.
    statuses: list[str] = []
    while not statuses or statuses[-1] not in ("succeeded", "failed"):
        later: Frame = await next_frame(tab, within=WAIT_S)
        assert (later["type"], later["run_id"]) == ("job", run_id), later
        statuses.append(later["status"])
    assert statuses[0] == "running" and statuses[-1] == "succeeded", statuses


async def a_command_ends_access_within_one_second(
    env: dict[str, str], server: UvicornServer, username: str, *args: str
) -> int:
    """Signs `username` in, reads the tag list until the server keeps who they are, runs the
    command; the status the list answers once it stops answering 200, within a second."""
    async with AsyncExitStack() as stack:
        browser = Browser(server, stack)
        stack.push_async_callback(browser.http.aclose)
        await browser.sign_in(username)
        for _ in range(3):  # kept after the first
            assert (await browser.http.get("/admin/tag/list")).status_code == 200

        await command(env, *args)
        done = time.monotonic()
        while (answer := await browser.http.get("/admin/tag/list")).status_code == 200:
            assert time.monotonic() - done < 1.0, f"{username} still let in a second after {args}"
            await asyncio.sleep(0.05)
        return answer.status_code


async def test_a_grant_revoked_by_a_command_stops_working_on_the_server_within_one_second(
    env: dict[str, str], server: UvicornServer
) -> None:
    # Who alice is and what she may do is kept by the server (app/cache.py): the command's
    # change must reach it, not wait for the kept value to age out.
    await command(env, "groups", "grant", "support", "tag:view")
    revoke = ("groups", "revoke", "support", "tag:view")
    assert await a_command_ends_access_within_one_second(env, server, "alice", *revoke) == 403


async def test_a_password_changed_by_a_command_ends_the_servers_sessions_within_one_second(
    env: dict[str, str], server: UvicornServer
) -> None:
    # A command process declares what the servers may have to drop before it commits
    # (app/cached_reads.py), or they would not hear of the change.
    await asyncio.to_thread(add_user, env["DATABASE_URL"], "bob")
    change = ("users", "set-password", "bob", "--password", "another-long-secret")
    assert await a_command_ends_access_within_one_second(env, server, "bob", *change) != 200
