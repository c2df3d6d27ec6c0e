"""Two-factor authentication in a real Chromium: turned on from the account page with a code
computed from the key the page shows, then a sign-in with password and code (docs/reference.md,
"Two-factor authentication")."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import two_factor
from app.auth.current import Actor
from app.main import create_app
from app.models import User
from tests.conftest import ADMIN_PASSWORD, add_user, in_session, make_config, migrated_url
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


def enrolled(db: Path, username: str) -> tuple[pyotp.TOTP, list[str]]:
    """`username` enrolled behind the app's back, on the real clock; the key and the codes."""
    secret = two_factor.new_secret()
    totp = pyotp.TOTP(secret)

    async def work(session: AsyncSession) -> list[str]:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        now = dt.datetime.now(dt.UTC)
        actor = Actor(None, "test", None)
        return await two_factor.enrol(session, user.id, username, secret, totp.at(now), now, actor)

    return totp, in_session(f"sqlite+aiosqlite:///{db}", work)


@pytest.fixture
def served_enrolled(served: tuple[str, Path]) -> tuple[str, Path, pyotp.TOTP, list[str]]:
    base_url, db = served
    return (base_url, db, *enrolled(db, USERNAME))


def password_step(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/login/two-factor")


def type_code(page: Page, code: str) -> None:
    page.fill("input[name=code]", code)
    with page.expect_navigation():
        page.click("button:has-text('Sign in')")


def signed_out_again(page: Page, base_url: str) -> None:
    """The admin's pages send this browser to the sign-in page; its cookies are then dropped."""
    page.goto(f"{base_url}/admin/account/activity")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.context.clear_cookies()


def test_a_recovery_code_signs_in_once_and_wrong_or_reused_codes_are_refused_next_to_the_field(
    new_page: Page, served_enrolled: tuple[str, Path, pyotp.TOTP, list[str]]
) -> None:
    base_url, db, totp, codes = served_enrolled
    page = new_page
    error = page.locator("#two-factor-code-error")
    field = page.locator("input[name=code]")

    # A recovery code, typed as read off paper in capitals: accepted, and used up.
    password_step(page, base_url)
    type_code(page, f" {codes[0].upper()} ")
    expect(page).to_have_url(f"{base_url}/admin/")
    expect(page.get_by_role("link", name="Open user menu")).to_contain_text(USERNAME)
    page.context.clear_cookies()

    # The same recovery code from another sign-in: refused, the message tied to the field.
    password_step(page, base_url)
    type_code(page, codes[0])
    expect(page).to_have_url(f"{base_url}/admin/login/two-factor")
    expect(error).to_have_text(re.compile(r"^Code: not accepted\."))
    expect(field).to_have_attribute("aria-describedby", "two-factor-code-error")
    expect(field).to_have_attribute("aria-invalid", "true")

    # A wrong app code, on the same page.
    now = dt.datetime.now(dt.UTC)
    near = {totp.at(now, counter_offset=offset) for offset in (-1, 0, 1, 2)}
    type_code(page, next(c for c in ("000000", "111111", "222222", "333333") if c not in near))
    expect(error).to_have_text(re.compile(r"^Code: not accepted\."))
    signed_out_again(page, base_url)

    # The next step's code signs in once (enrolment used this step's); again, it is refused.
    next_step = totp.at(now + dt.timedelta(seconds=30))
    password_step(page, base_url)
    type_code(page, next_step)
    expect(page).to_have_url(f"{base_url}/admin/")
    page.context.clear_cookies()
    password_step(page, base_url)
    type_code(page, next_step)
    expect(error).to_have_text(re.compile(r"^Code: not accepted\."))
    signed_out_again(page, base_url)

    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT action FROM audit_entry WHERE username = ? ORDER BY id", (USERNAME,)
        )
        actions = [action for (action,) in rows]
        left = connection.execute("SELECT count(*) FROM recovery_code").fetchone()[0]
    assert actions == [
        "recovery-code-used",
        "sign-in",
        "two-factor-refused",
        "two-factor-refused",
        "sign-in",
        "two-factor-refused",
    ]
    assert left == 9
