"""A user looks after their own account from the user menu, with the keyboard, in a real
Chromium (docs/reference.md, "Your account")."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.main import create_app
from tests.admin.test_product_browser import sign_in
from tests.conftest import add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a-brand-new-passphrase"


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, Path]:
    path = tmp_path / "browser.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "alice", superuser=False)
    add_user(url, "bob", superuser=False)
    server = serve_in_thread(create_app(make_config(url, secret_key="browser-test-secret")))
    return server.base_url, path


def theme_of(path: Path, username: str) -> str:
    with sqlite3.connect(path) as db:
        (theme,) = db.execute(
            "SELECT theme FROM user_account WHERE username = ?", (username,)
        ).fetchone()
    return str(theme)


def open_from_user_menu(page: Page, item: str) -> None:
    """Opens the user menu and picks an item with the keyboard alone."""
    trigger = page.locator("header [aria-label^='Open user menu']")
    trigger.focus()
    page.keyboard.press("Enter")
    menu = page.locator("header .dropdown-menu.show")
    expect(menu).to_be_visible()
    items = menu.locator(".dropdown-item")
    names = [text.strip() for text in items.all_inner_texts()]
    for _ in range(names.index(item) + 1):
        page.keyboard.press("ArrowDown")
    expect(items.nth(names.index(item))).to_be_focused()
    page.keyboard.press("Enter")


def test_a_user_changes_their_password_and_switches_to_dark_from_the_user_menu(
    new_page: Page, served: tuple[str, Path]
) -> None:
    base_url, db = served
    page = new_page
    sign_in(page, base_url, "alice")
    html = page.locator("html")
    expect(html).to_have_attribute("data-sb-theme", "auto")

    open_from_user_menu(page, "Change password")
    expect(page).to_have_url(f"{base_url}/admin/account/password")
    expect(page.get_by_label("Current password")).to_be_focused()
    page.keyboard.type("correct-horse-battery")
    page.keyboard.press("Tab")
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your password was changed.")).to_be_visible()

    open_from_user_menu(page, "Preferences")
    expect(page).to_have_url(f"{base_url}/admin/account/preferences")
    page.get_by_label("Dark", exact=True).check()
    page.get_by_role("button", name="Save preferences").press("Enter")
    expect(page.get_by_text("Preferences saved.")).to_be_visible()
    page.reload()
    expect(html).to_have_attribute("data-bs-theme", "dark")
    assert theme_of(db, "alice") == "dark"

    open_from_user_menu(page, "My activity")
    entries = page.locator("tr[data-sb-activity-entry]")
    expect(entries).to_have_count(3)
    expect(entries.first).to_contain_text("preferences-edit")
    expect(entries.nth(1)).to_contain_text("password-change")

    # Signed out, the new password is the one that signs in.
    page.locator("header [aria-label^='Open user menu']").click()
    page.locator("header").get_by_role("button", name="Logout").click()
    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/")
    expect(html).to_have_attribute("data-bs-theme", "dark")


def test_the_theme_auto_follows_a_device_set_to_dark(
    open_page: Callable[..., Page], served: tuple[str, Path]
) -> None:
    base_url, db = served
    page = open_page(color_scheme="dark")
    sign_in(page, base_url, "bob")

    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    assert theme_of(db, "bob") == "auto"
    page.emulate_media(color_scheme="light")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")
