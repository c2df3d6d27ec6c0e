"""Sign-in, the session cookie, its lifetimes, and what ends it (in-process, real SQLite)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import anyio
import itsdangerous
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Select, event, select, update
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.auth import passwords, sessions
from app.auth.accounts import set_password
from app.clock import FakeClock
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import AuditEntry, SignInSession, User
from tests.conftest import (
    ADMIN_PASSWORD,
    add_user,
    csrf_token,
    make_config,
    seen_row,
    sign_in,
)

NEW_PASSWORD = "a-brand-new-passphrase"
SIGNER = itsdangerous.TimestampSigner("test-secret")  # make_config's SECRET_KEY


def decoded_session(cookie: str | None) -> dict[str, object]:
    """What Starlette's session cookie holds."""
    assert cookie is not None
    data: dict[str, object] = json.loads(base64.b64decode(SIGNER.unsign(cookie)))
    return data


def encoded_session(data: dict[str, object]) -> str:
    return SIGNER.sign(base64.b64encode(json.dumps(data).encode())).decode()


def replay(client: TestClient, cookie: str | None) -> None:
    """The client now sends only this session cookie, as a copy saved earlier would be."""
    assert cookie is not None
    client.cookies.clear()
    client.cookies.set(sessions.COOKIE, cookie, domain="testserver.local")


def run_sql(url: str, statement: object) -> list[object]:
    async def work() -> list[object]:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                result = await session.execute(statement)  # type: ignore[call-overload]
                return list(result.scalars().all()) if isinstance(statement, Select) else []
        finally:
            await engine.dispose()

    return anyio.run(work)


def post_login(client: TestClient, username: str, password: str, **extra: str) -> object:
    token = csrf_token(client.get("/admin/login").text)
    query = extra.pop("next", None)
    url = "/admin/login" + (f"?next={query}" if query else "")
    return client.post(
        url,
        data={"username": username, "password": password, "csrftoken": token, **extra},
        follow_redirects=False,
    )


def session_cookie_header(response: object) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return next(h for h in headers if h.startswith(f"{sessions.COOKIE}="))


def signed_in(client: TestClient) -> bool:
    return client.get("/admin/product/list", follow_redirects=False).status_code == 200


@pytest.fixture
def client(sqlite_url: str, app: Starlette) -> Iterator[TestClient]:
    add_user(sqlite_url, "alice")
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def second_client(app: Starlette, username: str = "alice") -> TestClient:
    other = TestClient(app, base_url="https://testserver").__enter__()
    sign_in(other, username)
    return other


