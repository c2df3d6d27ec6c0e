"""`/admin/notifications/send`: what `notifications:send` grants, and the form's refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.models import Notification
from app.notifications.service import BODY_MAX
from tests.conftest import SignedIn, add_user, csrf_token
from tests.notifications.test_ws import WS, frames_until

SEND = "/admin/notifications/send"


@pytest.fixture
def client_for(sqlite_url: str, app: Starlette, signed_in: SignedIn) -> Callable[[str], TestClient]:
    """sender holds notifications:send; reader does not; both are in group "ops"."""
    add_user(sqlite_url, "sender", superuser=False, groups={"ops": ["notifications:send"]})
    add_user(sqlite_url, "reader", superuser=False, groups={"readers": []})
    return lambda username: signed_in(app, username)


def stored(client: TestClient) -> list[tuple[str, str, str | None]]:
    app: Any = client.app

    async def work() -> list[tuple[str, str, str | None]]:
        async with app.state.session_factory() as session:
            rows = await session.execute(
                select(Notification.title, Notification.audience, Notification.link).order_by(
                    Notification.id
                )
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]

    return client.portal.call(work)  # type: ignore[union-attr]


def post(client: TestClient, **fields: str) -> Any:
    token = csrf_token(client.get(SEND).text)
    return client.post(SEND, data={"csrftoken": token, **fields}, follow_redirects=False)


def test_without_the_permission_the_page_and_the_post_are_refused(
    client_for: Callable[[str], TestClient],
) -> None:
    reader = client_for("reader")
    assert reader.get(SEND).status_code == 403
    token = csrf_token(reader.get("/admin/notifications").text)
    refused = reader.post(SEND, data={"csrftoken": token, "to": "everyone", "title": "Hi"})
    assert refused.status_code == 403
    assert "notifications:send" in refused.text
    assert stored(reader) == []
    assert "data-sb-send-link" not in reader.get("/admin/notifications").text


def test_a_sender_reaches_the_chosen_recipients_live_and_in_their_inbox(
    client_for: Callable[[str], TestClient],
) -> None:
    sender, reader = client_for("sender"), client_for("reader")
    assert "data-sb-send-link" in sender.get("/admin/notifications").text
    with reader.websocket_connect(WS) as socket:
        socket.receive_json()
        sent = post(sender, to="group", name="readers", level="warning", title="Deploy at 5")
        assert sent.status_code == 303
        assert sent.headers["location"].endswith(SEND)
        frame = frames_until(socket, "notification")[-1]
        assert (frame["title"], frame["level"]) == ("Deploy at 5", "warning")
    assert "Sent “Deploy at 5” to group readers." in sender.get(SEND).text
    assert stored(sender) == [("Deploy at 5", "group", None)]
    assert "Deploy at 5" in reader.get("/admin/notifications").text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"to": "user", "title": "Hi"}, "name", "Name: the user&#39;s name is required"),
        ({"to": "user", "name": "nobody", "title": "Hi"}, "name", "no account named"),
        ({"to": "group", "name": "nope", "title": "Hi"}, "name", "no group named"),
        ({"to": "everybody", "title": "Hi"}, "to", "Send to: one of user, group, everyone"),
        ({"to": "everyone", "title": "  "}, "title", "Title: required"),
        ({"to": "everyone", "title": "x" * 201}, "title", "Title: at most 200 characters"),
        ({"to": "everyone", "title": "Hi", "level": "loud"}, "level", "Level: one of info"),
        (
            {"to": "everyone", "title": "Hi", "body": "b" * (BODY_MAX + 1)},
            "body",
            f"Body: at most {BODY_MAX} characters",
        ),
        ({"to": "everyone", "title": "Hi", "link": "/\\evil.example"}, "link", "Link: "),
        ({"to": "everyone", "title": "Hi", "link": "javascript:alert(1)"}, "link", "Link: "),
        ({"to": "everyone", "title": "a\x00"}, "title", "Title: text without NUL bytes"),
        ({"to": "user", "name": "a\x00", "title": "Hi"}, "name", "Name: text without NUL"),
        ({"to": "everyone", "title": "Hi", "body": "\x00"}, "body", "Body: text without NUL"),
    ],
)
def test_a_bad_field_is_named_nothing_is_sent_and_the_typing_is_kept(
    client_for: Callable[[str], TestClient], fields: dict[str, str], field: str, message: str
) -> None:
    sender = client_for("sender")
    answer = post(sender, **fields)
    assert answer.status_code == 422
    assert f'data-sb-error="{field}"' in answer.text
    assert message in answer.text
    if fields["title"].strip() and len(fields["title"]) <= 200:
        assert f'value="{fields["title"]}"' in answer.text
    assert stored(sender) == []


def test_the_confirmation_shows_a_title_with_markup_characters_as_typed(
    client_for: Callable[[str], TestClient],
) -> None:
    sender = client_for("sender")
    assert post(sender, to="everyone", title="Q&A <3").status_code == 303
    page = sender.get(SEND).text
    assert "Sent “Q&amp;A &lt;3” to everyone." in page  # escaped once, by the page
    assert "&amp;amp;" not in page
