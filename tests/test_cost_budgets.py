"""Cost budgets: how many SQL statements each kind of request may send.

Counts, not timings, so they cannot flake. A request over its budget fails with the statements
it sent, one per line: a change that adds a query shows what it added. The live settings'
version check runs every few milliseconds here, as background work that must never be charged
to a request (app/statement_log.py says why).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app import constance
from app.admin.model_view import AutoModelView
from app.cache import declared_namespaces
from app.db import now_utc
from app.main import create_app
from app.models import Customer, CustomerStats, NotificationRead, User
from app.notifications.service import notify
from app.shop.seed import seed_demo
from app.statement_log import StatementLog, background_work, lifespan_as_background
from tests.conftest import add_user, make_config, migrated_url, postgres_template, sign_in
from tests.services import PostgresServer, new_database
from tests.test_collector import collections

# Who is signed in costs no statement: the cache keeps them once read (app/cache.py; the site
# below reads them once before any budget is counted).
# The page's rows with their to-one relations; the capped count and the size estimate in one
# statement; the user's saved views of the list with their default (the bar above it, and
# what a bare list URL opens: app/admin/saved_views.py).
LIST_BUDGET = 2
# Seen again: the user's saved views are kept (app/admin/saved_views.py); its rows come with
# their count in one statement.
LIST_AGAIN_BUDGET = 1
# A page past the last row lists nothing to carry the count: the count is one more statement.
EMPTY_PAGE_BUDGET = LIST_BUDGET + 1
# The record with every relation the page shows, joined in one statement.
DETAIL_BUDGET = 1
EDIT_BUDGET = 1  # as a detail page: a relation's choices are fetched as the user types
# Each table of inline rows on a detail or edit page (an order's items): its rows, at most
# INLINE_ROWS_LIMIT, with their to-one relations, in one statement of their own (a join of
# the collection into the record's statement could not stop at that limit).
INLINE_ROWS_BUDGET = 1
HEALTH_BUDGET = 1  # SELECT 1: whether the database answers
# One statement a card: nine cards for a superuser, read afresh.
DASHBOARD_BUDGET = 9
# Read again: every card's figures are kept (app/dashboard/kept.py).
DASHBOARD_KEPT_BUDGET = 0
# The buckets' counts (from the order summary or the rows themselves).
DRILLDOWN_BUDGET = 1
YEAR = "created_at__gte=2026-01-01&created_at__lt=2027-01-01"
MONTH = "created_at__gte=2026-10-01&created_at__lt=2026-11-01"
# The user; the newest notification the tab may see; its unread count (the first frame).
SOCKET_BUDGET = 3
# The signed-in user carries their theme: the preferences page reads nothing.
PREFERENCES_BUDGET = 0
# How many audit entries are theirs; one page of them.
ACTIVITY_BUDGET = 2
BUSY_CHECK_S = 0.02  # the version check's interval here: it keeps overlapping requests
USER = "budget"
ROW = re.compile(r'<tr data-sa-pk="([^"]+)"')
STATIC_LINK = re.compile(r'(?:href|src)="https://testserver(/(?:admin/)?static/[^"?]+)')
WS = "wss://testserver/ws"  # the session cookie is Secure


def model_views() -> dict[str, bool]:
    """Every model view the admin registers, and whether it has an edit page (rows only the app
    writes have none); read from an app built, never connected."""
    return {str(view.key): not view.written_by_the_app for view in built_views()}


def built_views() -> Sequence[AutoModelView]:
    views: Sequence[AutoModelView] = create_app(
        make_config("sqlite+aiosqlite://")
    ).state.admin.model_views
    return views


# How many tables of inline rows each model's detail and edit pages show.
INLINE_TABLES = {str(view.key): len(view.inlines or []) for view in built_views()}
EDITABLE_BY_KEY = model_views()
MODEL_VIEWS = list(EDITABLE_BY_KEY)
EDITABLE = [key for key, editable in EDITABLE_BY_KEY.items() if editable]


@dataclass
class Site:
    """The app signed in as a superuser, a row in every listed table, a log of its statements."""

    app: Starlette
    client: TestClient
    log: StatementLog

    def get(self, path: str) -> str:
        """The page's text, with the log holding only what this request sent."""
        self.log.reset()
        response = self.client.get(path)
        assert response.status_code == 200, f"GET {path}: HTTP {response.status_code}"
        return response.text

    def assert_within(self, budget: int, what: str) -> None:
        sent = len(self.log)
        assert sent <= budget, (
            f"{what} sent {sent} SQL statements, its budget is {budget}:\n{self.log.listing()}"
        )


