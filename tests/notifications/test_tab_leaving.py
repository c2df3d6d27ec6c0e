"""A tab that goes while the server writes to its socket (a page left mid-frame) has left, as if it
had closed the socket: no error is logged for it."""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import AsyncExitStack

import pytest

from app.main import create_app
from tests.conftest import add_user, make_config
from tests.notifications.test_many_processes import Browser, next_frame
from tests.services import ServeInThread, ThreadedServer

pytestmark = pytest.mark.timeout(60)


def test_a_tab_that_closes_as_its_pong_is_written_leaves_no_error_behind(
    sqlite_url: str, serve_in_thread: ServeInThread, caplog: pytest.LogCaptureFixture
) -> None:
    add_user(sqlite_url, "root")
    server = serve_in_thread(create_app(make_config(sqlite_url)))
    # uvicorn's loggers do not pass their records up to the root, where caplog listens.
    uvicorn_log = logging.getLogger("uvicorn")
    uvicorn_log.addHandler(caplog.handler)
    try:
        asyncio.run(ping_and_close(server))
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


async def ping_and_close(server: ThreadedServer) -> None:
    async with AsyncExitStack() as stack:
        browser = Browser(server, stack)  # type: ignore[arg-type]  # has base_url, as a server
        stack.push_async_callback(browser.http.aclose)
        await browser.sign_in("root")
        for _ in range(5):
            async with browser.dial(None) as socket:
                assert (await next_frame(socket))["type"] == "unread"
                # A ping and the close in one write: the server reads the ping, then finds the
                # socket closing as it writes the pong.
                socket.protocol.send_text(json.dumps({"type": "ping"}).encode())
                socket.protocol.send_close()
                socket.transport.write(b"".join(socket.protocol.data_to_send()))
