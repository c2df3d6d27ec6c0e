"""WS /ws and frames no client should send: each gets an error frame, the socket stays usable,
and the server logs no exception (docs/reference.md, "Client → server")."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.notifications.service import notify
from tests.conftest import SignedIn, add_user

WS = "wss://testserver/ws"
UNREADABLE = "unreadable frame: send "
BAD_AFTER = "resume: after must be a whole number from 0 to 2147483647"

# (what is sent, how, the error's start): text frames unless marked bytes.
BAD_FRAMES: dict[str, tuple[str | bytes, str]] = {
    "binary": (b'{"type": "ping"}', UNREADABLE),
    "invalid JSON": ("{type: ping}", UNREADABLE),
    "a JSON list": ('[{"type": "ping"}]', UNREADABLE),
    "a JSON string": ('"ping"', UNREADABLE),
    "a JSON number": ("17", UNREADABLE),
    "JSON null": ("null", UNREADABLE),
    "nested 100,000 deep": ("[" * 100_000, UNREADABLE),
    "a number of 5,000 digits": ("9" * 5000, UNREADABLE),
    "an unknown type": ('{"type": "dance"}', UNREADABLE),
    "a type that is a list": ('{"type": ["ping"]}', UNREADABLE),
    "a lone surrogate": ('{"type": "\\ud800"}', UNREADABLE),
    "after true": ('{"type": "resume", "after": true}', BAD_AFTER),
    "after past 2**63": (f'{{"type": "resume", "after": {2**63}}}', BAD_AFTER),
    "after past INTEGER": (f'{{"type": "resume", "after": {2**31}}}', BAD_AFTER),
    "after negative": ('{"type": "resume", "after": -1}', BAD_AFTER),
    "after a fraction": ('{"type": "resume", "after": 1.5}', BAD_AFTER),
    "after 1e400": ('{"type": "resume", "after": 1e400}', BAD_AFTER),
    "after missing": ('{"type": "resume"}', BAD_AFTER),
}


@pytest.fixture
def alice(sqlite_url: str, app: Starlette, signed_in: SignedIn) -> Iterator[TestClient]:
    add_user(sqlite_url, "alice", superuser=False)
    yield signed_in(app, "alice")


def send(client: TestClient, **values: Any) -> int:
    app: Any = client.app

    async def work() -> int:
        return (await notify(app.state.session_factory, app.state.broker, **values)).id

    return client.portal.call(work)  # type: ignore[union-attr]


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_a_frame_no_client_should_send_gets_an_error_and_the_socket_stays_usable(
    alice: TestClient, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    sent, error_start = BAD_FRAMES[case]
    first = send(alice, user="alice", title="one")
    with caplog.at_level(logging.WARNING), alice.websocket_connect(WS) as socket:
        socket.receive_json()
        if isinstance(sent, bytes):
            socket.send_bytes(sent)
        else:
            socket.send_text(sent)
        error = socket.receive_json()
        socket.send_json({"type": "resume", "after": first - 1})
        replayed = socket.receive_json()
        socket.send_json({"type": "ping"})
        unread, pong = socket.receive_json(), socket.receive_json()

    assert error["type"] == "error"
    assert error["detail"].startswith(error_start)
    assert replayed["type"] == "notification" and replayed["title"] == "one"
    assert (unread, pong) == ({"type": "unread", "count": 1}, {"type": "pong"})
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_resume_after_the_largest_id_replays_nothing(alice: TestClient) -> None:
    send(alice, user="alice", title="one")
    with alice.websocket_connect(WS) as socket:
        socket.receive_json()
        socket.send_json({"type": "resume", "after": 2**31 - 1})
        assert socket.receive_json() == {"type": "unread", "count": 1}