async def fill(app: Starlette) -> None:
    """The demo shop, customer statistics, notifications for each audience, one of them read."""
    session_factory = app.state.session_factory
    await seed_demo(session_factory, orders=100, echo=lambda _: None)
    await notify(session_factory, app.state.broker, user=USER, title="For you")
    await notify(session_factory, app.state.broker, group="ops", title="For ops")
    await notify(session_factory, app.state.broker, everyone=True, title="For everyone")
    async with session_factory.begin() as session:
        user = await session.scalar(select(User).where(User.username == USER))
        assert user is not None
        session.add(NotificationRead(notification_id=1, user_id=user.id))
        for customer_id in (await session.scalars(select(Customer.id))).all():
            session.add(CustomerStats(customer_id=customer_id, orders=1, refreshed_at=now_utc()))


@contextlib.contextmanager
def open_site(url: str) -> Iterator[Site]:
    add_user(url, USER, groups={"ops": []})  # seed_demo then adds no admin of its own
    app = create_app(make_config(url, settings_check_interval=BUSY_CHECK_S))
    log = StatementLog(app.state.engine)
    with TestClient(lifespan_as_background(app), base_url="https://testserver") as client:
        assert client.portal is not None
        client.portal.call(fill, app)
        sign_in(client, USER)
        assert client.get("/admin/account/preferences").status_code == 200  # reads who they are
        yield Site(app, client, log)


@pytest.fixture(scope="module")
def sqlite_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path: Path = tmp_path_factory.mktemp("budgets") / "starboard.db"
    with open_site(migrated_url(f"sqlite+aiosqlite:///{path}")) as site:
        yield site


@pytest.fixture(scope="module")
def postgres_site(postgres_server: PostgresServer) -> Iterator[Site]:
    postgres_server.ensure_running()
    with (
        new_database(postgres_server, template=postgres_template(postgres_server)) as url,
        open_site(url) as site,
    ):
        yield site


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_site(request: pytest.FixtureRequest) -> Site:
    """The site on each backend the data layer supports."""
    site: Site = request.getfixturevalue(f"{request.param}_site")
    return site


@pytest.mark.parametrize("key", MODEL_VIEWS)
def test_every_list_page_sends_at_most_two_statements(any_site: Site, key: str) -> None:
    path = f"/admin/{key}/list"
    page = any_site.get(path)
    assert ROW.search(page), f"{path} lists no row: a query per row would go unseen"
    any_site.assert_within(LIST_BUDGET, path)


@pytest.mark.parametrize("key", ["order", "product"])
def test_a_list_page_seen_again_reads_its_rows_and_count_only(any_site: Site, key: str) -> None:
    path = f"/admin/{key}/list"
    any_site.get(path)
    page = any_site.get(path)
    assert ROW.search(page)
    any_site.assert_within(LIST_AGAIN_BUDGET, f"{path}, again")


def first_sortable_column(app: Starlette, key: str) -> str:
    """A column the list shows and may be sorted by."""
    view = next(view for view in app.state.admin.model_views if view.key == key)
    shown = {field.name for field in view.fields} - set(view.exclude_fields_from_list)
    return next(name for name in view.sortable_fields or [] if name in shown)


@pytest.mark.parametrize("key", MODEL_VIEWS)
@pytest.mark.parametrize("query", ["page_size=100", "page_size=10&page=2", "q=a", "sort"])
def test_list_pages_stay_within_budget_however_paged_searched_or_sorted(
    sqlite_site: Site, key: str, query: str
) -> None:
    if query == "sort":
        query = f"sort={first_sortable_column(sqlite_site.app, key)}__asc"
    path = f"/admin/{key}/list?{query}"
    page = sqlite_site.get(path)
    assert len(sqlite_site.log) >= 1, f"{path} sent no statement: is the log still attached?"
    sqlite_site.assert_within(LIST_BUDGET if ROW.search(page) else EMPTY_PAGE_BUDGET, path)


