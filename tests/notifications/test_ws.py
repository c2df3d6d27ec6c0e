"""WS /ws in-process: who may connect, what each socket receives, resume, and bad frames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.auth.accounts import find_user
from app.channels.names import MODELS_CHANNEL, model_frame, user_channel
from app.notifications.service import notify
from app.views import ws
from app.views.ws import ACCESS_CHANGED, SESSION_ENDED
from tests.admin.test_model_views import fill_shop
from tests.conftest import SignedIn, add_user, csrf_token, seen_row

# The session cookie is Secure: the socket must be wss:// for the client to send it.
WS = "wss://testserver/ws"
Session = Any  # starlette's WebSocketTestSession


@pytest.fixture
def client_for(sqlite_url: str, app: Starlette, signed_in: SignedIn) -> Callable[[str], TestClient]:
    fill_shop(sqlite_url)
    add_user(sqlite_url, "alice", superuser=False, groups={"support": ["ticket:view"]})
    add_user(sqlite_url, "bob", superuser=False, permissions=["product:view", "tag:view"])
    add_user(sqlite_url, "root")
    return lambda username: signed_in(app, username)


def send(client: TestClient, **values: Any) -> int:
    app: Any = client.app

    async def work() -> int:
        sent = await notify(app.state.session_factory, app.state.broker, **values)
        return sent.id

    return client.portal.call(work)  # type: ignore[union-attr]


def frames_until(socket: Session, kind: str, limit: int = 20) -> list[dict[str, Any]]:
    seen = []
    for _ in range(limit):
        frame = socket.receive_json()
        seen.append(frame)
        if frame["type"] == kind:
            return seen
    raise AssertionError(f"no {kind} frame in {seen}")


def test_an_anonymous_socket_is_refused_before_accept(app: Starlette) -> None:
    with (
        TestClient(app, base_url="https://testserver") as client,
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(WS),
    ):
        pass
    assert refused.value.code == 1008


def test_a_socket_starts_with_the_unread_count_and_gets_its_notifications(
    client_for: Callable[[str], TestClient],
) -> None:
    alice = client_for("alice")
    send(alice, user="alice", title="Before you connected")
    with alice.websocket_connect(WS) as socket:
        assert socket.receive_json() == {"type": "unread", "count": 1, "newest": 1}
        sent = send(alice, user="alice", title="Stock is low", body="SKU-1", level="warning")
        frame = socket.receive_json()
        assert frame["type"] == "notification" and frame["id"] == sent
        assert (frame["title"], frame["body"], frame["level"]) == (
            "Stock is low",
            "SKU-1",
            "warning",
        )
        assert frame["created_at"].endswith("Z")


def test_each_user_gets_only_their_own_their_groups_and_everyones(
    client_for: Callable[[str], TestClient],
) -> None:
    alice, bob = client_for("alice"), client_for("bob")
    with alice.websocket_connect(WS) as a, bob.websocket_connect(WS) as b:
        a.receive_json(), b.receive_json()
        send(alice, user="bob", title="for bob")
        send(alice, group="support", title="for support")
        send(alice, user="alice", title="for alice")
        send(alice, everyone=True, title="for all")
        titles_a = [a.receive_json()["title"] for _ in range(3)]
        titles_b = [b.receive_json()["title"] for _ in range(2)]
        a.send_json({"type": "ping"})
        b.send_json({"type": "ping"})
        assert a.receive_json() == {"type": "pong"}  # nothing else was queued for alice
        assert b.receive_json() == {"type": "pong"}
    assert titles_a == ["for support", "for alice", "for all"]
    assert titles_b == ["for bob", "for all"]


def test_resume_replays_what_was_missed_in_order_exactly_once(
    client_for: Callable[[str], TestClient],
) -> None:
    alice = client_for("alice")
    first = send(alice, user="alice", title="one")
    with alice.websocket_connect(WS) as socket:
        socket.receive_json()
        for title in ("two", "three"):
            send(alice, user="alice", title=title)
        socket.send_json({"type": "resume", "after": first})
        titles = [socket.receive_json()["title"] for _ in range(2)]
        assert socket.receive_json() == {"type": "unread", "count": 3}  # exact after a replay
        socket.send_json({"type": "ping"})
        assert socket.receive_json() == {"type": "pong"}  # the live copies were not sent again
    assert titles == ["two", "three"]


def test_sockets_read_their_first_frame_with_a_statement_built_once_per_number_of_groups(
    client_for: Callable[[str], TestClient],
) -> None:
    alice, bob, root = client_for("alice"), client_for("bob"), client_for("root")
    executed: list[Any] = []

    def note(_connection: Any, statement: Any, *_: Any) -> None:
        if "max(notification.id)" in str(statement):
            executed.append(statement)

    engine = alice.app.state.engine.sync_engine  # type: ignore[attr-defined]
    event.listen(engine, "before_execute", note)
    try:
        for client in (alice, bob, root, alice):  # alice is in a group, bob and root in none
            with client.websocket_connect(WS) as socket:
                assert socket.receive_json()["type"] == "unread"
    finally:
        event.remove(engine, "before_execute", note)
    # Built once on bound parameters, not anew for each socket (a millisecond of CPU each);
    # alice's second socket is told what the cache kept from her first.
    assert len(executed) == 3
    assert executed[1] is executed[2]
    assert executed[0] is not executed[1]


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"no": "type"}', '{"type": "resume", "after": "x"}', '{"type": "dance"}'],
)
def test_a_malformed_frame_gets_an_error_and_the_socket_stays_up(
    client_for: Callable[[str], TestClient], text: str
) -> None:
    alice = client_for("alice")
    with alice.websocket_connect(WS) as socket:
        socket.receive_json()
        socket.send_text(text)
        error = socket.receive_json()
        assert error["type"] == "error" and "resume" in error["detail"]
        socket.send_json({"type": "ping"})
        assert socket.receive_json() == {"type": "pong"}


def test_admin_changes_reach_those_who_may_view_the_model(
    client_for: Callable[[str], TestClient],
) -> None:
    root, bob, alice = client_for("root"), client_for("bob"), client_for("alice")
    with bob.websocket_connect(WS) as b, alice.websocket_connect(WS) as a:
        b.receive_json(), a.receive_json()
        form = root.get("/admin/tag/edit?pk=1").text
        saved = root.post(
            "/admin/tag/edit?pk=1",
            data={"csrftoken": csrf_token(form), "seen_row": seen_row(form), "name": "renamed"},
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text[-500:]
        frame = b.receive_json()
        assert frame == {"type": "model", "model": "tag", "action": "edit", "pk": "1", "by": "root"}
        a.send_json({"type": "ping"})
        assert a.receive_json() == {"type": "pong"}  # alice may not view products or tags


def user_id(client: TestClient, username: str) -> int:
    app: Any = client.app

    async def work() -> int:
        async with app.state.session_factory() as session:
            user = await find_user(session, username)
            assert user is not None
            return user.id

    return client.portal.call(work)  # type: ignore[union-attr]


def closed_with(socket: Session) -> int:
    """The close code the server ends the socket with, skipping frames sent before it."""
    with pytest.raises(WebSocketDisconnect) as closed:
        for _ in range(20):
            socket.receive_json()
    return closed.value.code


def still_open(socket: Session) -> bool:
    socket.send_json({"type": "ping"})
    return frames_until(socket, "pong")[-1] == {"type": "pong"}


def edit_user(root: TestClient, pk: int, **fields: Any) -> None:
    form = root.get(f"/admin/user/edit?pk={pk}").text
    saved = root.post(
        f"/admin/user/edit?pk={pk}",
        data={"csrftoken": csrf_token(form), "seen_row": seen_row(form), **fields},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[-800:]


def test_signing_out_closes_that_sessions_sockets_and_no_others(
    client_for: Callable[[str], TestClient],
) -> None:
    alice, alice_elsewhere, bob = client_for("alice"), client_for("alice"), client_for("bob")
    with (
        alice.websocket_connect(WS) as here,
        alice_elsewhere.websocket_connect(WS) as elsewhere,
        bob.websocket_connect(WS) as b,
    ):
        here.receive_json(), elsewhere.receive_json(), b.receive_json()
        token = csrf_token(alice.get("/admin/").text)
        alice.post("/admin/logout", data={"csrftoken": token})
        assert closed_with(here) == SESSION_ENDED
        assert still_open(elsewhere)  # the same user's other sign-in
        assert still_open(b)


def test_a_new_password_closes_every_socket_of_that_user(
    client_for: Callable[[str], TestClient],
) -> None:
    root, alice, bob = client_for("root"), client_for("alice"), client_for("bob")
    with alice.websocket_connect(WS) as a, bob.websocket_connect(WS) as b:
        a.receive_json(), b.receive_json()
        token = csrf_token(root.get("/admin/user/list").text)
        changed = root.post(
            f"/admin/_api/user/row-action?pk={user_id(root, 'alice')}&name=set_password",
            data={"password": "a-brand-new-passphrase", "password_again": "a-brand-new-passphrase"},
            headers={"X-CSRFToken": token},
        )
        assert changed.status_code == 200, changed.text
        assert closed_with(a) == SESSION_ENDED
        assert still_open(b)


def test_deactivating_a_user_closes_their_sockets(
    client_for: Callable[[str], TestClient],
) -> None:
    root, alice = client_for("root"), client_for("alice")
    with alice.websocket_connect(WS) as a:
        a.receive_json()
        edit_user(root, user_id(root, "alice"), username="alice")  # is_active unticked
        assert closed_with(a) == SESSION_ENDED
    with pytest.raises(WebSocketDisconnect) as refused, alice.websocket_connect(WS):
        pass
    assert refused.value.code == 1008


def test_new_rights_close_the_socket_and_the_reconnect_has_them(
    client_for: Callable[[str], TestClient],
) -> None:
    root, bob = client_for("root"), client_for("bob")
    with bob.websocket_connect(WS) as b:
        b.receive_json()
        edit_user(
            root,
            user_id(root, "bob"),
            username="bob",
            is_active="on",
            permissions=["product:view", "tag:view", "jobs:view"],
        )
        assert closed_with(b) == ACCESS_CHANGED
    with bob.websocket_connect(WS) as again:
        assert again.receive_json()["type"] == "unread"
        assert still_open(again)


def test_a_flood_on_one_channel_does_not_hold_back_another_channels_frame(
    client_for: Callable[[str], TestClient],
) -> None:
    root = client_for("root")
    app: Any = root.app
    own_channel = user_channel(user_id(root, "root"))
    edits = [model_frame("product", "edit", n, "bob") for n in range(900)]

    async def flood_then_count() -> None:
        # No await in between: every frame is queued before the socket sends any.
        for edit in edits:
            await app.state.broker.publish(MODELS_CHANNEL, edit)
        await app.state.broker.publish(own_channel, {"type": "unread", "count": 7})

    with root.websocket_connect(WS) as socket:
        socket.receive_json()
        root.portal.call(flood_then_count)  # type: ignore[union-attr]
        # The count comes second, not after the 900 edits queued before it.
        assert [socket.receive_json() for _ in range(2)] == [
            edits[0],
            {"type": "unread", "count": 7},
        ]
        assert [socket.receive_json() for _ in edits[1:]] == edits[1:]


def test_a_socket_remembers_a_bounded_number_of_ids_and_still_sends_each_once(
    client_for: Callable[[str], TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws, "REMEMBERED_IDS", 4)
    alice = client_for("alice")
    app: Any = alice.app
    with alice.websocket_connect(WS) as socket:
        socket.receive_json()
        sent = [send(alice, user="alice", title=f"n{n}") for n in range(10)]
        assert [socket.receive_json()["id"] for _ in sent] == sent

        async def lose_backlog() -> None:
            for subscription in app.state.broker.hub.everyone():
                subscription.lose_backlog()  # as after a reconnect: the socket resynchronises

        alice.portal.call(lose_backlog)  # type: ignore[union-attr]
        # The replay finds nothing it has not sent, forgotten ids included.
        assert socket.receive_json() == {"type": "unread", "count": 10}
        socket.send_json({"type": "ping"})
        assert socket.receive_json() == {"type": "pong"}
