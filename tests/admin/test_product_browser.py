"""An operator manages a product in a real Chromium against a real uvicorn process."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from app.main import create_app
from tests.conftest import ADMIN_PASSWORD, add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, Path]:
    path = tmp_path / "browser.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "admin")
    server = serve_in_thread(create_app(make_config(url, secret_key="browser-test-secret")))
    return server.base_url, path


def products(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        return [tuple(map(str, row)) for row in db.execute("SELECT sku, name, price FROM product")]


def sign_in(page: Page, base_url: str, username: str = "admin") -> None:
    """Through the login form, as `username` (the test password), landing on the dashboard."""
    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/")


def cancel(dialog: Locator) -> None:
    """Cancel the action modal. Bootstrap ignores a hide asked while the modal is still fading
    in, as a person clicking that early would find: ask again until it has closed."""
    for _ in range(10):
        dialog.get_by_role("button", name="Cancel").click()
        try:
            expect(dialog).to_be_hidden(timeout=1000)
            return
        except AssertionError:
            continue
    expect(dialog).to_be_hidden()


def test_create_find_edit_and_delete_a_product(new_page: Page, served: tuple[str, Path]) -> None:
    base_url, db = served
    page = new_page
    sign_in(page, base_url)

    page.goto(f"{base_url}/admin/product/create")
    page.fill("#sku", "SKU-SCOPE")
    page.fill("#name", "Brass Telescope")
    page.select_option("#category", label="Books")
    page.fill("#price", "129.90")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text('"Brass Telescope (SKU-SCOPE)" was added successfully')).to_be_visible()
    assert products(db) == [("SKU-SCOPE", "Brass Telescope", "129.9")]

    search = page.locator("input[type=search][name=q]")
    search.fill("telescope")
    search.press("Enter")
    rows = page.locator("tr[data-sa-pk]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Brass Telescope")

    rows.first.locator("[data-sa-name=edit]").click()
    page.fill("#price", "99.50")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(
        page.get_by_text('"Brass Telescope (SKU-SCOPE)" was changed successfully')
    ).to_be_visible()
    assert products(db) == [("SKU-SCOPE", "Brass Telescope", "99.5")]

    page.goto(f"{base_url}/admin/product/list?q=telescope")
    page.locator("tr[data-sa-pk] [data-sa-name=delete]").first.click()
    dialog = page.locator("#modal-action")
    expect(dialog).to_contain_text("Are you sure you want to delete this item?")
    cancel(dialog)
    assert len(products(db)) == 1  # cancelling deletes nothing

    page.locator("tr[data-sa-pk] [data-sa-name=delete]").first.click()
    dialog.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("tr[data-sa-pk]")).to_have_count(0)
    assert products(db) == []


def test_text_in_the_price_shows_the_fields_error_and_stores_nothing(
    new_page: Page, served: tuple[str, Path]
) -> None:
    base_url, db = served
    page = new_page
    sign_in(page, base_url)
    page.goto(f"{base_url}/admin/product/create")
    page.fill("#sku", "SKU-BAD")
    page.fill("#name", "Mystery Box")
    # A number input refuses letters as you type; a script or paste from another tool does not.
    page.eval_on_selector("#price", "el => { el.type = 'text'; el.value = 'twelve'; }")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#price-error")).to_contain_text("'twelve' is not a number, such as 12.50")
    expect(page.locator("#price")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#name")).to_have_value("Mystery Box")  # nothing typed is lost
    assert products(db) == []