# Lookups of each kind that keep the demo's rows listed (a query per row would show).
FILTERED = {
    "order": "status__in=pending,paid,shipped,delivered,cancelled,refunded"
    "&created_at__gte=2000-01-01&total__gte=0&customer__isnull=0",
    "product": "category__in=electronics,books,home,garden,toys,clothing,sports,grocery"
    "&stock__gte=0&price__gt=0",
    "ticket": "priority__in=low,normal,high,urgent&created_at__lt=2999-01-01&order__isnull=0",
}


@pytest.mark.parametrize("key", list(FILTERED))
def test_a_filtered_list_page_sends_as_many_statements_as_the_unfiltered_one(
    any_site: Site, key: str
) -> None:
    any_site.get(f"/admin/{key}/list")  # the user's saved views of the list, kept from here
    any_site.get(f"/admin/{key}/list")
    unfiltered = len(any_site.log)
    path = f"/admin/{key}/list?{FILTERED[key]}"
    page = any_site.get(path)
    assert ROW.search(page), f"{path} lists no row: a query per row would go unseen"
    assert len(any_site.log) == unfiltered, any_site.log.listing()


@pytest.mark.parametrize("key", MODEL_VIEWS)
def test_every_detail_page_stays_within_its_budget(sqlite_site: Site, key: str) -> None:
    first = ROW.search(sqlite_site.get(f"/admin/{key}/list"))
    assert first, f"/admin/{key}/list lists no row to open"
    path = f"/admin/{key}/detail?pk={first.group(1)}"
    sqlite_site.get(path)
    sqlite_site.assert_within(DETAIL_BUDGET + INLINE_ROWS_BUDGET * INLINE_TABLES[key], path)


@pytest.mark.parametrize("key", EDITABLE)
def test_every_edit_page_stays_within_its_budget(sqlite_site: Site, key: str) -> None:
    first = ROW.search(sqlite_site.get(f"/admin/{key}/list"))
    assert first, f"/admin/{key}/list lists no row to open"
    path = f"/admin/{key}/edit?pk={first.group(1)}"
    form = sqlite_site.get(path)
    assert 'name="csrftoken"' in form, f"{path} shows no edit form"
    sqlite_site.assert_within(EDIT_BUDGET + INLINE_ROWS_BUDGET * INLINE_TABLES[key], path)


def test_the_dashboard_sends_one_statement_a_card(any_site: Site) -> None:
    cards = [n for n in declared_namespaces() if n.startswith("dashboard:")]
    any_site.app.state.cache.drop(cards)  # as a change to every card's rows does
    page = any_site.get("/admin/")
    assert page.count("data-sb-card=") == DASHBOARD_BUDGET, "a superuser sees every card"
    any_site.assert_within(DASHBOARD_BUDGET, "/admin/")


def test_the_dashboard_read_again_sends_no_statement(any_site: Site) -> None:
    any_site.get("/admin/")
    page = any_site.get("/admin/")
    assert page.count("data-sb-card=") == DASHBOARD_BUDGET
    any_site.assert_within(DASHBOARD_KEPT_BUDGET, "/admin/ read again")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "status__exact=paid",
        YEAR,
        f"{YEAR}&status__in=paid,shipped",
        MONTH,
        f"{MONTH}&status__exact=delivered",
        "customer__id__exact=1",  # not in the order summary: counted from the orders
        "q=a",
    ],
)
def test_the_orders_date_drilldown_sends_one_statement_at_every_level(
    any_site: Site, query: str
) -> None:
    path = f"/admin/order/dates?{query}"
    fragment = any_site.get(path)
    assert "data-sb-date-drilldown" in fragment
    any_site.assert_within(DRILLDOWN_BUDGET, path)


def test_the_account_pages_stay_within_their_budgets_and_the_theme_costs_no_statement(
    sqlite_site: Site,
) -> None:
    page = sqlite_site.get("/admin/account/preferences")
    assert 'data-sb-theme="auto"' in page
    sqlite_site.assert_within(PREFERENCES_BUDGET, "/admin/account/preferences")
    assert "data-sb-activity-entry" in sqlite_site.get("/admin/account/activity")
    sqlite_site.assert_within(ACTIVITY_BUDGET, "/admin/account/activity")