def test_a_browser_session_cookie_is_httponly_lax_secure_and_ends_with_the_browser(
    client: TestClient,
) -> None:
    response = post_login(client, "alice", ADMIN_PASSWORD)
    assert response.status_code == 303  # type: ignore[attr-defined]
    cookie = session_cookie_header(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
    assert "max-age" not in cookie and "expires" not in cookie
    assert signed_in(client)


def test_remember_me_makes_a_long_lived_cookie(client: TestClient) -> None:
    response = post_login(client, "alice", ADMIN_PASSWORD, remember_me="on")
    assert f"Max-Age={30 * 86400}" in session_cookie_header(response)
    assert signed_in(client)


def test_debug_mode_drops_the_secure_flag(sqlite_url: str) -> None:
    add_user(sqlite_url, "alice")
    app = create_app(make_config(sqlite_url, debug=True))
    with TestClient(app) as client:
        cookie = session_cookie_header(post_login(client, "alice", ADMIN_PASSWORD))
    assert "secure" not in cookie.lower()


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(client: TestClient) -> None:
    wrong = post_login(client, "alice", "not-the-password")
    unknown = post_login(client, "mallory", "not-the-password")
    for response in (wrong, unknown):
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert "Invalid username or password" in response.text  # type: ignore[attr-defined]
    assert not signed_in(client)


def test_an_unknown_username_costs_one_argon2_verify_like_a_wrong_password(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            calls.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "_hasher", CountingHasher())
    post_login(client, "alice", "not-the-password")
    post_login(client, "mallory", "not-the-password")
    assert len(calls) == 2
    assert all(h.startswith("$argon2id$") for h in calls)


def test_an_inactive_user_cannot_sign_in(client: TestClient, sqlite_url: str) -> None:
    run_sql(sqlite_url, update(User).where(User.username == "alice").values(is_active=False))
    refused = post_login(client, "alice", ADMIN_PASSWORD)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    # The same answer as a wrong password: nothing tells an attacker the account exists.
    assert "Invalid username or password" in refused.text  # type: ignore[attr-defined]
    assert not signed_in(client)
    actions = run_sql(sqlite_url, select(AuditEntry.action).where(AuditEntry.username == "alice"))
    assert actions == ["sign-in-failed"]
    [last_login] = run_sql(sqlite_url, select(User.last_login).where(User.username == "alice"))
    assert last_login is None


def test_five_failures_lock_the_username_with_a_time_to_retry(client: TestClient) -> None:
    for _ in range(5):
        post_login(client, "alice", "not-the-password")
    refused = post_login(client, "alice", ADMIN_PASSWORD)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "Too many failed sign-ins. Try again in 30 seconds." in refused.text  # type: ignore[attr-defined]
    assert not signed_in(client)


def test_sign_in_renews_the_session_and_the_csrf_token(client: TestClient) -> None:
    client.cookies.set(sessions.COOKIE, "planted-by-someone-else")
    response = post_login(client, "alice", ADMIN_PASSWORD)
    csrf_cookies = [
        h
        for h in response.headers.get_list("set-cookie")
        if "starlette_admin_csrftoken" in h  # type: ignore[attr-defined]
    ]
    assert csrf_cookies and all(
        re.search(r"Max-Age=0|expires=Thu, 01 Jan 1970", c) for c in csrf_cookies
    )
    assert session_cookie_header(response) != f"{sessions.COOKIE}=planted-by-someone-else"


def test_sign_in_rehashes_a_password_hashed_with_old_parameters(
    client: TestClient, sqlite_url: str
) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192).hash(ADMIN_PASSWORD)
    run_sql(sqlite_url, update(User).where(User.username == "alice").values(password_hash=old))
    response = post_login(client, "alice", ADMIN_PASSWORD)
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == "/admin/"  # type: ignore[attr-defined]
    assert signed_in(client)
    [stored] = run_sql(sqlite_url, select(User.password_hash).where(User.username == "alice"))
    assert stored != old
    assert not passwords.needs_rehash(str(stored))
    assert passwords.verify_password(str(stored), ADMIN_PASSWORD)
    assert not passwords.verify_password(str(stored), "not-the-password")


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example/x", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_never_leaves_the_site(client: TestClient, target: str) -> None:
    response = post_login(client, "alice", ADMIN_PASSWORD, next=target)
    assert response.headers["location"] == "/admin/"  # type: ignore[attr-defined]


def test_next_within_the_site_is_followed(client: TestClient) -> None:
    response = post_login(client, "alice", ADMIN_PASSWORD, next="/admin/product/list?page=2")
    assert response.headers["location"] == "/admin/product/list?page=2"  # type: ignore[attr-defined]


def test_a_post_without_csrf_token_is_refused(client: TestClient) -> None:
    sign_in(client, "alice")
    response = client.post(
        "/admin/product/create",
        data={"sku": "NO-CSRF", "name": "x", "category": "books", "price": "1"},
    )
    assert response.status_code == 403
    assert "CSRF" in response.text
    htmx_like = client.post("/admin/_api/product/row-action?pk=1&name=delete", data={})
    assert htmx_like.status_code == 403


def test_logout_ends_the_session(client: TestClient) -> None:
    sign_in(client, "alice")
    token = csrf_token(client.get("/admin/product/list").text)
    response = client.post("/admin/logout", data={"csrftoken": token}, follow_redirects=False)
    assert response.status_code == 303
    assert not signed_in(client)


