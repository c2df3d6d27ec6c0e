"""What an open socket's stack holds for its whole life: the layers it passes through that
have nothing to do for a socket hold no frame of theirs (each is memory for every open tab)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import SignedIn, add_user

WS = "wss://testserver/ws"


def awaited_chain(task: asyncio.Task[Any]) -> Iterator[str]:
    """The qualified names of the coroutines a task is suspended in, outermost first."""
    awaited: Any = task.get_coro()
    while awaited is not None and hasattr(awaited, "cr_code"):
        yield awaited.cr_code.co_qualname
        awaited = awaited.cr_await


def socket_stack(client: TestClient) -> list[str]:
    async def find() -> list[str]:
        chains = [list(awaited_chain(task)) for task in asyncio.all_tasks()]
        return next(chain for chain in chains if "ws_endpoint" in chain)

    return client.portal.call(find)  # type: ignore[union-attr]


def test_an_open_socket_holds_no_frame_of_the_compression_layer_and_one_of_the_metrics(
    sqlite_url: str, app: Starlette, signed_in: SignedIn
) -> None:
    add_user(sqlite_url, "alice", superuser=False)
    client = signed_in(app, "alice")
    with client.websocket_connect(WS) as socket:
        assert socket.receive_json()["type"] == "unread"
        stack = socket_stack(client)
    assert "ws_endpoint" in stack
    assert not any(name.startswith("CompressedPages.") for name in stack), stack
    metrics = [name for name in stack if name.startswith("MetricsMiddleware.")]
    assert metrics == ["MetricsMiddleware._socket"], stack