def test_who_is_signed_in_is_read_once_and_then_kept(tmp_path: Path) -> None:
    url = migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'starboard.db'}")
    add_user(url, USER)
    app = create_app(make_config(url))
    log = StatementLog(app.state.engine)
    with TestClient(lifespan_as_background(app), base_url="https://testserver") as client:
        sign_in(client, USER)
        app.state.cache.drop_everything()  # as a change to any account does
        log.reset()
        assert client.get("/admin/account/preferences").status_code == 200
        assert len(log) == 1, log.listing()  # who they are, read
        log.reset()
        assert client.get("/admin/account/preferences").status_code == 200
        assert len(log) == 0, log.listing()  # and kept


def test_the_health_check_sends_one_statement(sqlite_site: Site) -> None:
    assert json.loads(sqlite_site.get("/healthz"))["database"] == "ok"
    sqlite_site.assert_within(HEALTH_BUDGET, "/healthz")


def test_opening_the_socket_sends_at_most_three_statements_until_its_first_frame(
    sqlite_site: Site,
) -> None:
    sqlite_site.log.reset()
    with sqlite_site.client.websocket_connect(WS) as socket:
        first = socket.receive_json()
        sent = len(sqlite_site.log)
        listing = sqlite_site.log.listing()
    assert first == {"type": "unread", "count": 2, "newest": 3}
    assert sent <= SOCKET_BUDGET, (
        f"/ws sent {sent} SQL statements before its first frame, its budget is"
        f" {SOCKET_BUDGET}:\n{listing}"
    )


def test_static_files_send_no_statement(sqlite_site: Site) -> None:
    page = sqlite_site.get(f"/admin/{MODEL_VIEWS[0]}/list")
    linked = sorted(set(STATIC_LINK.findall(page)))
    assert "/static/starboard.css" in linked
    assert any(path.startswith("/admin/static/") for path in linked), linked
    for path in linked:
        sqlite_site.get(path)
        sqlite_site.assert_within(0, path)


def test_reading_live_settings_sends_no_statement(sqlite_site: Site) -> None:
    live = sqlite_site.app.state.live_settings
    constance.install(live)  # as create_app did: another app built since may have replaced it
    keys = list(live.as_dict())
    assert "MAINTENANCE_MODE" in keys
    sqlite_site.log.reset()
    read = {key: getattr(live, key) for key in keys}
    assert {key: getattr(constance.settings, key) for key in keys} == read
    sqlite_site.assert_within(0, "reading every live setting")


def test_the_apps_background_work_is_left_out_of_the_log(sqlite_site: Site) -> None:
    portal = sqlite_site.client.portal
    assert portal is not None

    async def query(background: bool) -> None:
        with background_work() if background else contextlib.nullcontext():
            async with sqlite_site.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    sqlite_site.log.reset()
    time.sleep(20 * BUSY_CHECK_S)  # the version check runs about 20 times meanwhile
    portal.call(query, True)
    assert len(sqlite_site.log) == 0, sqlite_site.log.listing()
    portal.call(query, False)
    assert [statement for statement, _ in sqlite_site.log.statements] == ["SELECT 1"]


# --- Page weight: bytes, which cannot flake either -------------------------------------------

# The order list at 25 rows (docs/architecture.md, "Page weight and speed"): the page's frame
# (menu, toolbar, filters, scripts) and each row, from 200 KB and 4.7 KB a row.
LIST_PAGE_BYTES = 60_000
ROW_BYTES = 1_000
ROW_MARKUP = re.compile(r"<tr data-sa-pk=.*?</tr>", re.DOTALL)


def test_a_list_page_of_25_orders_stays_within_its_weight(sqlite_site: Site) -> None:
    page = sqlite_site.get("/admin/order/list?page_size=25")
    rows = ROW_MARKUP.findall(page)
    assert len(rows) == 25
    heaviest = max(len(row.encode()) for row in rows)
    assert heaviest <= ROW_BYTES, max(rows, key=len)
    assert len(page.encode()) <= LIST_PAGE_BYTES
    # No tooltip widget per cell, no indentation carried from the templates into the page.
    assert 'data-bs-toggle="tooltip"' not in "".join(rows)
    assert "\n    " not in page


def test_three_list_pages_of_25_orders_wake_the_collector_once_at_most(
    sqlite_site: Site,
) -> None:
    # At CPython's default threshold (700) the collector ran about twice a page.
    with collections() as ran:
        for _ in range(3):
            sqlite_site.get("/admin/order/list?page_size=25")
    assert len(ran) <= 1, ran
