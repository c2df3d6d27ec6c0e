"""Who the sign-in throttle can lock out, and which client address it and the audit log see."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.auth.known_browsers import COOKIE
from app.auth.sessions import COOKIE as SESSION_COOKIE
from app.auth.throttle import ADDRESS_LIMIT
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import AuditEntry
from tests.conftest import ADMIN_PASSWORD, add_user, csrf_token, make_config, migrated_url
from tests.services import ROOT, app_environment, free_port

WRONG = "not-the-password"
LOCKED = "Too many failed sign-ins."
ATTACKER = "198.51.100.66"
HOME = "203.0.113.10"
ELSEWHERE = "192.0.2.44"
PROXY = "10.0.0.2"


class Browsers:
    """Test clients that each keep their own cookies and come from an address of their choice."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._stack = ExitStack()

    def at(self, address: str) -> TestClient:
        client = TestClient(self.app, base_url="https://testserver", client=(address, 50000))
        return self._stack.enter_context(client)

    def close(self) -> None:
        self._stack.close()


def post_login(
    client: TestClient, username: str, password: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    token = csrf_token(client.get("/admin/login").text)
    response = client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrftoken": token},
        headers=headers,
        follow_redirects=False,
    )
    return response.status_code, response.text


def audit_rows(url: str) -> list[tuple[str, str | None, str | None]]:
    async def read() -> list[tuple[str, str | None, str | None]]:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                entries = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                return [(e.action, e.username, e.client_address) for e in entries]
        finally:
            await engine.dispose()

    return anyio.run(read)


@pytest.fixture
def browsers(sqlite_url: str, app: Starlette) -> Iterator[Browsers]:
    for name in ("alice", "bob"):
        add_user(sqlite_url, name)
    opened = Browsers(app)
    yield opened
    opened.close()


def test_an_attacker_elsewhere_cannot_lock_alice_out_of_her_known_browser(
    browsers: Browsers,
) -> None:
    alices_laptop = browsers.at(HOME)
    assert post_login(alices_laptop, "alice", ADMIN_PASSWORD)[0] == 303
    alices_laptop.cookies.delete(SESSION_COOKIE)  # signed out; the browser stays known

    attacker = browsers.at(ATTACKER)
    for _ in range(5):
        status, page = post_login(attacker, "alice", WRONG)
        assert status == 400 and "Invalid username or password" in page
    status, page = post_login(attacker, "alice", WRONG)
    assert status == 400 and LOCKED in page

    assert post_login(alices_laptop, "alice", ADMIN_PASSWORD)[0] == 303
    # The trade-off: a browser that never signed in as alice waits, even with the right password.
    status, page = post_login(browsers.at(ELSEWHERE), "alice", ADMIN_PASSWORD)
    assert status == 400 and LOCKED in page
    status, page = post_login(browsers.at(HOME), "alice", ADMIN_PASSWORD)
    assert status == 400 and LOCKED in page


def test_a_known_browser_is_still_throttled_by_its_own_failures(browsers: Browsers) -> None:
    alices_laptop = browsers.at(HOME)
    assert post_login(alices_laptop, "alice", ADMIN_PASSWORD)[0] == 303
    alices_laptop.cookies.delete(SESSION_COOKIE)

    for _ in range(5):
        assert post_login(alices_laptop, "alice", WRONG)[0] == 400
    status, page = post_login(alices_laptop, "alice", ADMIN_PASSWORD)

    assert status == 400 and LOCKED in page
    # Her failures there were hers: another browser of hers, and other people, are not held up.
    assert post_login(browsers.at(HOME), "bob", ADMIN_PASSWORD)[0] == 303
    assert post_login(browsers.at(ELSEWHERE), "alice", ADMIN_PASSWORD)[0] == 303


def test_a_known_browser_cookie_vouches_only_for_the_usernames_it_signed_in_as(
    browsers: Browsers,
) -> None:
    bobs_laptop = browsers.at(HOME)
    assert post_login(bobs_laptop, "bob", ADMIN_PASSWORD)[0] == 303
    bobs_laptop.cookies.delete(SESSION_COOKIE)
    for _ in range(5):
        post_login(browsers.at(ATTACKER), "alice", WRONG)

    status, page = post_login(bobs_laptop, "alice", ADMIN_PASSWORD)

    assert status == 400 and LOCKED in page


def test_a_forged_known_browser_cookie_is_ignored(browsers: Browsers) -> None:
    for _ in range(5):
        post_login(browsers.at(ATTACKER), "alice", WRONG)
    forger = browsers.at(ATTACKER)
    forger.cookies.set(COOKIE, '{"id": "x", "users": ["alice"]}.forged', path="/admin/login")

    status, page = post_login(forger, "alice", ADMIN_PASSWORD)

    assert status == 400 and LOCKED in page


def test_the_known_browser_cookie_is_httponly_lax_secure_and_long_lived(
    browsers: Browsers,
) -> None:
    laptop = browsers.at(HOME)
    token = csrf_token(laptop.get("/admin/login").text)
    response = laptop.post(
        "/admin/login",
        data={"username": "alice", "password": ADMIN_PASSWORD, "csrftoken": token},
        follow_redirects=False,
    )

    [cookie] = [h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE + "=")]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite", "max-age", "path"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert f"Max-Age={365 * 86400}" in cookie
    assert "Path=/admin/login" in cookie


def test_failures_for_one_user_do_not_lock_another_behind_the_same_address(
    browsers: Browsers,
) -> None:
    office = browsers.at(HOME)
    for _ in range(5):
        assert post_login(office, "alice", WRONG)[0] == 400

    assert post_login(browsers.at(HOME), "bob", ADMIN_PASSWORD)[0] == 303
    status, page = post_login(browsers.at(HOME), "alice", ADMIN_PASSWORD)
    assert status == 400 and LOCKED in page


