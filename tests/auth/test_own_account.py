"""A signed-in user's own account: their password, their theme and their own activity, over
in-process HTTP on real SQLite (docs/reference.md, "Your account")."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.clock import FakeClock
from app.main import create_app
from app.models import AuditEntry, User
from app.views.ws import SESSION_ENDED
from tests.auth.test_sessions import post_login, run_sql
from tests.conftest import (
    ADMIN_PASSWORD,
    RunCli,
    add_user,
    csrf_token,
    make_config,
    sign_in,
)
from tests.notifications.test_ws import WS, closed_with, still_open

NEW_PASSWORD = "a-brand-new-passphrase"
PASSWORD_PAGE = "/admin/account/password"
PREFERENCES_PAGE = "/admin/account/preferences"
ACTIVITY_PAGE = "/admin/account/activity"
HTML_TAG = re.compile(r"<html[^>]*>")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def app(sqlite_url: str, clock: FakeClock) -> Starlette:
    # Alice may do nothing but sign in: her account's pages need no permission.
    add_user(sqlite_url, "alice", superuser=False)
    add_user(sqlite_url, "bob", superuser=False)
    return create_app(make_config(sqlite_url), clock=clock)


@pytest.fixture
def alice(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "alice")
        yield client


def signed_in(client: TestClient) -> bool:
    return client.get(ACTIVITY_PAGE, follow_redirects=False).status_code == 200


def errors(html: str) -> dict[str, str]:
    """Each field's error as the page shows it."""
    return dict(re.findall(r'data-sb-error="(\w+)"[^>]*>([^<]*)<', html))


def change_password(
    client: TestClient, current: str, new: str = NEW_PASSWORD, again: str | None = None
) -> object:
    token = csrf_token(client.get(PASSWORD_PAGE).text)
    return client.post(
        PASSWORD_PAGE,
        data={
            "current_password": current,
            "password": new,
            "password_again": new if again is None else again,
            "csrftoken": token,
        },
        follow_redirects=False,
    )


def stored(url: str, username: str = "alice") -> User:
    (user,) = run_sql(url, select(User).where(User.username == username))
    assert isinstance(user, User)
    return user


def actions(url: str, username: str = "alice") -> list[str]:
    entries = run_sql(url, select(AuditEntry).where(AuditEntry.username == username))
    return [entry.action for entry in entries]  # type: ignore[attr-defined]


def test_the_user_menu_leads_to_the_preferences_the_password_and_the_activity(
    alice: TestClient,
) -> None:
    page = alice.get("/admin/").text
    links = dict(re.findall(r'href="([^"]+)" data-sb-account-link="(\w+)"', page))

    assert set(links.values()) == {"preferences", "password", "activity"}
    for href in links:
        assert alice.get(href).status_code == 200
    assert "Logout" in page


def test_a_wrong_current_password_shows_the_form_again_naming_the_field_and_changes_nothing(
    alice: TestClient, sqlite_url: str
) -> None:
    before = stored(sqlite_url).password_hash

    answer = change_password(alice, "not-my-password")

    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert errors(answer.text) == {  # type: ignore[attr-defined]
        "current_password": "Current password: not the password of this account"
    }
    assert NEW_PASSWORD not in answer.text  # type: ignore[attr-defined]
    assert stored(sqlite_url).password_hash == before
    assert actions(sqlite_url)[-1] == "password-change-failed"
    assert signed_in(alice)


@pytest.mark.parametrize(
    ("new", "again", "field", "message"),
    [
        (NEW_PASSWORD, "a-brand-new-passphrasE", "password_again", "must be the same"),
        ("short", "short", "password", "at least 10 characters"),
        # The sign-in form could not carry it back: its owner would be locked out.
        ("x" * 1025, "x" * 1025, "password", "at most 1,024 characters"),
        ("a\x00" * 10, "a\x00" * 10, "password", "must not hold control characters"),
    ],
    ids=["mismatch", "too-short", "too-long", "control-characters"],
)
def test_a_new_password_that_breaks_a_rule_is_refused_naming_the_field(
    alice: TestClient, sqlite_url: str, new: str, again: str, field: str, message: str
) -> None:
    before = stored(sqlite_url)

    answer = change_password(alice, ADMIN_PASSWORD, new, again)

    assert answer.status_code == 422  # type: ignore[attr-defined]
    shown = errors(answer.text)  # type: ignore[attr-defined]
    assert list(shown) == [field] and message in shown[field]
    after = stored(sqlite_url)
    assert (after.password_hash, after.session_epoch) == (
        before.password_hash,
        before.session_epoch,
    )


