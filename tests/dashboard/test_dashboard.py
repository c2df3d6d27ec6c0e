"""The dashboard at /admin/: each card's figures on known data, who sees what, what it costs.

"Today" is pinned by a FakeClock given to the app; rows are written with the times they need.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.auth.current import CurrentUser
from app.clock import Clock, FakeClock
from app.dashboard import registry
from app.dashboard.figures import Change
from app.main import create_app
from app.models import (
    AuditEntry,
    Customer,
    Order,
    OrderStatus,
    Ticket,
    TicketPriority,
    TicketStatus,
)
from app.models.jobs import JobRun, ScheduledJob
from app.notifications.service import notify
from app.statement_log import StatementLog
from tests import factories
from tests.admin.test_time_zones import choose
from tests.conftest import add_user, csrf_token, make_config, sign_in

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
TODAY = dt.datetime(2026, 6, 15, tzinfo=dt.UTC)
# The signed-in user, then one statement a card: nine cards for a superuser.
DASHBOARD_BUDGET = 10
CARD_BUDGET = 2  # the user, the card's statement


def at(days_ago: float = 0, hour: float = 0) -> dt.datetime:
    return TODAY - dt.timedelta(days=days_ago) + dt.timedelta(hours=hour)


async def fill(app: Starlette) -> None:
    """Orders around today, tickets, products either side of the threshold, job runs, a note."""
    async with app.state.session_factory.begin() as session:
        buyer = Customer(name="Ada", email="ada@example.com")
        session.add(buyer)
        for total, status, when in [
            ("100.00", OrderStatus.PAID, at(0, 10)),
            ("50.00", OrderStatus.CANCELLED, at(0, 11)),
            ("1200.50", OrderStatus.PENDING, at(0, 11.5)),
            ("200.00", OrderStatus.PAID, at(1, 9)),  # yesterday, before this time of day
            ("999.00", OrderStatus.SHIPPED, at(1, 13)),  # yesterday, after it
            ("1000.00", OrderStatus.DELIVERED, at(10, 8)),
            ("500.00", OrderStatus.PAID, at(40, 8)),  # the 30 days before the last 30
            ("7.00", OrderStatus.PAID, at(-1, 8)),  # tomorrow: not yet
        ]:
            session.add(Order(customer=buyer, total=Decimal(total), status=status, created_at=when))
        for priority, status, when in [
            (TicketPriority.URGENT, TicketStatus.OPEN, at(0, 9)),
            (TicketPriority.URGENT, TicketStatus.OPEN, at(0, 10)),
            (TicketPriority.HIGH, TicketStatus.WAITING, at(1, 9)),
            (TicketPriority.NORMAL, TicketStatus.OPEN, at(3, 9)),
        ]:
            session.add(
                Ticket(
                    customer=buyer, subject="s", priority=priority, status=status, created_at=when
                )
            )
        closed = Ticket(customer=buyer, subject="done", priority=TicketPriority.LOW)
        closed.created_at = at(2, 9)
        closed.status = TicketStatus.CLOSED
        session.add(closed)
        await session.flush()
        closed.closed_at = at(0, 8)  # stamped at the real time; here pinned to the fake today
        for name, stock in [("Empty", 0), ("Few", 3), ("Nine", 9), ("Ten", 10), ("Many", 50)]:
            session.add(factories.product(name=name, stock=stock))
        session.add(ScheduledJob(name="nightly", schedule="0 0 * * *"))
        session.add(ScheduledJob(name="hourly", schedule="0 * * * *"))
        await session.flush()
        for job, status, hours_ago in [
            ("nightly", "failed", 2),
            ("nightly", "timed_out", 5),
            ("hourly", "abandoned", 3),
            ("hourly", "succeeded", 1),
            ("hourly", "succeeded", 1.5),
            ("nightly", "failed", 30),  # outside the last 24 hours
        ]:
            when = NOW - dt.timedelta(hours=hours_ago) + dt.timedelta(minutes=1)
            session.add(
                JobRun(
                    job=job, trigger="schedule", scheduled_for=when, status=status, created_at=when
                )
            )
        session.add_all(
            [
                AuditEntry(
                    at=NOW,
                    username="alice",
                    action="edit",
                    model="order",
                    object_pk="1",
                    object_label="Order #1",
                ),
                AuditEntry(at=NOW, username="alice", action="settings-edit", model="settings"),
            ]
        )
    await notify(app.state.session_factory, app.state.broker, user="boss", title="Hello")


@contextmanager
def filled_site(url: str) -> Iterator[tuple[TestClient, StatementLog]]:
    add_user(url, "boss")  # a superuser: every card
    add_user(url, "support", superuser=False, permissions=["ticket:view"])
    app = create_app(make_config(url), clock=FakeClock(NOW))
    log = StatementLog(app.state.engine)
    with TestClient(app, base_url="https://testserver") as client:
        assert client.portal is not None
        client.portal.call(fill, app)
        yield client, log


@pytest.fixture
def site(database_url: str) -> Iterator[tuple[TestClient, StatementLog]]:
    """The filled site of one test: for tests that change it, sign in another user or count
    statements (a figure another test read first would be kept, not read)."""
    with filled_site(database_url) as site:
        yield site


@pytest.fixture
def boss(site: tuple[TestClient, StatementLog]) -> TestClient:
    client, _ = site
    sign_in(client, "boss")
    return client


@pytest.fixture(scope="module")
def reader(module_database_url: str) -> Iterator[TestClient]:
    """The boss on one filled site per backend, shared by the tests that only read cards:
    filling a site and signing in for each of them cost most of the module's time."""
    with filled_site(module_database_url) as (client, _):
        sign_in(client, "boss")
        yield client