def sprayed(app: Starlette, address: str) -> None:
    """Earlier failures from `address` for as many usernames as lock it, all but the last."""

    async def fail() -> None:
        for n in range(ADDRESS_LIMIT - 1):
            await app.state.throttle.failed(f"earlier{n}", address)

    anyio.run(fail)


def test_one_address_trying_many_usernames_is_stopped_at_the_ceiling(
    app: Starlette, browsers: Browsers
) -> None:
    sprayed(app, ATTACKER)
    sprayer = browsers.at(ATTACKER)
    assert post_login(sprayer, "bob", ADMIN_PASSWORD)[0] == 303  # one short of the ceiling

    assert post_login(browsers.at(ATTACKER), "guess", WRONG)[0] == 400

    status, page = post_login(browsers.at(ATTACKER), "bob", ADMIN_PASSWORD)
    assert status == 400 and LOCKED in page
    assert post_login(browsers.at(HOME), "bob", ADMIN_PASSWORD)[0] == 303
    # A browser bob signed in on before is not held up by what others did at its address.
    sprayer.cookies.delete(SESSION_COOKIE)
    assert post_login(sprayer, "bob", ADMIN_PASSWORD)[0] == 303


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored_by_throttle_and_audit(
    sqlite_url: str, app: Starlette, browsers: Browsers
) -> None:
    sprayed(app, ATTACKER)
    spoofer = browsers.at(ATTACKER)

    # Counted against the peer, the ceiling is reached; against the header, it would not be.
    assert post_login(spoofer, "guess", WRONG, {"X-Forwarded-For": "192.0.2.1"})[0] == 400
    status, page = post_login(spoofer, "bob", ADMIN_PASSWORD, {"X-Forwarded-For": "192.0.2.2"})

    assert status == 400 and LOCKED in page
    assert audit_rows(sqlite_url) == [("sign-in-failed", "guess", ATTACKER)]


@pytest.fixture
def proxied_app(sqlite_url: str) -> Starlette:
    add_user(sqlite_url, "bob")
    return create_app(make_config(sqlite_url, forwarded_allow_ips=("10.0.0.0/8",)))


@pytest.fixture
def behind_proxy(proxied_app: Starlette) -> Iterator[Browsers]:
    opened = Browsers(proxied_app)
    yield opened
    opened.close()


def test_x_forwarded_for_from_a_configured_proxy_is_the_address_in_throttle_and_audit(
    sqlite_url: str, proxied_app: Starlette, behind_proxy: Browsers
) -> None:
    sprayed(proxied_app, ATTACKER)
    proxy = behind_proxy.at(PROXY)
    # The proxy appends the peer it saw; whatever the client wrote before that is not believed.
    appended = {"X-Forwarded-For": f"203.0.113.1, {ATTACKER}"}
    assert post_login(proxy, "guess", WRONG, appended)[0] == 400

    through = {"X-Forwarded-For": ATTACKER}
    status, page = post_login(behind_proxy.at(PROXY), "bob", ADMIN_PASSWORD, through)
    assert status == 400 and LOCKED in page
    other = {"X-Forwarded-For": HOME}
    assert post_login(behind_proxy.at(PROXY), "bob", ADMIN_PASSWORD, other)[0] == 303
    assert audit_rows(sqlite_url) == [
        ("sign-in-failed", "guess", ATTACKER),
        ("sign-in", "bob", HOME),
    ]


def test_a_direct_client_of_an_app_behind_a_proxy_is_seen_as_itself(
    sqlite_url: str, behind_proxy: Browsers
) -> None:
    direct = behind_proxy.at(ELSEWHERE)
    assert post_login(direct, "bob", WRONG, {"X-Forwarded-For": "192.0.2.1"})[0] == 400
    assert audit_rows(sqlite_url) == [("sign-in-failed", "bob", ELSEWHERE)]


def test_an_address_a_proxy_reports_is_stored_in_one_spelling_and_bounded(
    sqlite_url: str,
) -> None:
    add_user(sqlite_url, "bob")
    app = create_app(make_config(sqlite_url, forwarded_allow_ips=("*",)))
    with TestClient(app, base_url="https://testserver", client=(PROXY, 50000)) as proxy:
        for forwarded in ["::ffff:203.0.113.9", "2001:DB8:0::1", "x" * 300]:
            post_login(proxy, "bob", WRONG, {"X-Forwarded-For": forwarded})

    assert [address for _, _, address in audit_rows(sqlite_url)] == [
        "203.0.113.9",
        "2001:db8::1",
        "x" * 64,
    ]


def test_serve_ignores_x_forwarded_for_unless_told_which_proxies_to_trust(
    tmp_path: Path,
) -> None:
    url = migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}")
    add_user(url, "bob")
    port = free_port()
    env = app_environment({"DATABASE_URL": url})
    # `serve` itself, as deployed: the harness's uvicorn processes are started another way.
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5, trust_env=False) as web:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if web.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "serve did not answer within 60 s"
                time.sleep(0.2)
            token = csrf_token(web.get("/admin/login").text)
            refused = web.post(
                "/admin/login",
                data={"username": "bob", "password": WRONG, "csrftoken": token},
                headers={"X-Forwarded-For": "192.0.2.1"},
            )
        assert refused.status_code == 400
    finally:
        server.terminate()
        server.wait(timeout=30)
    with sqlite3.connect(tmp_path / "serve.db") as db:
        rows = db.execute("SELECT action, client_address FROM audit_entry").fetchall()
    assert rows == [("sign-in-failed", "127.0.0.1")]
