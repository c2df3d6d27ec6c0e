"""An operator filters the orders list in a real Chromium: what they choose becomes the
bookmarkable URL and the list shows the right rows; a chip removes its filter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Page, expect

from app.main import create_app
from tests.admin.test_list_lookups import fill
from tests.admin.test_product_browser import sign_in
from tests.conftest import add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, dict[str, str]]:
    url = migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}")
    add_user(url, "admin")
    keys = fill(url)
    server = serve_in_thread(create_app(make_config(url, secret_key="browser-test-secret")))
    return server.base_url, keys


def orders_list(page: Page, base_url: str, query: str = "") -> Page:
    """The page, signed in as the admin, showing the orders' list with `query`."""
    sign_in(page, base_url)
    page.goto(f"{base_url}/admin/order/list{query}")
    return page


def query_of(page: Page) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(page.url).query)


def listed(page: Page) -> set[str]:
    rows = page.locator("tr[data-sa-pk]")
    return {str(rows.nth(i).get_attribute("data-sa-pk")) for i in range(rows.count())}


def test_choosing_filters_yields_the_bookmarkable_url_and_the_right_rows(
    new_page: Page, served: tuple[str, dict[str, str]]
) -> None:
    base_url, keys = served
    page = orders_list(new_page, base_url)
    expect(page.locator("tr[data-sa-pk]")).to_have_count(4)

    page.get_by_text("Filter by field", exact=True).click()
    page.select_option("select[name=status__in]", label=["Paid", "Shipped", "Pending"])
    page.fill("input[name=created_at__gte]", "2026-01-20")
    page.get_by_role("button", name="Apply filters").click()

    expect(page.locator("[data-sb-chip]")).to_have_count(2)
    assert sorted(query_of(page)) == [
        ("created_at__gte", "2026-01-20"),
        ("status__in", "pending,paid,shipped"),
    ]
    assert "status__in=pending,paid,shipped" in page.url  # readable, as one would type it
    assert listed(page) == {keys["jan-end"], keys["feb-first"]}

    # The same URL opened afresh (a bookmark) shows the same rows.
    page.goto(page.url)
    assert listed(page) == {keys["jan-end"], keys["feb-first"]}

    page.locator('[data-sb-chip="status__in"]').click()
    expect(page.locator("[data-sb-chip]")).to_have_count(1)
    assert query_of(page) == [("created_at__gte", "2026-01-20")]
    assert listed(page) == {keys["jan-end"], keys["feb-first"], keys["feb"]}


def test_a_date_preset_fills_the_range_and_a_relation_suggests_rows(
    new_page: Page, served: tuple[str, dict[str, str]]
) -> None:
    base_url, keys = served
    page = orders_list(new_page, base_url)
    page.get_by_text("Filter by field", exact=True).click()

    box = page.locator('[data-sb-filter="created_at"]')
    box.get_by_role("button", name="Last month").click()
    today = dt.datetime.now(dt.UTC).date()
    last_of_previous = today.replace(day=1) - dt.timedelta(days=1)
    expect(box.locator("input[name=created_at__gte]")).to_have_value(
        last_of_previous.replace(day=1).isoformat()
    )
    expect(box.locator("input[name=created_at__lte]")).to_have_value(last_of_previous.isoformat())

    customer = page.locator("input[name=customer__id__exact]")
    customer.fill("ann")
    options = page.locator("datalist#sb-options-customer__id option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", keys["ann"])
    box.locator("input[name=created_at__gte]").fill("")
    box.locator("input[name=created_at__lte]").fill("")
    customer.fill(keys["ann"])  # as picking the suggestion does
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("[data-sb-chip]")).to_have_count(1)
    assert query_of(page) == [("customer__id__exact", keys["ann"])]
    assert listed(page) == {keys["jan"], keys["jan-end"]}


def test_the_date_drill_down_goes_from_years_to_months_to_days(
    new_page: Page, served: tuple[str, dict[str, str]]
) -> None:
    base_url, keys = served
    page = orders_list(new_page, base_url)
    drill = page.locator("[data-sb-date-drilldown]")
    expect(drill.locator("[data-sb-bucket]")).to_have_count(1)
    drill.locator('[data-sb-bucket="2026"]').click()
    assert query_of(page) == [("created_at__gte", "2026-01-01"), ("created_at__lt", "2027-01-01")]
    expect(drill.locator("[data-sb-bucket]")).to_have_text(["Jan 2", "Feb 2"])
    drill.locator('[data-sb-bucket="Feb"]').click()
    expect(drill.locator("[data-sb-bucket]")).to_have_text(["1 1", "15 1"])
    assert listed(page) == {keys["feb-first"], keys["feb"]}
    drill.locator("[data-sb-drill-up]").click()
    expect(drill.locator("[data-sb-bucket]")).to_have_count(2)


def test_a_click_anywhere_on_a_row_opens_its_record_with_the_list_to_come_back_to(
    new_page: Page, served: tuple[str, dict[str, str]]
) -> None:
    base_url, keys = served
    page = orders_list(new_page, base_url, "?status__in=shipped")
    row = page.locator(f'tr[data-sa-pk="{keys["jan-end"]}"]')
    row.locator("td").nth(3).click()  # the status: a cell with no link of its own
    page.wait_for_url("**/admin/order/detail?**")
    query = dict(query_of(page))
    assert query["pk"] == keys["jan-end"]
    assert query["_origin"] == "/admin/order/list?status__in=shipped"
