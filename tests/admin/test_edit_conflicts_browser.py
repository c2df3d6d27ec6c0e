"""Two operators edit one order in Chromium: each sees the other editing it, and the second
save is refused with the first's change shown, then applied once saved again."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.main import create_app
from tests.admin.test_model_views import fill_shop
from tests.admin.test_product_browser import sign_in
from tests.conftest import add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser


def order_total(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("SELECT total FROM orders WHERE id = 1").fetchone()[0])


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, Path]:
    """The app on a shop with alice and `bob<b>`, both superusers; before the browser starts."""
    path = tmp_path / "browser.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    fill_shop(url)
    add_user(url, "alice")
    add_user(url, "bob<b>")  # a name is shown as text, never markup
    server = serve_in_thread(create_app(make_config(url, secret_key="browser-test-secret")))
    return server.base_url, path


def test_two_people_editing_one_order_see_each_other_and_the_second_save_is_refused(
    served: tuple[str, Path], open_page: Callable[..., Page]
) -> None:
    base_url, path = served
    edit = f"{base_url}/admin/order/edit?pk=1"
    alice, bob = open_page(), open_page()
    sign_in(alice, base_url, "alice")
    sign_in(bob, base_url, "bob<b>")

    alice.goto(edit)
    bob.goto(edit)
    expect(alice.locator("#sb-editing")).to_have_text("bob<b> is editing this order.")
    expect(bob.locator("#sb-editing")).to_have_text("alice is editing this order.")

    alice.fill("#total", "111.00")
    alice.get_by_role("button", name="Save", exact=True).click()
    expect(alice.get_by_text("was changed successfully")).to_be_visible(timeout=10_000)
    expect(bob.locator("#sb-editing")).to_be_hidden()  # alice left the form
    assert order_total(path) == "111"

    bob.fill("#total", "222.00")
    bob.get_by_role("button", name="Save", exact=True).click()
    conflict = bob.locator("[data-sb-edit-conflict]")
    expect(conflict).to_contain_text("alice changed this order since you opened this form.")
    expect(conflict.locator('[data-sb-changed-field="total"] [data-sb-now]')).to_have_text("111.00")
    expect(bob.locator("#total")).to_have_value("222.00")  # what bob typed is kept
    assert order_total(path) == "111"

    # The refused form's item shows its product once the picker has fetched it (the library's
    # form.js asks for it after the page loads), as a person sees it before saving again.
    expect(bob.locator('select[name="inlines.items.0.product"]')).not_to_have_value("")
    bob.get_by_role("button", name="Save", exact=True).click()  # re-apply, having looked
    expect(bob.get_by_text("was changed successfully")).to_be_visible(timeout=10_000)
    assert order_total(path) == "222"


def test_a_row_changed_since_the_list_was_shown_is_not_deleted_and_the_alert_says_why(
    served: tuple[str, Path], open_page: Callable[..., Page]
) -> None:
    base_url, path = served
    page = open_page()
    sign_in(page, base_url, "alice")
    page.goto(f"{base_url}/admin/tag/list")
    with sqlite3.connect(path) as db:  # someone else renames it while the list is open
        db.execute("UPDATE tag SET name = 'renamed elsewhere' WHERE id = 1")

    page.locator('tr[data-sa-pk="1"] [data-sa-name=delete]').click()
    page.locator("#modal-action").get_by_role("button", name="Yes, delete").click()

    expect(page.get_by_role("alert").filter(has_text="Nothing was deleted")).to_contain_text(
        "Changed since this page was shown: tag 1 (Name). Nothing was deleted"
    )
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM tag WHERE id = 1").fetchone() == ("renamed elsewhere",)