def test_the_new_password_may_not_be_the_username(sqlite_url: str, clock: FakeClock) -> None:
    add_user(sqlite_url, "longusername")
    with TestClient(
        create_app(make_config(sqlite_url), clock=clock), base_url="https://testserver"
    ) as client:
        sign_in(client, "longusername")
        answer = change_password(client, ADMIN_PASSWORD, "LongUserName")

    assert errors(answer.text) == {  # type: ignore[attr-defined]
        "password": "New password: must not be the same as the username"
    }


def test_changing_the_password_ends_the_other_sessions_while_this_one_continues(
    app: Starlette, alice: TestClient, sqlite_url: str
) -> None:
    with TestClient(app, base_url="https://testserver") as elsewhere:
        sign_in(elsewhere, "alice")
        with TestClient(app, base_url="https://testserver") as bob:
            sign_in(bob, "bob")

            answer = change_password(alice, ADMIN_PASSWORD)

            assert answer.status_code == 303  # type: ignore[attr-defined]
            assert answer.headers["location"] == PASSWORD_PAGE  # type: ignore[attr-defined]
            assert "Your other sessions have ended" in alice.get(PASSWORD_PAGE).text
            assert signed_in(alice)
            assert not signed_in(elsewhere)
            assert signed_in(bob)  # nobody else's sessions end

    with TestClient(app, base_url="https://testserver") as fresh:
        assert post_login(fresh, "alice", ADMIN_PASSWORD).status_code == 400  # type: ignore[attr-defined]
        assert post_login(fresh, "alice", NEW_PASSWORD).status_code == 303  # type: ignore[attr-defined]
    (entry,) = run_sql(sqlite_url, select(AuditEntry).where(AuditEntry.action == "password-change"))
    assert isinstance(entry, AuditEntry)
    assert (entry.username, entry.model, entry.object_label) == ("alice", "user", "alice")
    assert entry.changes == {"password_hash": {"old": "••••••", "new": "••••••"}}


def test_the_other_sessions_open_sockets_close_and_this_sessions_reconnects(
    app: Starlette, alice: TestClient
) -> None:
    with (
        TestClient(app, base_url="https://testserver") as elsewhere,
        TestClient(app, base_url="https://testserver") as bob,
    ):
        sign_in(elsewhere, "alice")
        sign_in(bob, "bob")
        with elsewhere.websocket_connect(WS) as other, bob.websocket_connect(WS) as bobs:
            other.receive_json(), bobs.receive_json()

            assert change_password(alice, ADMIN_PASSWORD).status_code == 303  # type: ignore[attr-defined]

            assert closed_with(other) == SESSION_ENDED
            assert still_open(bobs)
        with alice.websocket_connect(WS) as here:
            assert here.receive_json()["type"] == "unread"


