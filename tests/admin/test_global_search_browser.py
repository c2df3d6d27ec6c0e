"""Global search in Chromium: Ctrl-K, matches as one types, the arrow keys and Enter."""

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
    """Filled before any browser starts: the sync Playwright API holds this thread's loop."""
    url = migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'search.db'}")
    fill(url)
    add_user(url, "admin")
    return serve_in_thread(create_app(make_config(url, secret_key="search-secret"))).base_url


def test_ctrl_k_then_typing_then_the_arrow_keys_open_a_record(
    base_url: str, new_page: Page
) -> None:
    page = new_page
    sign_in(page, base_url)

    box = page.get_by_role("searchbox", name="Search every model")
    expect(box).to_be_visible()  # the page's script has put the box in place: Ctrl-K is heard
    page.keyboard.press("Control+k")
    expect(box).to_be_focused()
    box.type("lovelace")
    results = page.locator("#sb-search-results")
    expect(results).to_be_visible()
    expect(results.locator("[data-sb-search-model=Customers] [data-sb-search-hit]")).to_have_text(
        ["Ada Lovelace <ada@example.com>"]
    )
    page.keyboard.press("ArrowDown")
    expect(results.locator("[data-sb-search-hit]").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base_url}/admin/customer/detail?pk=1")
    expect(page.get_by_text("ada@example.com").first).to_be_visible()

    expect(box).to_be_visible()  # this page's script has put the box in place: Ctrl-K is heard
    page.keyboard.press("Control+k")
    expect(box).to_be_focused()
    page.keyboard.type("grace")
    page.keyboard.press("Escape")
    expect(results).to_be_hidden()
    page.keyboard.press("Enter")  # no match chosen: the whole search page
    expect(page).to_have_url(f"{base_url}/admin/search?q=grace")
    expect(page.locator("[data-sb-search-page] [data-sb-search-hit]")).to_have_count(6)
