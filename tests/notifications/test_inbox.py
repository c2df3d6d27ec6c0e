"""`/admin/notifications` in-process: the inbox, marking read per user, and the bell."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.admin.notifications import PAGE_SIZE
from app.main import create_app
from tests.conftest import SignedIn, add_user, csrf_token, make_config
from tests.notifications.test_ws import frames_until, send

INBOX = "/admin/notifications"
WS = "wss://testserver/ws"  # the session cookie is Secure


@pytest.fixture
def client_for(database_url: str, signed_in: SignedIn) -> Callable[[str], TestClient]:
    """Signed-in clients on each backend: alice and bob in group "ops", carol in no group."""
    add_user(database_url, "alice", superuser=False, groups={"ops": []})
    add_user(database_url, "bob", superuser=False, groups={"ops": []})
    add_user(database_url, "carol", superuser=False)
    # An app each: every TestClient runs its own event loop, and asyncpg's pool is per loop.
    return lambda username: signed_in(create_app(make_config(database_url)), username)


def listed(html: str) -> list[tuple[int, bool]]:
    """(id, read) of every notification on an inbox page, in order."""
    return [
        (int(pk), read == "true")
        for pk, read in re.findall(r'data-notification-id="(\d+)"\s+data-read="(\w+)"', html)
    ]


def unread_on(html: str) -> int:
    match = re.search(r'data-sb-unread="(\d+)"', html)
    assert match, "no bell on the page"
    return int(match.group(1))


def mark(client: TestClient, *ids: int, page: int | None = None) -> Any:
    form: dict[str, Any] = {"csrftoken": csrf_token(client.get(INBOX).text)}
    if ids:
        form["id"] = [str(i) for i in ids]
    if page:
        form["page"] = str(page)
    target = f"{INBOX}/read" if ids else f"{INBOX}/read-all"
    return client.post(target, data=form, follow_redirects=False)


def test_the_inbox_lists_unread_first_then_newest(
    client_for: Callable[[str], TestClient],
) -> None:
    alice = client_for("alice")
    first = send(alice, user="alice", title="Export ready", link="/admin/order/list")
    second = send(alice, group="ops", title="Disk almost full", body="92% used", level="warning")
    third = send(alice, everyone=True, title="Maintenance tonight", level="error")
    send(alice, user="carol", title="Not for alice")
    assert mark(alice, second).status_code == 303

    page = alice.get(INBOX)
    assert page.status_code == 200
    assert listed(page.text) == [(third, False), (first, False), (second, True)]
    assert "Not for alice" not in page.text
    assert "92% used" in page.text and "warning" in page.text
    assert 'href="/admin/order/list"' in page.text
    assert re.search(r"<time datetime=\"\d{4}-\d\d-\d\dT", page.text)
    assert "2</span> unread of 3" in page.text


def test_the_inbox_is_paginated(client_for: Callable[[str], TestClient]) -> None:
    alice = client_for("alice")
    ids = [send(alice, user="alice", title=f"Report {n}") for n in range(PAGE_SIZE + 3)]
    mark(alice, ids[-1])  # the newest, now read, sorts last

    first = listed(alice.get(INBOX).text)
    second = listed(alice.get(INBOX, params={"page": "2"}).text)
    assert [pk for pk, _ in first] == ids[-2::-1][:PAGE_SIZE]
    assert second == [(ids[1], False), (ids[0], False), (ids[-1], True)]
    assert "Page 2 of 2" in alice.get(INBOX, params={"page": "2"}).text
    assert listed(alice.get(INBOX, params={"page": "9"}).text) == []
    for nonsense in ("x", "0", "-1", "²"):
        assert listed(alice.get(INBOX, params={"page": nonsense}).text) == first


def test_marking_read_is_per_user_even_for_shared_notifications(
    client_for: Callable[[str], TestClient],
) -> None:
    alice, bob = client_for("alice"), client_for("bob")
    own = send(alice, user="alice", title="For alice")
    shared = send(alice, group="ops", title="For ops")
    everyone = send(alice, everyone=True, title="For all")
    assert unread_on(alice.get(INBOX).text) == 3
    assert unread_on(bob.get(INBOX).text) == 2

    marked = mark(alice, shared, page=2)
    assert marked.status_code == 303
    assert marked.headers["location"].endswith(f"{INBOX}?page=2")
    assert unread_on(alice.get(INBOX).text) == 2
    assert unread_on(bob.get(INBOX).text) == 2  # still unread for bob

    assert mark(alice).status_code == 303  # all
    assert listed(alice.get(INBOX).text) == [(everyone, True), (shared, True), (own, True)]
    assert unread_on(alice.get(INBOX).text) == 0
    assert listed(bob.get(INBOX).text) == [(everyone, False), (shared, False)]

    # Someone else's notification cannot be marked: nothing changes.
    assert mark(bob, own).status_code == 303
    assert unread_on(bob.get(INBOX).text) == 2


def test_marking_read_tells_every_open_tab_the_new_count(
    client_for: Callable[[str], TestClient],
) -> None:
    alice = client_for("alice")
    sent = [send(alice, user="alice", title=f"Job {n} failed") for n in range(3)]
    with alice.websocket_connect(WS) as tab:
        assert tab.receive_json()["count"] == 3  # the first frame: the count on connect
        mark(alice, sent[0])
        assert tab.receive_json() == {"type": "unread", "count": 2}
        mark(alice)
        assert tab.receive_json() == {"type": "unread", "count": 0}


def test_the_flash_says_how_many_were_marked(client_for: Callable[[str], TestClient]) -> None:
    alice = client_for("alice")
    send(alice, user="alice", title="One")
    send(alice, user="alice", title="Two")
    assert mark(alice).status_code == 303
    assert "Marked 2 notifications read." in alice.get(INBOX).text


def test_a_post_without_the_csrf_token_is_refused(
    client_for: Callable[[str], TestClient],
) -> None:
    alice = client_for("alice")
    sent = send(alice, user="alice", title="Keep me unread")
    assert alice.post(f"{INBOX}/read", data={"id": str(sent)}).status_code == 403
    assert alice.post(f"{INBOX}/read-all").status_code == 403
    assert unread_on(alice.get(INBOX).text) == 1


def test_a_bad_id_is_refused_with_a_message(client_for: Callable[[str], TestClient]) -> None:
    alice = client_for("alice")
    send(alice, user="alice", title="Still unread")
    token = csrf_token(alice.get(INBOX).text)
    for bad in (["seven"], ["²"], ["0"], ["1", "x"], []):
        refused = alice.post(f"{INBOX}/read", data={"csrftoken": token, "id": bad})
        assert refused.status_code == 400, bad
        assert "id: give the number of a notification" in refused.text
    assert unread_on(alice.get(INBOX).text) == 1


def test_an_anonymous_visitor_is_sent_to_sign_in(app: Starlette) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        response = client.get(INBOX, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")


def test_every_admin_page_has_the_bell_with_the_unread_count(
    client_for: Callable[[str], TestClient],
) -> None:
    carol = client_for("carol")
    send(carol, user="carol", title="Hello")
    newest = send(carol, everyone=True, title="Hello all")
    for path in ("/admin/", INBOX, "/admin/login?next=/admin/"):
        html = carol.get(path).text
        assert 'href="/admin/notifications"' in html, path
        assert 'data-sb-user="carol"' in html, path
        assert 'id="sb-toasts"' in html, path
    # Other pages leave the count to the socket's first frame: no extra statement per page.
    inbox = carol.get(INBOX).text
    assert unread_on(inbox) == 2
    assert f'data-sb-after="{newest}"' in inbox


def test_an_anonymous_page_has_no_bell(app: Starlette) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        html = client.get("/admin/login").text
    assert "data-sb-unread" not in html and 'id="sb-live"' not in html


def test_a_broadcast_reaches_accounts_that_existed_when_it_was_sent_not_later_ones(
    client_for: Callable[[str], TestClient], database_url: str
) -> None:
    alice = client_for("alice")
    before = send(alice, everyone=True, title="Welcome to the old world")
    add_user(database_url, "dave", superuser=False)
    dave = client_for("dave")
    after = send(alice, everyone=True, title="Hello everyone")

    page = dave.get(INBOX).text
    assert listed(page) == [(after, False)]
    assert "Welcome to the old world" not in page
    assert "1</span> unread of 1" in page
    assert mark(dave).status_code == 303  # "mark all read" marks only what dave may see
    assert [read for _, read in listed(dave.get(INBOX).text)] == [True]
    with dave.websocket_connect(WS) as socket:
        socket.send_json({"type": "resume", "after": 0})
        replayed = frames_until(socket, "notification")
    assert [f["id"] for f in replayed if f["type"] == "notification"] == [after]
    assert listed(alice.get(INBOX).text) == [(after, False), (before, False)]


def test_web_addresses_in_a_notification_are_links_and_nothing_else_is(
    client_for: Callable[[str], TestClient],
) -> None:
    alice = client_for("alice")
    send(
        alice,
        user="alice",
        title="Report",
        body='See https://example.com/r?a=1&b=2. Not javascript:alert(1) <b>bold</b> "q"',
        link="https://status.example.com/",
    )
    page = alice.get(INBOX).text
    body = re.search(r'<div class="text-secondary text-wrap sb-inbox-body">(.*?)</div>', page)
    assert body, "no body shown"
    assert body.group(1) == (
        'See <a href="https://example.com/r?a=1&amp;b=2" rel="noopener noreferrer"'
        ' target="_blank">https://example.com/r?a=1&amp;b=2</a>.'
        " Not javascript:alert(1) &lt;b&gt;bold&lt;/b&gt; &#34;q&#34;"
    )
    assert re.search(
        r'<a href="https://status.example.com/" class="small" rel="noopener noreferrer">', page
    )


def test_a_sockets_first_frame_counts_what_that_users_inbox_shows(
    client_for: Callable[[str], TestClient], database_url: str
) -> None:
    add_user(database_url, "erin", superuser=False, groups={"ops": [], "sales": []})
    alice, carol, erin = client_for("alice"), client_for("carol"), client_for("erin")
    own = send(alice, user="alice", title="For alice")
    send(alice, group="ops", title="For ops")
    send(alice, group="sales", title="For sales")
    send(alice, user="carol", title="For carol")
    newest = send(alice, everyone=True, title="For everyone")
    assert mark(alice, own).status_code == 303
    add_user(database_url, "dave", superuser=False)  # after every one of them was sent
    dave = client_for("dave")
    # alice: her own (read), her group's and everyone's; carol, in no group: hers and everyone's;
    # erin, in two groups: theirs and everyone's.
    expected = ((alice, 2, newest), (carol, 2, newest), (erin, 3, newest), (dave, 0, 0))
    for client, unread, last in expected:
        with client.websocket_connect(WS) as socket:
            assert socket.receive_json() == {"type": "unread", "count": unread, "newest": last}
        assert unread_on(client.get(INBOX).text) == unread


def test_a_sockets_first_frame_is_kept_until_a_notification_or_a_read_mark_changes_it(
    client_for: Callable[[str], TestClient],
) -> None:
    alice = client_for("alice")  # in "ops"

    def first_frame() -> Any:
        with alice.websocket_connect(WS) as socket:
            return socket.receive_json()

    assert first_frame() == {"type": "unread", "count": 0, "newest": 0}
    assert first_frame() == {"type": "unread", "count": 0, "newest": 0}  # now kept
    to_alice = send(alice, user="alice", title="One")
    assert first_frame() == {"type": "unread", "count": 1, "newest": to_alice}
    to_ops = send(alice, group="ops", title="Two")
    assert first_frame() == {"type": "unread", "count": 2, "newest": to_ops}
    send(alice, user="carol", title="Not hers")
    assert first_frame() == {"type": "unread", "count": 2, "newest": to_ops}
    assert mark(alice, to_alice).status_code == 303
    assert first_frame() == {"type": "unread", "count": 1, "newest": to_ops}
    to_everyone = send(alice, everyone=True, title="Three")
    assert first_frame() == {"type": "unread", "count": 2, "newest": to_everyone}
