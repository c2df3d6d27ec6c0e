"""Live settings in Chromium against a real uvicorn: saving from the page, errors inline, and
other tabs following along without a reload (the banner, untouched fields, typed-in fields)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from app.main import create_app
from tests.conftest import add_user, make_config, migrated_url
from tests.notifications.test_browser import signed_in, visit
from tests.services import ServeInThread

pytestmark = pytest.mark.browser

SETTINGS = "/admin/settings"


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, Path]:
    # Set up in a fixture: browser test bodies run without asyncio (see tests/services.py).
    # One process: its store tells its own sockets, no Redis needed.
    path = tmp_path / "settings.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "alice")  # a superuser
    add_user(url, "bob", superuser=False, permissions=["tag:view", "tag:create"])
    add_user(url, "carol", superuser=False, permissions=["settings:view", "settings:edit"])
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO tag (id, name) VALUES (1, 'fragile')")
    server = serve_in_thread(create_app(make_config(url, secret_key="settings-test-secret")))
    return server.base_url, path


def stored(path: Path) -> dict[str, object]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, value FROM live_setting").fetchall()
    return {key: json.loads(value)["value"] for key, value in rows}


def field(page: Page, key: str) -> Locator:
    return page.locator(f'[data-sb-setting="{key}"]')


def test_maintenance_switched_on_in_one_tab_shows_its_banner_in_another_without_reload(
    open_page: Callable[..., Page], served: tuple[str, Path]
) -> None:
    base_url, path = served
    carol = visit(signed_in(open_page, base_url, "carol"), f"{base_url}{SETTINGS}")
    bob = visit(signed_in(open_page, base_url, "bob"), f"{base_url}/admin/tag/list")
    banner = bob.locator("#sb-maintenance")
    expect(banner).to_have_attribute("data-sb-maintenance", "off")
    bob.evaluate("window.sameDocument = true")  # gone if the page reloads

    switch = field(carol, "MAINTENANCE_MODE")
    switch.locator("input[type=checkbox]").check()
    switch.get_by_role("button", name="Save").click()
    expect(field(carol, "MAINTENANCE_MODE").locator("[data-sb-saved]")).to_have_text("Saved")
    assert stored(path) == {"MAINTENANCE_MODE": True}

    expect(banner).to_have_attribute("data-sb-maintenance", "on")
    expect(banner).to_contain_text("Maintenance mode is on.")
    expect(banner.get_by_role("link", name="Status page")).to_have_attribute(
        "href", "https://status.example.com"
    )
    assert bob.evaluate("window.sameDocument") is True
    # On top of the page's content, not at the foot where the template renders it.
    assert bob.evaluate("document.getElementById('sb-maintenance').parentElement.className") == (
        "page-wrapper"
    )
    expect(carol.locator("#sb-maintenance")).to_have_attribute("data-sb-maintenance", "on")

    # Off again from the page: gone from the other tab too.
    switch = field(carol, "MAINTENANCE_MODE")
    switch.locator("input[type=checkbox]").uncheck()
    switch.get_by_role("button", name="Save").click()
    expect(banner).to_have_attribute("data-sb-maintenance", "off")
    expect(banner).not_to_contain_text("Maintenance mode is on.")


def test_a_bad_value_typed_in_the_page_shows_its_error_inline_and_saves_nothing(
    new_page: Page, served: tuple[str, Path]
) -> None:
    base_url, path = served
    page = visit(signed_in(lambda: new_page, base_url, "carol"), f"{base_url}{SETTINGS}")
    prefix = field(page, "ORDER_PREFIX")
    prefix.locator("input[name=value]").fill("sb-1")
    prefix.get_by_role("button", name="Save").click()

    error = field(page, "ORDER_PREFIX").locator("[data-sb-error]")
    expect(error).to_have_text(
        "expected one line of text, matching [A-Z]{2,5} (type str), got 'sb-1'"
    )
    expect(field(page, "ORDER_PREFIX").locator("input[name=value]")).to_have_value("sb-1")
    assert stored(path) == {}

    # Corrected in place, it saves.
    field(page, "ORDER_PREFIX").locator("input[name=value]").fill("SBX")
    field(page, "ORDER_PREFIX").get_by_role("button", name="Save").click()
    expect(field(page, "ORDER_PREFIX").locator("[data-sb-saved]")).to_have_text("Saved")
    expect(field(page, "ORDER_PREFIX").locator("[data-sb-error]")).to_have_count(0)
    assert stored(path) == {"ORDER_PREFIX": "SBX"}


def test_another_tabs_change_refreshes_untouched_fields_and_spares_typed_ones(
    open_page: Callable[..., Page], served: tuple[str, Path]
) -> None:
    base_url, _ = served
    alice = visit(signed_in(open_page, base_url, "alice"), f"{base_url}{SETTINGS}")
    carol = visit(signed_in(open_page, base_url, "carol"), f"{base_url}{SETTINGS}")
    # alice's unsaved edits
    field(alice, "LOW_STOCK_THRESHOLD").locator("input[name=value]").fill("15")
    field(alice, "SUPPORT_EMAIL").locator("input[name=value]").fill("help@")

    changes = (
        ("LOW_STOCK_THRESHOLD", "20"),
        ("VAT_RATE", "0.25"),
        ("SUPPORT_EMAIL", "ops@example.com"),
    )
    for key, value in changes:
        field(carol, key).locator("input[name=value]").fill(value)
        field(carol, key).get_by_role("button", name="Save").click()
        expect(field(carol, key).locator("[data-sb-saved]")).to_have_text("Saved")

    # Untouched: refreshed in place.
    expect(field(alice, "VAT_RATE").locator("input[name=value]")).to_have_value("0.25")
    expect(field(alice, "VAT_RATE").locator("[data-sb-modified]")).to_be_visible()
    # Typed in: kept, with a way to take the new value.
    for key, typed in (("LOW_STOCK_THRESHOLD", "15"), ("SUPPORT_EMAIL", "help@")):
        stale = field(alice, key).locator("[data-sb-stale]")
        expect(stale).to_be_visible()
        expect(stale).to_contain_text("Changed by someone else")
        expect(field(alice, key).locator("input[name=value]")).to_have_value(typed)
    field(alice, "SUPPORT_EMAIL").get_by_role("button", name="reload value").click()
    expect(field(alice, "SUPPORT_EMAIL").locator("input[name=value]")).to_have_value(
        "ops@example.com"
    )
    expect(field(alice, "SUPPORT_EMAIL").locator("[data-sb-stale]")).to_be_hidden()

    # Saving over it anyway is a conflict that names who changed it and keeps what was typed.
    threshold = field(alice, "LOW_STOCK_THRESHOLD")
    threshold.get_by_role("button", name="Save").click()
    expect(threshold.locator("[data-sb-conflict]")).to_contain_text(
        "carol changed it since you loaded it; it is now 20."
    )
    expect(threshold.locator("input[name=value]")).to_have_value("15")
    # A deliberate retry wins, and carol's tab follows.
    threshold.get_by_role("button", name="Save").click()
    expect(threshold.locator("[data-sb-saved]")).to_have_text("Saved")
    expect(field(carol, "LOW_STOCK_THRESHOLD").locator("input[name=value]")).to_have_value("15")
