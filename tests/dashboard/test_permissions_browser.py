"""What each user sees, in Chromium: the dashboard's cards and the header search's results follow
the user's permissions (no order card, no order match, for a user who may not view orders)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.main import create_app
from tests.admin.test_global_search import fill
from tests.admin.test_product_browser import sign_in
from tests.conftest import add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser


@pytest.fixture
def base_url(tmp_path: Path, serve_in_thread: ServeInThread) -> str:
    """Ada (with two orders and a ticket); a superuser, and support staff who may view customers
    and tickets but not orders. Filled before any browser starts."""
    url = migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'seen.db'}")
    fill(url)
    add_user(url, "root")
    add_user(url, "support", superuser=False, permissions=["customer:view", "ticket:view"])
    return serve_in_thread(create_app(make_config(url, secret_key="seen-secret"))).base_url


def searched_models(page: Page, term: str) -> list[str]:
    """The model groups the header's search shows for `term`, as one types it after Ctrl-K."""
    page.keyboard.press("Control+k")
    page.get_by_role("searchbox", name="Search every model").type(term)
    results = page.locator("#sb-search-results")
    expect(results.locator("[data-sb-search-model=Customers]")).to_be_visible()
    return [
        str(group.get_attribute("data-sb-search-model"))
        for group in results.locator("[data-sb-search-model]").all()
    ]


def test_a_user_without_order_view_sees_no_order_card_and_no_order_in_search(
    base_url: str, new_page: Page
) -> None:
    page = new_page
    sign_in(page, base_url, "support")
    expect(page.locator("[data-sb-card=open_tickets]")).to_be_visible()
    expect(page.locator("[data-sb-card^=orders]")).to_have_count(0)  # the figures and the chart
    expect(page.locator('a[href*="/admin/order/"]')).to_have_count(0)
    assert searched_models(page, "ada") == ["Customers", "Tickets"]


def test_a_superuser_sees_the_order_card_and_orders_in_search(
    base_url: str, new_page: Page
) -> None:
    page = new_page
    sign_in(page, base_url, "root")
    expect(page.locator("[data-sb-card^=orders]")).to_have_count(2)
    assert "Orders" in searched_models(page, "ada")
