"""The dashboard in Chromium: charts drawn with a point a day or an hour, and a card that follows
a new order over /ws without the page reloading."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.main import create_app
from tests.conftest import ADMIN_PASSWORD, add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> str:
    path = tmp_path / "dashboard.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "alice")  # a superuser: every card
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO customer (id, name, email) VALUES (1, 'Ada', 'ada@example.com')")
        for total in ("1000.00", "250.00"):
            db.execute(
                "INSERT INTO orders (customer_id, status, total, created_at)"
                " VALUES (1, 'paid', ?, ?)",
                (total, now),
            )
    server = serve_in_thread(create_app(make_config(url, secret_key="dashboard-test-secret")))
    return server.base_url


def signed_in(page: Page, base_url: str) -> Page:
    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/")
    expect(page.locator("body")).to_have_attribute("data-sb-socket", "open")
    return page


def test_charts_are_drawn_with_a_point_a_day_or_an_hour(new_page: Page, served: str) -> None:
    page = signed_in(new_page, served)
    for card, points in [
        ("orders_per_day", 30),
        ("tickets_per_day", 30),
        ("job_runs_per_hour", 24),
    ]:
        chart = page.locator(f"#sb-card-{card} svg.sb-chart")
        expect(chart).to_be_visible()
        expect(chart).to_have_attribute("data-points", str(points))
        expect(chart.locator("g[data-sb-point]")).to_have_count(points)
    orders = page.locator("#sb-card-orders_per_day svg.sb-chart")
    expect(orders.locator("circle")).to_have_count(30)
    # Today's bar is the last and the tallest: two orders, none on the other days.
    last_bar = orders.locator("g[data-sb-point]").last.locator("rect")
    assert float(last_bar.get_attribute("height") or 0) > 0
    box = last_bar.bounding_box()
    assert box is not None and box["height"] > 10


def test_a_new_order_changes_the_orders_card_without_a_reload(new_page: Page, served: str) -> None:
    page = signed_in(new_page, served)
    today = page.locator("#sb-card-orders tr[data-sb-period='Today']")
    expect(today.locator("[data-sb-figure=orders]")).to_have_text("2")
    # In the shop's currency, the DEFAULT_CURRENCY live setting.
    expect(today.locator("[data-sb-figure=revenue]")).to_have_text("€1,250.00")
    page.evaluate("window.sbNotReloaded = true")

    # Another tab adds an order through the admin's form, as an operator's save does.
    other = page.context.new_page()
    other.goto(f"{served}/admin/order/create")
    token = other.locator("input[name=csrftoken]").first.input_value()
    saved = other.request.post(
        f"{served}/admin/order/create",
        form={"customer": "1", "status": "paid", "total": "9000.50", "csrftoken": token},
        max_redirects=0,
    )
    assert saved.status == 303, saved.text()[-300:]

    expect(today.locator("[data-sb-figure=orders]")).to_have_text("3")
    expect(today.locator("[data-sb-figure=revenue]")).to_have_text("€10,250.50")
    assert page.evaluate("window.sbNotReloaded") is True


def test_a_burst_of_orders_refreshes_the_card_at_most_once_a_second_and_misses_none(
    new_page: Page, served: str
) -> None:
    page = signed_in(new_page, served)
    # When each fetch of the orders card starts, on the page's own clock (ms).
    page.evaluate(
        """window.sbFetches = [];
        document.body.addEventListener("htmx:beforeRequest", (event) => {
          if (event.detail.pathInfo.requestPath.endsWith("/cards/orders")) {
            window.sbFetches.push(performance.now());
          }
        });"""
    )
    other = page.context.new_page()
    other.goto(f"{served}/admin/order/create")
    token = other.locator("input[name=csrftoken]").first.input_value()
    burst = 6
    for _ in range(burst):
        saved = other.request.post(
            f"{served}/admin/order/create",
            form={"customer": "1", "status": "paid", "total": "1.00", "csrftoken": token},
            max_redirects=0,
        )
        assert saved.status == 303

    today = page.locator("#sb-card-orders tr[data-sb-period='Today']")
    expect(today.locator("[data-sb-figure=orders]")).to_have_text(str(2 + burst))
    fetches = page.evaluate("window.sbFetches")
    assert 1 <= len(fetches) < burst
    gaps = [later - earlier for earlier, later in itertools.pairwise(fetches)]
    # Milliseconds between two fetches: a second apart, less the time htmx takes to start the
    # first one after its timer fires (measured 10 ms on a busy machine).
    assert all(gap >= 950 for gap in gaps), gaps
