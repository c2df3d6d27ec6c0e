"""A filtered list's count past its cap is kept a while, and dropped by a change to what it
counts (app/admin/list_counts.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.admin.model_view import AutoModelView
from app.main import create_app
from app.models import Customer, Order, OrderStatus
from app.shop.seed import seed_demo
from app.statement_log import StatementLog
from tests.conftest import add_user, csrf_token, make_config, sign_in

CAP = 25  # the order list's count stops here in these tests (a page of 10 is under it)
ORDERS = 40
OPEN = "/admin/order/list?status__in=pending,paid&page_size=10"


@dataclass
class Site:
    app: Starlette
    client: TestClient
    log: StatementLog

    def page(self, path: str) -> tuple[str, bool]:
        """The page's text, and whether it counted (a count was among its statements)."""
        self.log.reset()
        answer = self.client.get(path)
        assert answer.status_code == 200, answer.text
        counted = any("count(" in sql.lower() for sql, _ in self.log.statements)
        return answer.text, counted

    def set_status(self, status: OrderStatus, *, but: int = 0) -> None:
        """Every order to `status` but the first `but`, through the app's own sessions."""

        async def change() -> None:
            async with self.app.state.session_factory.begin() as session:
                await session.execute(update(Order).where(Order.id > but).values(status=status))

        assert self.client.portal is not None
        self.client.portal.call(change)


@pytest.fixture
def site(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setattr(AutoModelView, "exact_count_limit", CAP)
    add_user(database_url, "admin")
    app = create_app(make_config(database_url))
    log = StatementLog(app.state.engine)
    with TestClient(app, base_url="https://testserver") as client:
        assert client.portal is not None
        client.portal.call(lambda: seed_demo(app.state.session_factory, orders=ORDERS, echo=print))
        sign_in(client, "admin")
        site = Site(app, client, log)
        site.set_status(OrderStatus.PAID)
        yield site


def test_a_filter_past_its_cap_is_counted_once_then_kept(site: Site) -> None:
    first, counted = site.page(OPEN)
    assert counted and f"at least {CAP} entries" in first
    again, counted = site.page(OPEN)
    assert not counted, site.log.listing()
    assert f"at least {CAP} entries" in again
    # Its next page is the same filter: the count is kept for it too.
    assert not site.page(f"{OPEN}&page=2")[1]


def test_a_change_to_the_orders_drops_the_kept_count(site: Site) -> None:
    assert site.page(OPEN)[1]
    site.set_status(OrderStatus.CANCELLED, but=2)  # two orders left open
    shown, counted = site.page(OPEN)
    assert counted
    assert "at least" not in shown and "2 entries" in shown.replace("\n", " ")


def test_a_change_to_a_related_table_drops_it_too(site: Site) -> None:
    # A search reads the customers' names: a change to a customer may change the count.
    searched = f"{OPEN}&q=a"
    assert site.page(searched)[1]
    assert not site.page(searched)[1]

    async def rename() -> None:
        async with site.app.state.session_factory.begin() as session:
            await session.execute(update(Customer).values(city="Zagreb"))

    assert site.client.portal is not None
    site.client.portal.call(rename)
    assert site.page(searched)[1]


def test_a_count_under_its_cap_is_counted_every_time(site: Site) -> None:
    site.set_status(OrderStatus.CANCELLED, but=3)
    for _ in range(2):
        shown, counted = site.page(OPEN)
        assert counted and "at least" not in shown


def test_each_filter_and_reader_counts_for_itself(site: Site) -> None:
    assert site.page(OPEN)[1]
    assert site.page("/admin/order/list?status__in=paid&page_size=10")[1]
    add_user(str(site.app.state.config.database_url), "other")
    token = csrf_token(site.client.get("/admin/account/preferences").text)
    assert site.client.post("/admin/logout", data={"csrftoken": token}).status_code == 200
    sign_in(site.client, "other")
    shown, counted = site.page(OPEN)
    assert counted and ">other<" in shown