def test_a_cookie_saved_before_sign_out_opens_nothing_afterwards(
    client: TestClient, app: Starlette, sqlite_url: str
) -> None:
    sign_in(client, "alice")
    saved = client.cookies.get(sessions.COOKIE)
    other = second_client(app)  # alice on another device
    token = csrf_token(client.get("/admin/product/list").text)
    client.post("/admin/logout", data={"csrftoken": token})

    replay(client, saved)
    assert not signed_in(client)
    assert signed_in(other)  # signing out here leaves the other device signed in
    ended = run_sql(sqlite_url, select(SignInSession).order_by(SignInSession.started_at))
    assert [row.ended_at is None for row in ended] == [False, True]  # type: ignore[attr-defined]
    other.__exit__(None, None, None)


def test_the_server_keeps_only_a_hash_of_the_sign_in_token(
    client: TestClient, sqlite_url: str
) -> None:
    sign_in(client, "alice")
    session = decoded_session(client.cookies.get(sessions.COOKIE))
    rows = run_sql(sqlite_url, select(SignInSession))
    token = str(session[sessions.TOKEN])
    assert [row.token_hash for row in rows] == [hashlib.sha256(token.encode()).hexdigest()]  # type: ignore[attr-defined]


def test_a_session_cookie_from_before_sign_in_rows_signs_nobody_in(
    client: TestClient, app: Starlette
) -> None:
    sign_in(client, "alice")
    session = decoded_session(client.cookies.get(sessions.COOKIE))
    del session[sessions.TOKEN]  # as cookies made before this release carry none
    replay(client, encoded_session(session))
    assert not signed_in(client)


def test_no_admin_page_shows_the_sign_ins(app: Starlette) -> None:
    tables = {view.model.__tablename__ for view in app.state.admin.model_views}
    assert "user_account" in tables
    assert SignInSession.__tablename__ not in tables


def test_sign_in_and_out_are_audited(client: TestClient, sqlite_url: str) -> None:
    post_login(client, "alice", "not-the-password")
    post_login(client, "alice", ADMIN_PASSWORD)
    token = csrf_token(client.get("/admin/product/list").text)
    client.post("/admin/logout", data={"csrftoken": token})
    entries = run_sql(sqlite_url, select(AuditEntry).order_by(AuditEntry.id))
    assert [(e.action, e.username, e.client_address) for e in entries] == [  # type: ignore[attr-defined]
        ("sign-in-failed", "alice", "testclient"),
        ("sign-in", "alice", "testclient"),
        ("sign-out", "alice", "testclient"),
    ]


def test_a_password_change_ends_every_session(
    client: TestClient, app: Starlette, sqlite_url: str
) -> None:
    sign_in(client, "alice")
    other = second_client(app)

    async def change() -> None:
        engine = create_engine(sqlite_url)
        async with create_session_factory(engine).begin() as session:
            await set_password(session, "alice", NEW_PASSWORD)
        await engine.dispose()

    anyio.run(change)
    assert not signed_in(client)
    assert not signed_in(other)
    other.__exit__(None, None, None)


