"""Two-factor authentication in a real Chromium: turned on from the account page with a code
computed from the key the page shows, then a sign-in with password and code (docs/reference.md,
"Two-factor authentication")."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from app.main import create_app
from tests.conftest import ADMIN_PASSWORD, add_user, make_config, migrated_url
from tests.services import ServeInThread
from tests.test_page_walk import AxeWalk
from tests.test_security_headers import PolicyWatch

pytestmark = pytest.mark.browser

USERNAME = "alice"


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, Path]:
    """The app's address, served in a thread on a migrated SQLite file, and that file."""
    db = tmp_path / "two-factor.db"
    url = migrated_url(f"sqlite+aiosqlite:///{db}")
    add_user(url, USERNAME, superuser=False)
    server = serve_in_thread(create_app(make_config(url, secret_key="two-factor-browser")))
    return server.base_url, db


def test_a_user_turns_on_two_factor_then_signs_in_with_password_and_code(
    new_page: Page, served: tuple[str, Path]
) -> None:
    base_url, db = served
    page = new_page
    # Both new pages draw a QR code inline: under the content policy, and readable (axe-core).
    watch, walk = PolicyWatch(page), AxeWalk(page)

    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")

    page.goto(f"{base_url}/admin/account/two-factor")
    expect(page.locator("[data-sb-qr-code] svg")).to_be_visible()
    walk.check()
    secret = page.locator("[data-sb-secret]").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    page.fill("input[name=code]", totp.now())
    with page.expect_navigation():
        page.click("button:has-text('Turn on')")
    codes = page.locator("[data-sb-recovery-codes] li")
    expect(codes).to_have_count(10)
    page.click("[data-sb-continue]")
    expect(page.locator("[data-sb-two-factor-state=on]")).to_be_visible()

    page.locator("header [aria-label^='Open user menu']").click()
    with page.expect_navigation():
        page.locator("header").get_by_role("button", name="Logout").click()

    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/login/two-factor")
    walk.check()
    # The code of the next 30-second step: the one that turned the factor on may be this step's,
    # and a step signs in once; a step ahead is still accepted (phones' clocks drift).
    next_step = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    page.fill("input[name=code]", totp.at(next_step))
    with page.expect_navigation():
        page.click("button:has-text('Sign in')")
    expect(page).to_have_url(f"{base_url}/admin/")
    assert watch.problems == []
    assert walk.found == []
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT action FROM audit_entry WHERE username = ? ORDER BY id", (USERNAME,)
        )
        actions = [action for (action,) in rows]
    assert actions == ["sign-in", "two-factor-enrolled", "sign-out", "sign-in"]
