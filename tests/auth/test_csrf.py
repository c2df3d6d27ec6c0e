"""The CSRF token is bound to the session it was made for (app/admin/csrf.py).

Issue 12's attacker ran a page on another port of the same host: cookies ignore ports, so it can
plant a CSRF cookie of its own beside the admin's session. A token that only has to match that
cookie then works for anyone; a token bound to the session works for that session alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.main import create_app
from tests.conftest import ADMIN_PASSWORD, add_user, csrf_token, make_config, sign_in

CSRF_COOKIE = "starlette_admin_csrftoken"
COOKIE_DOMAIN = "testserver.local"  # where httpx keeps the cookies of https://testserver


@pytest.fixture
def app(sqlite_url: str) -> Starlette:
    add_user(sqlite_url, "alice")
    add_user(sqlite_url, "bob")
    return create_app(make_config(sqlite_url))


@pytest.fixture
def clients(app: Starlette) -> Iterator[tuple[TestClient, TestClient]]:
    with (
        TestClient(app, base_url="https://testserver") as one,
        TestClient(app, base_url="https://testserver") as two,
    ):
        yield one, two


def tags(sqlite_url: str) -> list[str]:
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        return [name for (name,) in db.execute("SELECT name FROM tag ORDER BY id")]


def plant(client: TestClient, cookie: str | None) -> None:
    """The CSRF cookie a page on another port of the host sets for it (cookies ignore ports)."""
    assert cookie is not None
    client.cookies.delete(CSRF_COOKIE)
    client.cookies.set(CSRF_COOKIE, cookie, domain=COOKIE_DOMAIN)


def create_tag(client: TestClient, token: str, name: str, *, header: bool = False) -> int:
    if header:
        answer = client.post(
            "/admin/tag/create",
            data={"name": name},
            headers={"X-CSRFToken": token},
            follow_redirects=False,
        )
    else:
        answer = client.post(
            "/admin/tag/create", data={"csrftoken": token, "name": name}, follow_redirects=False
        )
    if answer.status_code == 403:
        assert "CSRF token" in answer.text and "refresh the page" in answer.text, answer.text
    return answer.status_code


@pytest.mark.parametrize("header", [False, True], ids=["form-field", "header"])
def test_an_anonymous_token_and_cookie_are_refused_for_a_signed_in_admin(
    clients: tuple[TestClient, TestClient], sqlite_url: str, header: bool
) -> None:
    admin, attacker = clients
    sign_in(admin, "alice")
    token = csrf_token(attacker.get("/admin/login").text)
    plant(admin, attacker.cookies.get(CSRF_COOKIE))

    assert create_tag(admin, token, "planted", header=header) == 403
    assert tags(sqlite_url) == []


def test_a_token_made_for_one_users_session_is_refused_in_anothers(
    clients: tuple[TestClient, TestClient], sqlite_url: str
) -> None:
    alice, bob = clients
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    alices_token = csrf_token(alice.get("/admin/tag/create").text)
    plant(bob, alice.cookies.get(CSRF_COOKIE))

    assert create_tag(bob, alices_token, "borrowed") == 403
    assert create_tag(alice, alices_token, "own") == 303
    assert tags(sqlite_url) == ["own"]


def test_a_token_from_before_sign_out_is_refused_after_signing_in_again(
    clients: tuple[TestClient, TestClient], sqlite_url: str
) -> None:
    alice, _ = clients
    sign_in(alice, "alice")
    old_token = csrf_token(alice.get("/admin/tag/create").text)
    old_cookie = alice.cookies.get(CSRF_COOKIE)
    alice.post("/admin/logout", data={"csrftoken": old_token})
    sign_in(alice, "alice")
    plant(alice, old_cookie)

    assert create_tag(alice, old_token, "stale") == 403
    new_token = csrf_token(alice.get("/admin/tag/create").text)
    assert create_tag(alice, new_token, "fresh") == 303
    assert tags(sqlite_url) == ["fresh"]


def test_the_sign_in_forms_token_is_refused_once_signed_in(
    clients: tuple[TestClient, TestClient], sqlite_url: str
) -> None:
    alice, _ = clients
    login_token = csrf_token(alice.get("/admin/login").text)
    login_cookie = alice.cookies.get(CSRF_COOKIE)
    sign_in(alice, "alice")
    plant(alice, login_cookie)

    assert create_tag(alice, login_token, "from-the-login-page") == 403
    assert tags(sqlite_url) == []


def test_the_cookie_carries_the_sessions_token_for_scripts(
    clients: tuple[TestClient, TestClient], sqlite_url: str
) -> None:
    alice, _ = clients
    sign_in(alice, "alice")
    page_token = csrf_token(alice.get("/admin/tag/create").text)
    assert alice.cookies.get(CSRF_COOKIE) == page_token  # what starboard.js sends to htmx
    assert create_tag(alice, page_token, "by-header", header=True) == 303
    assert tags(sqlite_url) == ["by-header"]


def test_a_refusal_asks_to_refresh_the_page_in_the_errors_shape(
    clients: tuple[TestClient, TestClient],
) -> None:
    alice, _ = clients
    sign_in(alice, "alice")
    refused = alice.post(
        "/admin/_api/tag/row-action?pk=1&name=delete", headers={"X-CSRFToken": "made-up"}
    )
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("CSRF token")
    assert "refresh the page" in refused.json()["detail"]
    page = alice.post("/admin/tag/create", data={"name": "x"})
    assert page.status_code == 403
    assert "CSRF token" in page.text and "refresh the page" in page.text


def test_the_sign_in_form_needs_no_session_cookie_only_its_csrf_cookie(app: Starlette) -> None:
    # Over plain http a client keeps the Secure session cookie but never sends it back (as the
    # scripts signing in to test servers do); the sign-in form is bound to the CSRF cookie.
    with TestClient(app, base_url="http://testserver") as client:
        page = client.get("/admin/login")
        assert "starboard_session" not in page.headers.get("set-cookie", "")
        answer = client.post(
            "/admin/login",
            data={
                "username": "alice",
                "password": ADMIN_PASSWORD,
                "csrftoken": csrf_token(page.text),
            },
            follow_redirects=False,
        )
    assert answer.status_code == 303


def test_a_page_sets_the_token_cookie_only_when_the_browsers_is_not_current(
    clients: tuple[TestClient, TestClient],
) -> None:
    alice, _ = clients
    sign_in(alice, "alice")
    alice.get("/admin/tag/list")
    token = alice.cookies.get(CSRF_COOKIE)
    assert token
    page = alice.get("/admin/tag/list")
    assert f"{CSRF_COOKIE}=" not in page.headers.get("set-cookie", "")  # already current
    alice.cookies.delete(CSRF_COOKIE)
    page = alice.get("/admin/tag/list")
    assert f"{CSRF_COOKIE}={token}" in page.headers["set-cookie"]
    assert alice.cookies.get(CSRF_COOKIE) == token