def test_changing_ones_own_password_keeps_this_session_and_ends_the_others(
    client: TestClient, app: Starlette
) -> None:
    sign_in(client, "alice")
    other = second_client(app)
    token = csrf_token(client.get("/admin/user/list").text)
    response = client.post(
        "/admin/_api/user/row-action?pk=1&name=set_password",
        data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200, response.text
    assert signed_in(client)
    assert not signed_in(other)
    other.__exit__(None, None, None)


@pytest.mark.parametrize("change", [{"is_active": False}, {"is_superuser": False}])
def test_deactivating_or_demoting_a_user_ends_their_sessions(
    client: TestClient, app: Starlette, sqlite_url: str, change: dict[str, bool]
) -> None:
    add_user(sqlite_url, "root")
    sign_in(client, "alice")
    root = second_client(app, "root")
    form = root.get("/admin/user/edit?pk=1").text
    data = {
        "csrftoken": csrf_token(form),
        "seen_row": seen_row(form),
        "username": "alice",
        "is_active": "on",
        "is_superuser": "on",
    }
    for field, value in change.items():
        if not value:
            data.pop(field)
    saved = root.post("/admin/user/edit?pk=1", data=data, follow_redirects=False)
    assert saved.status_code == 303, saved.text[-800:]
    assert not signed_in(client)
    assert signed_in(root)
    root.__exit__(None, None, None)


def test_idle_and_absolute_lifetimes() -> None:
    idle, absolute = sessions.BROWSER_SESSION
    session: dict[str, object] = {}
    sessions.start(session, 7, 0, remember=False, now=1_800_000_000, token="t")
    start = float(session[sessions.SINCE])  # type: ignore[arg-type]
    assert sessions.signed_in_user_id(session, start + idle - 1) == 7
    assert sessions.signed_in_user_id(session, start + 2 * idle - 2) == 7  # activity renews idle
    assert sessions.signed_in_user_id(session, start + 3 * idle) is None
    assert session == {}  # an expired session is cleared

    sessions.start(session, 7, 0, remember=False, now=1_800_000_000, token="t")
    start = float(session[sessions.SINCE])  # type: ignore[arg-type]
    now = start
    while now < start + absolute - 60:  # active all day long
        now += idle / 2
        assert sessions.signed_in_user_id(session, min(now, start + absolute - 60)) == 7
    assert sessions.signed_in_user_id(session, start + absolute + 1) is None

    sessions.start(session, 7, 0, remember=True, now=1_800_000_000, token="t")
    start = float(session[sessions.SINCE])  # type: ignore[arg-type]
    assert sessions.signed_in_user_id(session, start + 7 * 86400) == 7
    assert sessions.signed_in_user_id(session, start + 31 * 86400) is None


def test_a_tampered_or_malformed_session_signs_nobody_in() -> None:
    assert sessions.signed_in_user_id({"uid": "1", "since": 0, "seen": 0}, now=60) is None
    assert sessions.signed_in_user_id({"uid": 1}, now=60) is None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def timed_client(sqlite_url: str, clock: FakeClock) -> Iterator[TestClient]:
    """A client of an app whose clock the test moves."""
    add_user(sqlite_url, "alice")
    app = create_app(make_config(sqlite_url), clock=clock)
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def later(client: TestClient, clock: FakeClock, seconds: float) -> None:
    assert client.portal is not None
    client.portal.call(clock.advance, seconds)  # on the app's event loop, where it sleeps


def test_an_idle_browser_session_ends_on_the_apps_clock_and_activity_keeps_it(
    timed_client: TestClient, clock: FakeClock
) -> None:
    idle, _ = sessions.BROWSER_SESSION
    sign_in(timed_client, "alice")
    later(timed_client, clock, idle - 60)
    assert signed_in(timed_client)
    later(timed_client, clock, idle - 60)  # the last request renewed the idle time
    assert signed_in(timed_client)
    later(timed_client, clock, idle + 1)
    assert not signed_in(timed_client)
    assert timed_client.get("/admin/", follow_redirects=False).status_code == 303  # to login


def test_an_active_browser_session_still_ends_at_its_absolute_lifetime(
    timed_client: TestClient, clock: FakeClock
) -> None:
    idle, absolute = sessions.BROWSER_SESSION
    sign_in(timed_client, "alice")
    for _ in range(int(absolute // (idle / 2)) - 1):  # active all day long
        later(timed_client, clock, idle / 2)
        assert signed_in(timed_client)
    later(timed_client, clock, idle / 2 + 1)
    assert not signed_in(timed_client)


def test_a_remembered_session_lasts_weeks_but_not_past_30_days(
    timed_client: TestClient, clock: FakeClock
) -> None:
    post_login(timed_client, "alice", ADMIN_PASSWORD, remember_me="on")
    for _ in range(4):
        later(timed_client, clock, 7 * 86400)  # a week between visits: under its 14-day idle
        assert signed_in(timed_client)
    later(timed_client, clock, 3 * 86400)
    assert not signed_in(timed_client)


def test_static_files_do_not_look_the_user_up(client: TestClient, app: Starlette) -> None:
    sign_in(client, "alice")
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get("/admin/static/js/sa-dom.js").status_code == 200
        assert statements == []
        assert signed_in(client)
        assert statements  # the same listener does see a page's lookup
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("next_page", ["http://[::1", "http://[zz]/"])
def test_a_malformed_next_page_signs_in_to_the_home_page(
    client: TestClient, next_page: str
) -> None:
    answer = post_login(client, "alice", ADMIN_PASSWORD, next=quote(next_page, safe=""))
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/admin/"  # type: ignore[attr-defined]
    assert signed_in(client)