def test_wrong_current_passwords_are_throttled_like_sign_ins_on_this_session_only(
    app: Starlette, alice: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    before = stored(sqlite_url).password_hash
    for _ in range(5):
        assert change_password(alice, "guess").status_code == 422  # type: ignore[attr-defined]

    locked = change_password(alice, ADMIN_PASSWORD)

    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert errors(locked.text) == {  # type: ignore[attr-defined]
        "current_password": "Current password: Too many wrong passwords. Try again in 30 seconds."
    }
    assert stored(sqlite_url).password_hash == before
    # The guesses lock this session's password changes only: not her sign-ins, not her others.
    with TestClient(app, base_url="https://testserver") as elsewhere:
        assert post_login(elsewhere, "alice", ADMIN_PASSWORD).status_code == 303  # type: ignore[attr-defined]
        assert change_password(elsewhere, "guess").status_code == 422  # type: ignore[attr-defined]

    assert alice.portal is not None
    alice.portal.call(clock.advance, 31)
    assert change_password(alice, ADMIN_PASSWORD).status_code == 303  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (
            PASSWORD_PAGE,
            {
                "current_password": ADMIN_PASSWORD,
                "password": NEW_PASSWORD,
                "password_again": NEW_PASSWORD,
            },
        ),
        (PREFERENCES_PAGE, {"theme": "dark"}),
    ],
    ids=["password", "preferences"],
)
def test_a_change_without_this_sessions_csrf_token_is_refused_and_changes_nothing(
    app: Starlette, alice: TestClient, sqlite_url: str, path: str, data: dict[str, str]
) -> None:
    before = stored(sqlite_url)
    with TestClient(app, base_url="https://testserver") as other:
        sign_in(other, "bob")
        bobs_token = csrf_token(other.get(path).text)

    missing = alice.post(path, data=data, follow_redirects=False)
    foreign = alice.post(path, data={**data, "csrftoken": bobs_token}, follow_redirects=False)

    assert (missing.status_code, foreign.status_code) == (403, 403)
    assert "CSRF token missing" in missing.text
    after = stored(sqlite_url)
    assert (after.password_hash, after.theme) == (before.password_hash, "auto")


def test_every_admin_page_is_drawn_in_the_chosen_theme(alice: TestClient, sqlite_url: str) -> None:
    auto = HTML_TAG.search(alice.get("/admin/").text)
    assert (
        auto
        and 'data-bs-theme="light"' in auto.group(0)
        and 'data-sb-theme="auto"' in auto.group(0)
    )
    form = alice.get(PREFERENCES_PAGE).text
    assert re.search(r'value="auto"\s+checked', form)

    saved = alice.post(
        PREFERENCES_PAGE,
        data={"theme": "dark", "csrftoken": csrf_token(form)},
        follow_redirects=False,
    )

    assert saved.status_code == 303
    assert stored(sqlite_url).theme == "dark"
    for path in ("/admin/", PREFERENCES_PAGE, ACTIVITY_PAGE, "/admin/notifications"):
        tag = HTML_TAG.search(alice.get(path).text)
        assert tag and 'data-bs-theme="dark"' in tag.group(0), path
    assert actions(sqlite_url)[-1] == "preferences-edit"
    assert stored(sqlite_url, "bob").theme == "auto"


@pytest.mark.parametrize("theme", ["blue", "", "DARK", "dark "])
def test_a_theme_outside_the_choices_is_refused_naming_the_field(
    alice: TestClient, sqlite_url: str, theme: str
) -> None:
    token = csrf_token(alice.get(PREFERENCES_PAGE).text)

    answer = alice.post(PREFERENCES_PAGE, data={"theme": theme, "csrftoken": token})

    assert answer.status_code == 422
    assert errors(answer.text) == {"theme": "Theme: one of auto, light, dark"}
    assert stored(sqlite_url).theme == "auto"
    assert "preferences-edit" not in actions(sqlite_url)


def test_the_activity_page_shows_the_users_own_entries_newest_first_and_nobody_elses(
    app: Starlette, alice: TestClient, sqlite_url: str
) -> None:
    with TestClient(app, base_url="https://testserver") as bob:
        sign_in(bob, "bob")
        token = csrf_token(bob.get(PREFERENCES_PAGE).text)
        bob.post(PREFERENCES_PAGE, data={"theme": "light", "csrftoken": token})
    token = csrf_token(alice.get(PREFERENCES_PAGE).text)
    alice.post(PREFERENCES_PAGE, data={"theme": "dark", "csrftoken": token})

    page = alice.get(ACTIVITY_PAGE)

    assert page.status_code == 200
    shown = re.findall(r'data-sb-activity-entry="(\d+)"', page.text)
    own = run_sql(
        sqlite_url,
        select(AuditEntry.id).where(AuditEntry.username == "alice").order_by(AuditEntry.id.desc()),
    )
    assert shown == [str(entry_id) for entry_id in own]
    assert len(shown) == 2  # her sign-in and her preferences
    assert "bob" not in page.text.split('id="sb-activity"')[1]
    # Her own activity, not the audit log: that still needs audit:view.
    assert alice.get("/admin/audit/list").status_code == 403