def card(client: TestClient, name: str) -> str:
    response = client.get(f"/admin/dashboard/cards/{name}")
    assert response.status_code == 200, response.text[-300:]
    return response.text


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_orders_and_revenue_compare_today_7_and_30_days_with_the_period_before(
    reader: TestClient,
) -> None:
    text = squeeze(card(reader, "orders"))
    # Today: three orders (the cancelled one earns nothing) against one by noon yesterday.
    assert "Today 3 +200% €1,300.50 +550%" in text  # in the shop's currency, DEFAULT_CURRENCY
    assert "7 days 5 +400% €2,499.50 +150%" in text
    assert "30 days 6 +500% €3,499.50 +600%" in text


def test_a_french_browser_gets_the_figures_with_french_separators_and_the_euro_after(
    reader: TestClient,
) -> None:
    response = reader.get("/admin/dashboard/cards/orders", headers={"Accept-Language": "fr-FR"})
    # Babel's French: a narrow no-break space between thousands, a comma before the cents.
    assert "Today 3 +200% 1 300,50 € +550%" in squeeze(response.text)
    assert "1\u202f300,50\xa0€" in response.text


def test_the_orders_chart_has_a_point_a_day_for_30_days_today_last(reader: TestClient) -> None:
    html = card(reader, "orders_per_day")
    assert 'data-points="30"' in html
    assert len(re.findall(r"<g data-sb-point=", html)) == 30
    assert len(re.findall(r"<circle ", html)) == 30
    today = re.search(r'<g data-sb-point="2026-06-15">\s*<title>([^<]+)', html)
    assert today and today.group(1) == "2026-06-15: orders 3"
    assert "2026-06-15: revenue €1,300.50" in html
    assert 'data-sb-point="2026-05-17"' in html and 'data-sb-point="2026-05-16"' not in html


def test_open_tickets_are_counted_by_priority_most_pressing_first(reader: TestClient) -> None:
    text = squeeze(card(reader, "open_tickets"))
    assert "4 urgent 2 high 1 normal 1 low 0" in text


def test_the_tickets_chart_counts_opened_and_closed_per_day(reader: TestClient) -> None:
    html = card(reader, "tickets_per_day")
    assert 'data-points="30"' in html
    assert "<title>2026-06-15: opened 2, closed 1</title>" in html
    assert "<title>2026-06-14: opened 1, closed 0</title>" in html


