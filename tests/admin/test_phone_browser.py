"""The admin on a phone (390x844, touch, in Chromium): every page fits the screen's width, lists
keep their primary columns and a wide search box with the toolbar folded into one menu, the
jobs page keeps Enabled, Next run and Run now, and the main controls are a finger's size.

One server and one signed-in phone for the whole module: each test only reads its pages (the
one that presses Run now leaves a queued run that no scheduler takes)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect

from app.main import create_app
from tests.admin.test_product_browser import sign_in
from tests.conftest import add_user, make_config, migrated_url
from tests.scheduler.test_jobs_page import synced
from tests.services import PAGE_TIMEOUT_MS, ThreadedServer, _Chromium

pytestmark = pytest.mark.browser

WIDTH = 390
SCREEN: ViewportSize = {"width": WIDTH, "height": 844}
FINGER = 44  # px: the smallest tap target the main controls may have
LONG_NAME = "Extraordinarily Long Hand-Stitched Leather Weekend Travel Bag With Brass Buckles"


def fill(path: Path) -> None:
    """Rows with long text, so that a column that does not wrap would push the page wider; a
    finished run; a job whose schedule is broken."""
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO product (id, sku, name, category, price, stock)"
            " VALUES (1, 'BAG-000000000000000000001', ?, 'home', 1249.00, 3)",
            (LONG_NAME,),
        )
        db.execute(
            "INSERT INTO customer (id, name, email)"
            " VALUES (1, 'Maximiliana Featherstonehaugh',"
            " 'maximiliana.featherstonehaugh.purchasing@example.com')"
        )
        db.execute(
            "INSERT INTO orders (id, customer_id, status, total) VALUES (1, 1, 'paid', 1249.00)"
        )
        db.execute(
            "INSERT INTO ticket (customer_id, order_id, subject, body, priority, status)"
            " VALUES (1, 1, 'The buckle came off the bag on its first weekend away', ?,"
            " 'high', 'open')",
            ("It worked loose on the second day. " * 5,),
        )
        db.execute(
            # Sent after the account was made (a broadcast reaches only accounts older than
            # it), past the second SQLite's own clock would give both.
            "INSERT INTO notification (audience, title, body, level, link, created_at)"
            " VALUES ('all', 'The nightly stock report found twelve products running low', ?,"
            " 'warning', '/admin/product/list', datetime('now', '+1 second'))",
            ("Reorder before the weekend: " * 5,),
        )
        db.execute(
            'INSERT INTO job_run (job, "trigger", scheduled_for, status, started_at,'
            " finished_at, duration_s, worker, log)"
            " VALUES ('purge_job_runs', 'schedule', '2026-11-30 03:15:00', 'succeeded',"
            " '2026-11-30 03:15:01', '2026-11-30 03:15:03', 2.0,"
            " 'a-rather-long-worker-hostname.internal:4242', '')"
        )
        # A broken schedule, as SQL or an older release may leave one (kept: marked edited).
        db.execute(
            "UPDATE scheduled_job SET schedule = '61 * * * *', edited = '[\"schedule\"]'"
            " WHERE name = 'refresh_customer_stats'"
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("phone") / "phone.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "admin")
    synced(url)
    fill(path)
    # Served in a thread for the whole module (the serve_in_thread fixture is per test).
    server = ThreadedServer(create_app(make_config(url, secret_key="phone-test-secret")))
    server.start()
    yield server.base_url
    server.stop()


@pytest.fixture(scope="module")
def phone_page(_chromium: _Chromium, served: str) -> Iterator[Page]:
    """One phone-sized, signed-in page for every test of the module."""
    _chromium.mark()  # Playwright's calls need its loop marked (see tests/services.py)
    context = _chromium.browser.new_context(
        viewport=SCREEN, is_mobile=True, has_touch=True, device_scale_factor=3
    )
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in(page, served)
    finally:
        _chromium.unmark()
    yield page
    _chromium.mark()
    try:
        context.close()
    finally:
        _chromium.unmark()


@pytest.fixture
def phone(browser: Browser, phone_page: Page, served: str) -> Page:
    """The module's phone, held for this test (`browser` marks Playwright's loop)."""
    return phone_page


def visit(page: Page, base_url: str, path: str) -> Page:
    page.goto(f"{base_url}{path}")
    expect(page.locator(".page-body")).to_be_visible()
    assert_fits(page)
    return page


def assert_fits(page: Page) -> None:
    """Nothing wider than the screen: the page itself never scrolls sideways (a mobile browser
    would also widen its layout viewport past the device's width)."""
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert (scroll_width, inner_width) == (WIDTH, WIDTH), page.url


MEASURE = """e => {
  if (!e.isConnected) return null;
  const r = e.getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height};
}"""


def on_screen(locator: Locator) -> dict[str, float]:
    """The element is shown, all of it within the screen's width; its box."""
    # A live refresh (htmx) may replace the element between finding and measuring it.
    for _ in range(5):
        expect(locator).to_be_visible()
        box: dict[str, float] | None = locator.evaluate(MEASURE)
        if box is not None:
            break
    assert box is not None, "the element kept being replaced"
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box
    return box


def cell(page: Page, column: str, pk: str | None = None) -> Locator:
    """A column's cells (of one row, by its key): rows do not name their cells, the header's
    order says which is which (docs/architecture.md, "Page weight and speed")."""
    index = page.locator("thead tr").first.evaluate(
        "(row, name) => [...row.children].findIndex((th) => th.dataset.column === name)", column
    )
    assert index >= 0, f"no {column} column"
    row = f"tr[data-sa-pk='{pk}']" if pk else "tr[data-sa-pk]"
    return page.locator(f"tbody {row} > td:nth-child({index + 1})")


def tappable(locator: Locator) -> dict[str, float]:
    box = on_screen(locator)
    assert box["height"] >= FINGER and box["width"] >= FINGER, box
    return box


def test_the_product_list_shows_name_price_and_stock_and_a_wide_search_box(
    phone: Page, served: str
) -> None:
    page = visit(phone, served, "/admin/product/list")
    for column in ("name", "price", "stock"):
        on_screen(page.locator(f"thead th[data-column={column}]"))
        on_screen(cell(page, column, "1"))
    expect(cell(page, "name").filter(has_text=LONG_NAME)).to_be_visible()
    for column in ("id", "sku", "category", "created_at"):
        expect(page.locator(f"thead th[data-column={column}]")).to_be_hidden()
    # The row's icons make way; a tap on the row opens the record.
    expect(page.locator("tr[data-sa-pk='1'] [data-sa-name=edit]")).to_be_hidden()

    assert tappable(page.locator("input[type=search][name=q]"))["width"] >= 200
    tappable(page.get_by_role("button", name="Toggle navigation").first)
    tappable(page.get_by_role("link", name=re.compile(r"^Notifications:")).first)
    tappable(page.get_by_role("link", name="Open user menu").first)

    cell(page, "price", "1").tap()
    expect(page).to_have_url(re.compile(r"/admin/product/detail\?pk=1\b"))
    assert_fits(page)


def test_the_list_toolbar_folds_into_one_menu_under_the_search_box(
    phone: Page, served: str
) -> None:
    page = visit(phone, served, "/admin/product/list")
    new = page.get_by_role("link", name="New Product")
    expect(new).to_be_hidden()
    expect(page.get_by_role("link", name="Export")).to_be_hidden()
    menu = page.get_by_role("button", name="Actions", exact=True)
    tappable(menu)
    search_box = page.locator("input[type=search][name=q]").bounding_box()
    menu_box = menu.bounding_box()
    assert search_box and menu_box and menu_box["y"] >= search_box["y"] + search_box["height"]

    menu.tap()
    expect(page.locator("#sb-list-toolbar")).to_have_class(re.compile(r"\bshow\b"))
    tappable(new)
    tappable(page.get_by_role("link", name="Export"))
    tappable(page.get_by_role("button", name="Columns"))
    assert_fits(page)
    new.tap()
    expect(page).to_have_url(re.compile(r"/admin/product/create\b"))


def test_a_list_without_phone_columns_of_its_own_shows_its_first_three(
    phone: Page, served: str
) -> None:
    page = visit(phone, served, "/admin/order/list")
    for column in ("id", "status", "total"):
        on_screen(cell(page, column, "1"))
    for column in ("shipped_at", "created_at", "customer"):
        expect(page.locator(f"thead th[data-column={column}]")).to_be_hidden()

    # Products name theirs; with all of them taken off by "Columns", the first three shown stay.
    page = visit(phone, served, "/admin/product/list?cols=id,sku,category,created_at")
    for column in ("id", "sku", "category"):
        on_screen(cell(page, column, "1"))
    expect(page.locator("thead th[data-column=created_at]")).to_be_hidden()


@pytest.mark.parametrize(
    ("path", "columns"),
    [
        ("/admin/customer/list", ("id", "name", "email")),
        ("/admin/ticket/list", ("subject", "status", "priority")),
        ("/admin/notification/list", ("created_at", "title", "level")),
        ("/admin/audit/list", ("at", "username", "action")),
    ],
)
def test_long_text_wraps_inside_the_primary_columns(
    phone: Page, served: str, path: str, columns: tuple[str, ...]
) -> None:
    page = visit(phone, served, path)
    for column in columns:
        on_screen(cell(page, column).first)


@pytest.mark.parametrize(
    "path", ["/admin/product/detail?pk=1", "/admin/product/edit?pk=1", "/admin/ticket/create"]
)
def test_a_record_and_its_forms_fit_with_buttons_a_finger_can_hit(
    phone: Page, served: str, path: str
) -> None:
    page = visit(phone, served, path)
    if "detail" in path:
        tappable(page.get_by_role("button", name="Edit"))
        tappable(page.get_by_role("link", name="History"))
    else:
        tappable(page.get_by_role("button", name="Save", exact=True))
        for field in page.locator("form input.form-control:visible").all():
            tappable(field)


def test_the_jobs_page_keeps_enabled_next_run_and_run_now_on_screen(
    phone: Page, served: str
) -> None:
    page = visit(phone, served, "/admin/jobs")
    for name in ("low_stock_report", "purge_job_runs"):
        row = page.locator(f"tr[data-sb-job={name}]")
        on_screen(row.get_by_role("link", name=name))
        tappable(row.locator("label.form-switch"))
        on_screen(row.locator("[data-sb-enabled]"))
        on_screen(row.locator("[data-sb-next-run] time"))
        tappable(row.get_by_role("button", name="Run now"))
    expect(page.locator("thead")).to_be_hidden()
    # The schedule is on the job's page, unless it is broken: that shows here too.
    expect(page.locator("tr[data-sb-job=low_stock_report] [data-sb-sentence]")).to_be_hidden()
    broken = page.locator("tr[data-sb-job=refresh_customer_stats]")
    on_screen(broken.locator("[data-sb-broken]"))
    on_screen(broken.locator("[data-sb-next-run]"))
    tappable(broken.locator("label.form-switch"))

    row = page.locator("tr[data-sb-job=low_stock_report]")
    row.get_by_role("button", name="Run now").tap()
    expect(row.locator("[data-sb-feedback]")).to_contain_text("queued")
    assert_fits(page)


def test_a_job_keeps_its_switch_run_now_and_runs_on_screen(phone: Page, served: str) -> None:
    page = visit(phone, served, "/admin/jobs/purge_job_runs")
    summary = page.locator("#sb-job-summary")
    tappable(summary.locator("label.form-switch"))
    on_screen(summary.locator("[data-sb-next-run] time"))
    tappable(summary.get_by_role("button", name="Run now"))
    tappable(page.get_by_role("button", name="Save", exact=True))

    run = page.locator("#sb-job-runs tr[data-sb-run]").first
    on_screen(run.get_by_role("link", name="#"))
    on_screen(run.locator("[data-sb-status-badge]"))
    on_screen(run.locator("[data-sb-started] time"))
    expect(run.get_by_text("a-rather-long-worker-hostname.internal:4242")).to_be_hidden()

    run.get_by_role("link", name="#").tap()  # the run's own page has everything
    expect(page.get_by_text("a-rather-long-worker-hostname.internal:4242")).to_be_visible()
    assert_fits(page)


def test_the_settings_page_fits_with_save_buttons_a_finger_can_hit(
    phone: Page, served: str
) -> None:
    page = visit(phone, served, "/admin/settings")
    field = page.locator("[data-sb-setting=MAINTENANCE_MESSAGE]")
    tappable(field.locator("textarea"))
    tappable(field.get_by_role("button", name="Save", exact=True))
    tappable(page.get_by_role("link", name="Export"))


def test_the_inbox_fits_with_its_buttons_under_the_title(phone: Page, served: str) -> None:
    page = visit(phone, served, "/admin/notifications")
    tappable(page.get_by_role("button", name="Mark all read"))
    item = page.locator(".sb-inbox-item").first
    on_screen(item.locator(".sb-inbox-title"))
    tappable(item.get_by_role("button", name="Mark read"))


def test_the_dashboard_fits(phone: Page, served: str) -> None:
    page = visit(phone, served, "/admin/")
    for card in page.locator("[id^=sb-card-]").all():
        on_screen(card)


def test_a_desktop_still_shows_every_column_and_the_whole_toolbar(phone: Page, served: str) -> None:
    phone.set_viewport_size({"width": 1280, "height": 900})
    try:
        page = phone
        page.goto(f"{served}/admin/product/list")
        for column in ("id", "sku", "name", "category", "price", "stock", "created_at"):
            expect(page.locator(f"thead th[data-column={column}]")).to_be_visible()
        expect(page.locator("tr[data-sa-pk='1'] [data-sa-name=edit]")).to_be_visible()
        expect(page.get_by_role("link", name="New Product")).to_be_visible()
        expect(page.get_by_role("button", name="Actions", exact=True)).to_be_hidden()

        page.goto(f"{served}/admin/jobs")
        for header in ("Schedule", "Timezone", "Enabled", "Next run", "Last run"):
            expect(page.get_by_role("columnheader", name=header)).to_be_visible()
        expect(page.get_by_role("button", name="Run now").first).to_be_visible()
    finally:
        phone.set_viewport_size(SCREEN)
