"""Presence on edit forms over /ws: a tab on a record's edit form is shown to the other tabs
editing that record, to users who may view it, until it leaves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.channels.names import PRESENCE_CHANNEL
from app.errors import BadInput
from app.main import create_app
from app.views.presence import Editing
from app.views.ws import read_command
from tests.admin.test_model_views import fill_shop
from tests.conftest import add_user, make_config, sign_in
from tests.notifications.test_ws import WS, frames_until

PRODUCT_1 = {"type": "editing", "model": "product", "pk": "1"}
Socket = Any  # starlette's WebSocketTestSession


@pytest.fixture
def socket_of(sqlite_url: str, app: Starlette) -> Iterator[Callable[[str], Any]]:
    """`socket_of(username)`: a /ws socket signed in as them. All on one test client, so on one
    event loop, as a server's sockets are: each client runs a loop of its own."""
    fill_shop(sqlite_url)
    add_user(sqlite_url, "alice", superuser=False, groups={"support": ["ticket:view"]})
    add_user(sqlite_url, "bob", superuser=False, permissions=["product:view", "tag:view"])
    add_user(sqlite_url, "root")
    with TestClient(app, base_url="https://testserver") as client:
        jar = type(client.cookies)
        cookies: dict[str, Any] = {}

        def open_as(username: str) -> Any:
            if username not in cookies:
                client.cookies = jar()
                sign_in(client, username)
                cookies[username] = jar(client.cookies)
            client.cookies = cookies[username]
            return client.websocket_connect(WS)

        yield open_as


def who(frame: dict[str, Any]) -> tuple[str, str, str, str]:
    return frame["model"], frame["pk"], frame["user"], frame["state"]


def test_editors_of_one_record_see_each_other_and_see_them_leave(
    socket_of: Callable[[str], Socket],
) -> None:
    with socket_of("root") as roots:
        roots.receive_json()  # unread
        roots.send_json(PRODUCT_1)
        with socket_of("bob") as bobs:
            bobs.receive_json()
            bobs.send_json(PRODUCT_1)
            arrived = roots.receive_json()
            assert arrived["type"] == "presence"
            assert who(arrived) == ("product", "1", "bob", "editing")
            assert "arrived" not in arrived
            # root's tab answers the newcomer at once, not at its next round.
            already_there = bobs.receive_json()
            assert who(already_there) == ("product", "1", "root", "editing")
            assert already_there["tab"] != arrived["tab"]
        left = roots.receive_json()
        assert who(left) == ("product", "1", "bob", "left")
        assert left["tab"] == arrived["tab"]


def test_presence_is_kept_from_users_who_may_not_view_the_record_and_other_records(
    socket_of: Callable[[str], Socket],
) -> None:
    with socket_of("alice") as alices, socket_of("bob") as bobs, socket_of("root") as roots:
        for socket in (alices, bobs, roots):
            socket.receive_json()
        alices.send_json(PRODUCT_1)  # alice may view tickets only
        refused = alices.receive_json()
        assert refused == {"type": "error", "detail": "editing: you may not view product"}
        bobs.send_json({"type": "editing", "model": "product", "pk": "2"})
        roots.send_json(PRODUCT_1)
        for socket in (alices, bobs):
            socket.send_json({"type": "ping"})
            assert frames_until(socket, "pong") == [{"type": "pong"}]


def test_an_editing_frame_must_name_a_model_and_a_key() -> None:
    def read(text: str) -> Any:
        try:
            return read_command({"type": "websocket.receive", "text": text})
        except BadInput as refused:
            return refused.message

    assert read('{"type": "editing", "model": "order", "pk": "7"}') == Editing("order", "7")
    assert read('{"type": "editing", "model": "Order!", "pk": "7"}').startswith(
        "editing: model must be a model's identity"
    )
    assert read('{"type": "editing", "model": "order", "pk": 7}').startswith(
        "editing: pk must be the record's key as text"
    )
    assert read('{"type": "editing", "model": "order", "pk": ""}').startswith("editing: pk")


def test_editors_on_two_processes_see_each_other_through_redis(
    sqlite_url: str, redis_url: str
) -> None:
    """Two apps, as two processes would be, sharing only the database and Redis."""
    fill_shop(sqlite_url)
    add_user(sqlite_url, "root")
    add_user(sqlite_url, "bob", superuser=False, permissions=["product:view"])
    apps = [create_app(make_config(sqlite_url, redis_url=redis_url)) for _ in range(2)]
    with (
        TestClient(apps[0], base_url="https://testserver") as first,
        TestClient(apps[1], base_url="https://testserver") as second,
    ):
        sign_in(first, "root")
        sign_in(second, "bob")
        with first.websocket_connect(WS) as roots:
            roots.receive_json()
            roots.send_json(PRODUCT_1)
            roots.send_json({"type": "ping"})
            assert frames_until(roots, "pong") == [{"type": "pong"}]  # subscribed and told
            with second.websocket_connect(WS) as bobs:
                bobs.receive_json()
                bobs.send_json(PRODUCT_1)
                assert who(roots.receive_json()) == ("product", "1", "bob", "editing")
                assert who(bobs.receive_json()) == ("product", "1", "root", "editing")
            assert who(roots.receive_json()) == ("product", "1", "bob", "left")


def test_a_tab_hears_the_presence_channel_only_while_it_shows_an_edit_form(
    socket_of: Callable[[str], Socket], app: Starlette
) -> None:
    hub = app.state.broker.hub
    with socket_of("root") as roots:
        roots.receive_json()
        roots.send_json({"type": "ping"})
        assert roots.receive_json() == {"type": "pong"}
        # An idle tab is not woken by every other tab's presence rounds.
        assert PRESENCE_CHANNEL not in hub.channels()
        roots.send_json(PRODUCT_1)
        roots.send_json({"type": "ping"})
        assert roots.receive_json() == {"type": "pong"}
        assert PRESENCE_CHANNEL in hub.channels()
    assert PRESENCE_CHANNEL not in hub.channels()