def test_low_stock_lists_products_under_the_live_threshold_lowest_first(reader: TestClient) -> None:
    html = card(reader, "low_stock")
    text = squeeze(html)
    assert "3 products with fewer than 10 in stock Empty : 0 Few : 3 Nine : 9" in text
    assert "Ten" not in text


def test_failing_jobs_counts_failures_of_the_last_24_hours_by_job(reader: TestClient) -> None:
    html = card(reader, "failing_jobs")
    assert "nightly</a>: 2 failed" in html and "hourly</a>: 1 failed" in html
    assert 'href="/admin/jobs/nightly"' in html


def test_the_job_runs_chart_has_24_hourly_points_stacked_by_status(reader: TestClient) -> None:
    html = card(reader, "job_runs_per_hour")
    assert 'data-points="24"' in html
    assert "<title>2026-06-15 10: succeeded 1, failed 1, skipped 0, running 0</title>" in html
    assert "<title>2026-06-15 09: succeeded 0, failed 1, skipped 0, running 0</title>" in html


def test_unread_notifications_counts_the_users_own(reader: TestClient) -> None:
    assert 'data-sb-figure="unread">1<' in card(reader, "unread_notifications")


def test_recent_activity_links_only_records_the_user_may_open(reader: TestClient) -> None:
    html = card(reader, "recent_activity")
    assert 'href="/admin/order/detail?pk=1"' in html
    assert "settings-edit" in html and "/admin/settings/detail" not in html


def test_numbers_have_thousands_separators(reader: TestClient) -> None:
    assert "3,499.50" in card(reader, "orders")


def test_a_user_without_order_view_sees_no_order_card_and_no_link_to_orders(
    site: tuple[TestClient, StatementLog],
) -> None:
    client, _ = site
    sign_in(client, "support")
    page = client.get("/admin/")
    assert page.status_code == 200
    assert 'data-sb-card="open_tickets"' in page.text
    shown = set(re.findall(r'data-sb-card="([^"]+)"', page.text))
    assert shown == {"open_tickets", "tickets_per_day", "unread_notifications"}
    for forbidden in ("/admin/order/", "/admin/product/", "/admin/jobs", "/admin/audit/"):
        assert forbidden not in page.text, f"a link to {forbidden} on a page that may not see it"
    assert client.get("/admin/dashboard/cards/orders").status_code == 403


def test_an_unknown_card_is_not_found(reader: TestClient) -> None:
    assert reader.get("/admin/dashboard/cards/nothing").status_code == 404


def test_the_dashboard_is_the_admins_home_with_every_card_for_a_superuser(
    reader: TestClient,
) -> None:
    page = reader.get("/admin/")
    assert page.status_code == 200
    shown = re.findall(r'data-sb-card="([^"]+)"', page.text)
    assert shown == [
        "orders",
        "open_tickets",
        "low_stock",
        "failing_jobs",
        "unread_notifications",
        "orders_per_day",
        "tickets_per_day",
        "job_runs_per_hour",
        "recent_activity",
    ]
    assert "total records" not in page.text  # starlette-admin's own index is gone


def test_the_dashboard_sends_one_statement_a_card(
    site: tuple[TestClient, StatementLog], boss: TestClient
) -> None:
    _, log = site
    log.reset()
    assert boss.get("/admin/").status_code == 200
    assert len(log) <= DASHBOARD_BUDGET, log.listing()
    log.reset()
    card(boss, "orders")
    assert len(log) <= CARD_BUDGET, log.listing()


async def a_late_ticket(app: Starlette) -> None:
    """Opened at 23:30 UTC on the 14th: the 15th in Paris."""
    async with app.state.session_factory.begin() as session:
        buyer = (await session.scalars(select(Customer))).first()
        late = dt.datetime(2026, 6, 14, 23, 30, tzinfo=dt.UTC)
        session.add(Ticket(customer=buyer, subject="late", created_at=late))


