"""Saved views in a real Chromium: an operator filters the orders and hides a column, saves that
as a view shared with their group and made their default; the bare list then opens it, "All rows"
goes without it, a member of the group sees it, someone outside does not, and deleting it asks
first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Dialog, Page, expect

from app.main import create_app
from tests.admin.test_list_lookups import fill
from tests.admin.test_product_browser import sign_in
from tests.conftest import add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser

LOOKS = ["order:view"]


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, dict[str, str]]:
    url = migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}")
    keys = fill(url)
    add_user(url, "alice", superuser=False, permissions=LOOKS, groups={"sales": []})
    add_user(url, "bob", superuser=False, permissions=LOOKS, groups={"sales": []})
    add_user(url, "carol", superuser=False, permissions=LOOKS, groups={"ops": []})
    server = serve_in_thread(create_app(make_config(url, secret_key="browser-test-secret")))
    return server.base_url, keys


def query_of(page: Page) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(page.url).query))


def listed(page: Page) -> set[str]:
    rows = page.locator("tr[data-sa-pk]")
    return {str(rows.nth(i).get_attribute("data-sa-pk")) for i in range(rows.count())}


def test_a_view_saved_from_the_ui_opens_as_the_default_and_is_shared_with_the_group_only(
    open_page: Callable[..., Page],
    served: tuple[str, dict[str, str]],
) -> None:
    base_url, keys = served
    paid_or_shipped = {keys["jan"], keys["jan-end"]}
    page = open_page()
    sign_in(page, base_url, "alice")
    page.goto(f"{base_url}/admin/order/list")
    expect(page.locator("tr[data-sa-pk]")).to_have_count(4)
    # Only our filter panel: the library's "Filters" dropdown is not on the page.
    expect(page.locator("#filter-builder-dropdown")).to_have_count(0)

    page.get_by_text("Filter by field", exact=True).click()
    page.select_option("select[name=status__in]", label=["Paid", "Shipped"])
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("[data-sb-chip]")).to_have_count(1)
    page.locator("#column-visibility-dropdown [data-bs-toggle=dropdown]").click()
    page.locator("[data-sa-hook=column-visibility-toggle][value=total]").uncheck()
    page.locator("[data-sb-apply-columns]").click()
    expect(page.locator("th[data-column=total]")).to_have_count(0)
    filtered = query_of(page)
    assert filtered["status__in"] == "paid,shipped"
    assert "total" not in filtered["cols"].split(",")

    page.get_by_text("Save or manage views", exact=True).click()
    page.fill("input#sb-view-name", "Paid or shipped")
    page.select_option("select#sb-view-group", label="sales (shared)")
    page.check("input#sb-view-default")
    page.get_by_role("button", name="Save view").click()
    tab = page.locator('[data-sb-view="Paid or shipped"]')
    expect(tab).to_have_class("nav-link py-1 active")
    expect(tab.locator("[data-sb-view-default]")).to_have_count(1)
    assert query_of(page) == filtered

    # The bare list URL (the menu's link) opens the default view.
    page.goto(f"{base_url}/admin/order/list")
    assert query_of(page) == filtered
    assert listed(page) == paid_or_shipped
    expect(page.locator("th[data-column=total]")).to_have_count(0)
    page.locator("[data-sb-view-all]").click()
    expect(page.locator("tr[data-sa-pk]")).to_have_count(4)
    assert query_of(page) == {"_default": "off"}
    expect(page.locator("th[data-column=total]")).to_have_count(1)

    # A member of the group sees the view and opens it; it is not their default.
    bob = open_page()
    sign_in(bob, base_url, "bob")
    bob.goto(f"{base_url}/admin/order/list")
    expect(bob.locator("tr[data-sa-pk]")).to_have_count(4)
    bob.locator('[data-sb-view="Paid or shipped"]').click()
    expect(bob.locator("tr[data-sa-pk]")).to_have_count(2)
    assert listed(bob) == paid_or_shipped
    bob.get_by_text("Save or manage views", exact=True).click()
    expect(bob.locator('[data-sb-view-row="Paid or shipped"]')).to_contain_text("by alice")
    expect(bob.get_by_role("button", name="Delete")).to_have_count(0)

    # Someone outside the group does not.
    carol = open_page()
    sign_in(carol, base_url, "carol")
    carol.goto(f"{base_url}/admin/order/list")
    expect(carol.locator("tr[data-sa-pk]")).to_have_count(4)
    expect(carol.locator("[data-sb-view]")).to_have_count(0)

    # Deleting asks first: dismissed, the view stays; accepted, it is gone for everyone.
    asked: list[str] = []

    def answer(accept: bool) -> None:
        def on_dialog(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.once("dialog", on_dialog)

    page.get_by_text("Save or manage views", exact=True).click()
    row = page.locator('[data-sb-view-row="Paid or shipped"]')
    answer(accept=False)
    row.get_by_role("button", name="Delete").click()
    expect(page.locator('[data-sb-view="Paid or shipped"]')).to_have_count(1)
    answer(accept=True)
    row.get_by_role("button", name="Delete").click()
    expect(page.locator('[data-sb-view="Paid or shipped"]')).to_have_count(0)
    assert asked == ["Delete the view “Paid or shipped” for everyone in sales?"] * 2
    bob.reload()
    expect(bob.locator("[data-sb-view]")).to_have_count(0)
