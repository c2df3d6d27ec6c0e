"""Cards' figures kept in the cache (app/dashboard/kept.py): read once, then served without a
statement until a change to what they are read from, their TTL, or a reader who sees them
otherwise; with Redis, one process's figures serve another's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from app.auth.current import Actor
from app.clock import FakeClock
from app.constance.records import Change
from app.dashboard.kept import KEPT_S
from app.db import create_engine
from app.main import create_app
from app.models import Order, OrderStatus
from app.statement_log import StatementLog
from tests.conftest import add_user, csrf_token, make_config, sign_in
from tests.dashboard.test_dashboard import NOW, at, card, fill, squeeze

TODAY_BEFORE = "Today 3 +200% €1,300.50 +550%"
WAIT_S = 10.0  # for another process's drop to arrive: generous, a busy machine is slow


@pytest.fixture
def boss(database_url: str) -> Iterator[tuple[TestClient, StatementLog, FakeClock]]:
    add_user(database_url, "boss")
    clock = FakeClock(NOW)
    app = create_app(make_config(database_url), clock=clock)
    log = StatementLog(app.state.engine)
    with TestClient(app, base_url="https://testserver") as client:
        assert client.portal is not None
        client.portal.call(fill, app)
        sign_in(client, "boss")
        yield client, log, clock


def orders_today(client: TestClient) -> str:
    text = squeeze(card(client, "orders"))
    return text[text.index("Today") :][: len(TODAY_BEFORE) + 4]


def test_a_second_dashboard_read_sends_no_statement(
    boss: tuple[TestClient, StatementLog, FakeClock],
) -> None:
    client, log, _ = boss
    first = client.get("/admin/")
    assert first.status_code == 200
    log.reset()
    again = client.get("/admin/")
    assert again.status_code == 200
    assert len(log) == 0, log.listing()
    assert again.text.count("data-sb-card=") == first.text.count("data-sb-card=") == 9


def test_a_changed_or_new_order_shows_on_the_next_read(
    boss: tuple[TestClient, StatementLog, FakeClock],
) -> None:
    client, _, _ = boss
    assert orders_today(client).startswith(TODAY_BEFORE)

    async def refund_the_first_order() -> None:
        async with client.app.state.session_factory.begin() as session:  # type: ignore[attr-defined]
            order = await session.scalar(select(Order).where(Order.total == Decimal("100.00")))
            order.status = OrderStatus.REFUNDED

    assert client.portal is not None
    client.portal.call(refund_the_first_order)
    assert orders_today(client).startswith("Today 3 +200% €1,200.50 +500%")

    async def one_more_order() -> None:
        async with client.app.state.session_factory.begin() as session:  # type: ignore[attr-defined]
            first = await session.scalar(select(Order).limit(1))
            assert first is not None
            paid = OrderStatus.PAID
            total = Decimal("10.00")
            when = at(0, 9)
            session.add(
                Order(customer_id=first.customer_id, total=total, status=paid, created_at=when)
            )

    client.portal.call(one_more_order)
    assert orders_today(client).startswith("Today 4 +300% €1,210.50 +505%")


def test_figures_are_kept_per_reader_language(
    boss: tuple[TestClient, StatementLog, FakeClock],
) -> None:
    client, _, _ = boss
    assert TODAY_BEFORE in squeeze(card(client, "orders"))
    french = client.get("/admin/dashboard/cards/orders", headers={"Accept-Language": "fr-FR"})
    assert "Today 3 +200% 1 300,50 € +550%" in squeeze(french.text)
    assert TODAY_BEFORE in squeeze(card(client, "orders"))


def test_a_change_behind_the_apps_back_is_seen_once_the_figures_age_out(
    boss: tuple[TestClient, StatementLog, FakeClock], database_url: str
) -> None:
    client, _, clock = boss
    assert orders_today(client).startswith(TODAY_BEFORE)

    async def cancel_everything() -> None:
        engine = create_engine(database_url)  # not the app's: no commit of its to drop them
        try:
            async with engine.begin() as connection:
                await connection.execute(update(Order).values(status=OrderStatus.CANCELLED))
        finally:
            await engine.dispose()

    assert client.portal is not None
    client.portal.call(cancel_everything)
    assert orders_today(client).startswith(TODAY_BEFORE)
    client.portal.call(clock.advance, KEPT_S + 1)
    assert orders_today(client).startswith("Today 3 +200% €0.00")


def test_figures_of_the_readers_own_are_kept_per_user(
    boss: tuple[TestClient, StatementLog, FakeClock], database_url: str
) -> None:
    client, _, _ = boss
    assert 'data-sb-figure="unread">1<' in card(client, "unread_notifications")
    add_user(database_url, "chief")  # no notification of their own
    token = csrf_token(client.get("/admin/").text)
    assert client.post("/admin/logout", data={"csrftoken": token}).status_code == 200
    sign_in(client, "chief")
    assert 'data-sb-figure="unread">0<' in card(client, "unread_notifications")


def test_a_live_setting_a_card_depends_on_shows_on_the_next_read(
    boss: tuple[TestClient, StatementLog, FakeClock],
) -> None:
    client, _, _ = boss
    assert "3 products with fewer than 10 in stock" in squeeze(card(client, "low_stock"))

    async def lower_the_threshold() -> None:
        store = client.app.state.settings_store  # type: ignore[attr-defined]
        await store.save([Change("LOW_STOCK_THRESHOLD", 5)], Actor(None, "test", None))

    assert client.portal is not None
    client.portal.call(lower_the_threshold)
    assert "2 products with fewer than 5 in stock" in squeeze(card(client, "low_stock"))


@pytest.mark.redis
def test_with_redis_one_processes_figures_serve_another_and_a_change_reaches_both(
    sqlite_url: str, redis_url: str
) -> None:
    add_user(sqlite_url, "boss")
    config = make_config(sqlite_url, redis_url=redis_url)
    here, there = (create_app(config, clock=FakeClock(NOW)) for _ in range(2))
    log = StatementLog(there.state.engine)
    with (
        TestClient(here, base_url="https://testserver") as first,
        TestClient(there, base_url="https://testserver") as second,
    ):
        assert first.portal is not None
        first.portal.call(fill, here)
        sign_in(first, "boss")
        sign_in(second, "boss")
        assert first.get("/admin/").status_code == 200  # read, and kept in Redis

        log.reset()
        assert second.get("/admin/").status_code == 200
        card_statements = [s for s, _ in log.statements if "user_account" not in s]
        assert card_statements == [], log.listing()

        async def refund_the_first_order() -> None:
            async with here.state.session_factory.begin() as session:
                order = await session.scalar(select(Order).where(Order.total == Decimal("100.00")))
                order.status = OrderStatus.REFUNDED

        first.portal.call(refund_the_first_order)
        assert orders_today(first).startswith("Today 3 +200% €1,200.50")
        deadline = time.monotonic() + WAIT_S
        while not orders_today(second).startswith("Today 3 +200% €1,200.50"):
            assert time.monotonic() < deadline, orders_today(second)
            time.sleep(0.01)
