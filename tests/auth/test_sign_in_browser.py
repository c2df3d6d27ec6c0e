"""Signing in and out of the admin in a real Chromium against a real uvicorn process."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import Cookie, Locator, Page, expect

from app.auth.sessions import COOKIE
from app.main import create_app
from tests.conftest import ADMIN_PASSWORD, add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser

USERNAME = "admin"
THIRTY_DAYS_S = 30 * 86400
TRY_AGAIN = re.compile(r"Too many failed sign-ins\. Try again in \d+ (second|minute)s?\.")


class Served:
    """The app served in a thread, on a migrated SQLite file with one superuser."""

    def __init__(self, base_url: str, db: Path) -> None:
        self.base_url = base_url
        self.db = db

    @property
    def index(self) -> str:
        return f"{self.base_url}/admin/"

    @property
    def login(self) -> str:
        return f"{self.base_url}/admin/login"

    def audit_actions(self, username: str = USERNAME) -> list[str]:
        with sqlite3.connect(self.db) as db:
            rows = db.execute(
                "SELECT action FROM audit_entry WHERE username = ? ORDER BY id", (username,)
            )
            return [action for (action,) in rows]


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> Served:
    path = tmp_path / "sign-in.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, USERNAME)
    server = serve_in_thread(create_app(make_config(url, secret_key="sign-in-browser-secret")))
    return Served(server.base_url, path)


def submit_login(page: Page, password: str = ADMIN_PASSWORD, *, remember_me: bool = False) -> None:
    """Fill and send the login form on the page showing it; returns once the answer loaded."""
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", password)
    if remember_me:
        page.check("input[name=remember_me]")
    # A failure answers with the same URL: without this, the next fill could hit the old page.
    with page.expect_navigation():
        page.click("button[type=submit]")


def session_cookie(page: Page) -> Cookie | None:
    return next((c for c in page.context.cookies() if c["name"] == COOKIE), None)


def error_alert(page: Page) -> Locator:
    return page.locator("[role=alert] .alert-description")


def test_a_wrong_password_shows_the_error_and_stays_signed_out(
    new_page: Page, served: Served
) -> None:
    page = new_page
    page.goto(served.login)
    submit_login(page, "not-the-password")

    expect(error_alert(page)).to_have_text("Invalid username or password")
    assert urlsplit(page.url).path == "/admin/login"
    assert session_cookie(page) is None
    page.goto(served.index)
    expect(page).to_have_url(re.compile(rf"^{re.escape(served.login)}\?next="))
    assert served.audit_actions() == ["sign-in-failed"]


def test_signing_in_lands_on_the_admin_index(new_page: Page, served: Served) -> None:
    page = new_page
    page.goto(served.login)
    submit_login(page)

    expect(page).to_have_url(served.index)
    expect(page.get_by_role("link", name="Open user menu")).to_contain_text(USERNAME)
    assert served.audit_actions() == ["sign-in"]


def test_next_brings_you_back_to_the_page_you_asked_for(new_page: Page, served: Served) -> None:
    page = new_page
    products = f"{served.base_url}/admin/product/list"
    page.goto(products)
    expect(page).to_have_url(re.compile(rf"^{re.escape(served.login)}\?next="))

    submit_login(page)
    expect(page).to_have_url(products)


def test_without_remember_me_the_cookie_ends_with_the_browser(
    new_page: Page, served: Served
) -> None:
    page = new_page
    page.goto(served.login)
    submit_login(page)
    expect(page).to_have_url(served.index)

    cookie = session_cookie(page)
    assert cookie is not None
    assert cookie["expires"] == -1  # no Max-Age or Expires: a browser-session cookie
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is True  # DEBUG is off


def test_with_remember_me_the_cookie_lasts_30_days(new_page: Page, served: Served) -> None:
    page = new_page
    page.goto(served.login)
    submit_login(page, remember_me=True)
    expect(page).to_have_url(served.index)

    cookie = session_cookie(page)
    assert cookie is not None
    assert cookie["expires"] == pytest.approx(time.time() + THIRTY_DAYS_S, abs=120)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"


def test_logging_out_from_the_user_menu_signs_you_out(new_page: Page, served: Served) -> None:
    page = new_page
    page.goto(served.login)
    submit_login(page)
    expect(page).to_have_url(served.index)

    page.get_by_role("link", name="Open user menu").click()
    page.get_by_role("button", name="Logout").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(served.login)}"))
    expect(page.locator("input[name=password]")).to_be_visible()
    assert session_cookie(page) is None

    page.goto(f"{served.base_url}/admin/product/list")
    expect(page).to_have_url(re.compile(rf"^{re.escape(served.login)}\?next="))
    assert served.audit_actions() == ["sign-in", "sign-out"]


def test_five_failures_lock_out_even_the_right_password(new_page: Page, served: Served) -> None:
    page = new_page
    page.goto(served.login)
    for _ in range(5):
        submit_login(page, "not-the-password")
        expect(error_alert(page)).to_have_text("Invalid username or password")

    submit_login(page)
    expect(error_alert(page)).to_have_text(TRY_AGAIN)
    assert urlsplit(page.url).path == "/admin/login"
    assert session_cookie(page) is None
    assert served.audit_actions() == ["sign-in-failed"] * 5


# Each would send the browser to evil.example if taken as given.
OFF_SITE = ["//evil.example", "https://evil.example/x", "/\\evil.example"]
# Browsers read a backslash as a slash and drop tabs from URLs: these must stay on the site too.
TRICKY = ["\\\\evil.example", "/\t/evil.example", "https:evil.example", "javascript:alert(1)"]


def test_next_never_leaves_the_site(new_page: Page, served: Served) -> None:
    page = new_page
    for target in OFF_SITE + TRICKY:
        page.context.clear_cookies()  # signed out again; the cached static files stay
        page.goto(f"{served.login}?{urlencode({'next': target})}")
        submit_login(page)
        expect(page).not_to_have_url(re.compile(r"/admin/login"))

        landed = urlsplit(page.url)
        assert f"{landed.scheme}://{landed.netloc}" == served.base_url, target
        if target in OFF_SITE:
            assert page.url == served.index, target
