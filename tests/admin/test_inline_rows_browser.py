"""An operator changes an order's items on the order's form in a real Chromium."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.main import create_app
from tests.admin.test_inline_rows import Shop, make_shop
from tests.admin.test_product_browser import sign_in
from tests.conftest import add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, Path, Shop]:
    path = tmp_path / "browser.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "admin")
    shop = make_shop(url)
    server = serve_in_thread(create_app(make_config(url, secret_key="browser-test-secret")))
    return server.base_url, path, shop


def test_rows_are_added_changed_and_removed_on_the_order_form_and_saved_together(
    served: tuple[str, Path, Shop], new_page: Page
) -> None:
    base_url, db, shop = served
    page = new_page
    sign_in(page, base_url)
    page.goto(f"{base_url}/admin/order/edit?pk={shop.order}")

    rows = page.locator("tbody.inline-rows tr.inline-row")
    expect(rows).to_have_count(2)
    rows.nth(0).get_by_label("Quantity").fill("3")
    # Removing is a box ticked from the keyboard; the row stays, dimmed, until the save.
    remove = rows.nth(1).get_by_role("checkbox", name="Remove")
    remove.focus()
    page.keyboard.press("Space")
    expect(remove).to_be_checked()

    page.get_by_role("button", name="Add order item").click()
    expect(rows).to_have_count(3)
    added = rows.nth(2)
    added.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill("Chisel")
    page.locator(".select2-results__option", has_text="Chisel").click()
    added.get_by_label("Quantity").fill("2")
    added.get_by_label("Unit price").fill("4.50")

    # A row added by mistake and removed again, its required fields empty, stops nothing.
    page.get_by_role("button", name="Add order item").click()
    expect(rows).to_have_count(4)
    rows.nth(3).get_by_role("checkbox", name="Remove").check()

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text('"Order #1" was changed successfully')).to_be_visible()
    with sqlite3.connect(db) as connection:
        items = connection.execute(
            "SELECT product_id, quantity, CAST(unit_price AS TEXT) FROM order_item"
            " WHERE order_id = ? ORDER BY product_id",
            (shop.order,),
        ).fetchall()
        entries = connection.execute(
            "SELECT action, model, object_pk, changes FROM audit_entry WHERE model IS NOT NULL"
        ).fetchall()
    assert [(p, q, float(price)) for p, q, price in items] == [
        (shop.products[0], 3, 9.99),
        (shop.products[2], 2, 4.5),
    ]
    ((action, model, pk, changes),) = entries
    assert (action, model, pk) == ("edit", "order", str(shop.order))
    assert sorted(name.rsplit(" ", 1)[1] for name in json.loads(changes)) == [
        "added",
        "changed",
        "removed",
    ]