def test_a_reader_in_paris_gets_paris_days_and_hours_for_the_same_statements(
    site: tuple[TestClient, StatementLog], boss: TestClient, database_url: str
) -> None:
    client, log = site
    assert client.portal is not None
    client.portal.call(a_late_ticket, client.app)
    utc_tickets = card(boss, "tickets_per_day")
    choose(database_url, "boss", "Europe/Paris")
    boss.app.state.cache.drop_everything()  # type: ignore[attr-defined]  # changed behind its back

    log.reset()
    page = boss.get("/admin/")
    assert page.status_code == 200
    assert len(log) <= DASHBOARD_BUDGET, log.listing()

    assert "Days and hours are in <span data-sb-dashboard-zone>Europe/Paris</span>." in page.text
    assert "<title>2026-06-14: opened 2, closed 0</title>" in utc_tickets
    tickets = card(boss, "tickets_per_day")
    assert "<title>2026-06-15: opened 3, closed 1</title>" in tickets
    assert "<title>2026-06-14: opened 1, closed 0</title>" in tickets
    runs = card(boss, "job_runs_per_hour")
    assert "<title>2026-06-15 12: succeeded 1, failed 1, skipped 0, running 0</title>" in runs
    assert re.findall(r'<g data-sb-point="([^"]+)"', runs)[-1] == "2026-06-15 14"
    orders_chart = card(boss, "orders_per_day")
    assert re.findall(r'<g data-sb-point="([^"]+)"', orders_chart)[-1] == "2026-06-15"


def test_a_change_from_nothing_is_new_and_no_change_is_zero() -> None:
    assert Change(Decimal(3), Decimal(0)).text == "new"
    assert Change(Decimal(0), Decimal(0)).text == "±0%"
    assert Change(Decimal(1500), Decimal(1000)).text == "+50%"
    assert Change(Decimal(1), Decimal(4)).direction == "down"
    assert Change(Decimal("999.9"), Decimal(1000)).text == "±0%"  # not "-0%"


def test_closing_a_ticket_stamps_when_and_reopening_clears_it() -> None:
    ticket = Ticket(subject="s", status=TicketStatus.OPEN)
    assert ticket.closed_at is None
    ticket.status = TicketStatus.CLOSED
    assert ticket.closed_at is not None
    ticket.status = TicketStatus.WAITING
    assert ticket.closed_at is None


def test_a_team_adds_a_card_with_one_declared_function(
    boss: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "CARDS", dict(registry.CARDS))  # gone after the test

    @registry.card(
        "orders_by_ada",
        title="Ada's orders",
        template="dashboard/cards/unread.html",  # shows `figures.shown`
        permission="order:view",
        refresh_on=("model:order",),
        place=1,
    )
    async def orders_by_ada(session: AsyncSession, clock: Clock, user: CurrentUser) -> Any:
        stmt = select(func.count()).select_from(Order).join(Customer).where(Customer.name == "Ada")
        return {"shown": f"{await session.scalar(stmt):,}"}

    page = boss.get("/admin/").text
    assert re.findall(r'data-sb-card="([^"]+)"', page)[0] == "orders_by_ada"
    assert 'data-sb-refresh-on="model:order"' in page
    assert 'data-sb-figure="unread">8<' in card(boss, "orders_by_ada")


def test_a_ticket_closed_in_the_admin_counts_as_closed_today(boss: TestClient) -> None:
    form = boss.get("/admin/ticket/create").text
    assert 'name="closed_at"' not in form  # stamped, never typed
    saved = boss.post(
        "/admin/ticket/create",
        data={
            "csrftoken": csrf_token(form),
            "customer": "1",
            "subject": "Solved on the phone",
            "priority": "normal",
            "status": "closed",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[-500:]
    assert 'name="closed_at"' not in boss.get("/admin/ticket/edit?pk=6").text

    async def closed_at() -> dt.datetime | None:
        async with boss.app.state.session_factory() as session:  # type: ignore[attr-defined]
            stmt = select(Ticket.closed_at).where(Ticket.subject == "Solved on the phone")
            return await session.scalar(stmt)

    assert boss.portal is not None
    assert boss.portal.call(closed_at) is not None