def test_the_activity_is_paginated_25_entries_a_page(alice: TestClient, sqlite_url: str) -> None:
    token = csrf_token(alice.get(PREFERENCES_PAGE).text)
    for turn in range(30):
        theme = ("dark", "light")[turn % 2]
        alice.post(PREFERENCES_PAGE, data={"theme": theme, "csrftoken": token})

    first = alice.get(ACTIVITY_PAGE).text
    second = alice.get(f"{ACTIVITY_PAGE}?page=2").text
    beyond = alice.get(f"{ACTIVITY_PAGE}?page=9")

    on_first = re.findall(r'data-sb-activity-entry="(\d+)"', first)
    on_second = re.findall(r'data-sb-activity-entry="(\d+)"', second)
    assert (len(on_first), len(on_second)) == (25, 6)  # 30 changes and the sign-in
    assert [int(i) for i in on_first + on_second] == sorted(
        (int(i) for i in on_first + on_second), reverse=True
    )
    assert "Page 1 of 2" in first and '/admin/account/activity?page=2"' in first
    assert beyond.status_code == 200 and "Nothing on this page" in beyond.text


def test_maintenance_mode_does_not_pause_ones_own_account(
    sqlite_url: str, clock: FakeClock, cli: RunCli
) -> None:
    add_user(sqlite_url, "alice", superuser=False)
    assert cli(sqlite_url, "settings", "set", "MAINTENANCE_MODE", "true").code == 0
    app = create_app(make_config(sqlite_url), clock=clock)
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "alice")
        assert app.state.live_settings.MAINTENANCE_MODE is True
        token = csrf_token(client.get(PREFERENCES_PAGE).text)
        saved = client.post(
            PREFERENCES_PAGE, data={"theme": "dark", "csrftoken": token}, follow_redirects=False
        )
        changed = change_password(client, ADMIN_PASSWORD)

    assert (saved.status_code, changed.status_code) == (303, 303)  # type: ignore[attr-defined]
    assert stored(sqlite_url).theme == "dark"


def test_a_visitor_is_sent_to_sign_in(app: Starlette) -> None:
    with TestClient(app, base_url="https://testserver") as visitor:
        for path in (PASSWORD_PAGE, PREFERENCES_PAGE, ACTIVITY_PAGE):
            answer = visitor.get(path, follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/admin/login")


def test_the_time_zone_chosen_in_the_preferences_is_stored_and_the_sites_chosen_again(
    alice: TestClient, sqlite_url: str
) -> None:
    form = alice.get(PREFERENCES_PAGE).text
    assert re.search(r"<option value=\"\"\s+selected>The site's \(UTC\)</option>", form)

    saved = alice.post(
        PREFERENCES_PAGE,
        data={"theme": "auto", "time_zone": "Europe/Paris", "csrftoken": csrf_token(form)},
        follow_redirects=False,
    )

    assert saved.status_code == 303
    assert stored(sqlite_url).time_zone == "Europe/Paris"
    form = alice.get(PREFERENCES_PAGE).text
    assert re.search(r'<option value="Europe/Paris"\s+selected>', form)
    # A form without the field (an older tab) leaves the zone as it is.
    alice.post(PREFERENCES_PAGE, data={"theme": "dark", "csrftoken": csrf_token(form)})
    assert (stored(sqlite_url).theme, stored(sqlite_url).time_zone) == ("dark", "Europe/Paris")
    alice.post(
        PREFERENCES_PAGE, data={"theme": "dark", "time_zone": "", "csrftoken": csrf_token(form)}
    )
    assert stored(sqlite_url).time_zone is None


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "europe/paris"])
def test_a_time_zone_the_zone_database_does_not_know_is_refused_naming_the_field(
    alice: TestClient, sqlite_url: str, zone: str
) -> None:
    token = csrf_token(alice.get(PREFERENCES_PAGE).text)

    answer = alice.post(
        PREFERENCES_PAGE, data={"theme": "dark", "time_zone": zone, "csrftoken": token}
    )

    assert answer.status_code == 422
    message = errors(answer.text)["time_zone"]
    assert message.startswith("time_zone: ") and "IANA name like Europe/Paris" in message
    assert (stored(sqlite_url).theme, stored(sqlite_url).time_zone) == ("auto", None)
    assert "preferences-edit" not in actions(sqlite_url)
