"""The order summary the dashboard reads stays exact however orders are written: through the
ORM, in bulk, or in raw SQL; inserted, changed in status, total or time, and deleted.

After each kind of write the orders card and the orders chart equal a count over the orders
table itself, and the summary's rows equal the orders grouped by UTC hour and status.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import DateTime, bindparam, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.current import CurrentUser
from app.clock import FakeClock
from app.dashboard.cards.orders import CHART_DAYS, orders, orders_per_day
from app.dashboard.periods import day_key, last_days, windows
from app.db import as_utc, create_session_factory
from app.local_formats import Reader, use_reader
from app.models import Customer, Order, OrderStatus
from app.models.shop import OrderHour
from app.shop.order_hours import NOT_REVENUE, hour_of
from app.shop.seed import seed_demo

# Off the hour, so every stretch the card compares has minutes at its ends.
NOW = dt.datetime(2026, 6, 15, 12, 37, 21, 500000, tzinfo=dt.UTC)
CLOCK = FakeClock(NOW)
USER = CurrentUser(id=1, username="boss", is_superuser=True)
CENT = Decimal("0.01")
MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)

# Each an order at a moment next to an edge the card or chart cuts at: in the same hour as
# the edge, on either side of it.
PLACED = [
    ("100.00", OrderStatus.PAID, NOW - MINUTE),
    ("50.00", OrderStatus.CANCELLED, NOW - 40 * MINUTE),
    ("1200.50", OrderStatus.PENDING, NOW.replace(hour=0, minute=5)),
    ("19.99", OrderStatus.PAID, NOW - DAY - MINUTE),  # yesterday, just before this time
    ("20.01", OrderStatus.SHIPPED, NOW - DAY + MINUTE),  # yesterday, just after it
    ("999.00", OrderStatus.DELIVERED, NOW - 7 * DAY + MINUTE),
    ("0.10", OrderStatus.REFUNDED, NOW - 7 * DAY - MINUTE),
    ("1000.00", OrderStatus.DELIVERED, NOW - 14 * DAY + 2 * MINUTE),
    ("333.33", OrderStatus.PAID, NOW - 30 * DAY - MINUTE),
    ("500.00", OrderStatus.PAID, NOW - 30 * DAY + MINUTE),
    ("0.07", OrderStatus.PAID, NOW - 60 * DAY + MINUTE),
    ("42.00", OrderStatus.PAID, NOW - 60 * DAY - MINUTE),  # before every stretch
    ("7.00", OrderStatus.PAID, NOW + MINUTE),  # after now: not yet
]


@pytest.fixture
async def session_factory(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    factory = create_session_factory(engine)
    async with factory.begin() as session:
        buyer = Customer(name="Ada", email="ada@example.com")
        session.add(buyer)
        for total, status, when in PLACED:
            session.add(Order(customer=buyer, total=Decimal(total), status=status, created_at=when))
    yield factory


def cents(amount: Decimal | float) -> int:
    return round(Decimal(str(amount)) * 100)


async def stored_orders(session: AsyncSession) -> list[tuple[dt.datetime, OrderStatus, int]]:
    rows = await session.execute(select(Order.created_at, Order.status, Order.total))
    return [(as_utc(at), status, cents(total)) for at, status, total in rows]


def counted(
    placed: list[tuple[dt.datetime, OrderStatus, int]], start: dt.datetime, end: dt.datetime
) -> tuple[int, Decimal]:
    inside = [(status, c) for at, status, c in placed if start <= at < end]
    earned = sum(c for status, c in inside if status not in NOT_REVENUE)
    return len(inside), Decimal(earned) * CENT


def by_hour_and_status(
    placed: list[tuple[dt.datetime, OrderStatus, int]],
) -> dict[tuple[dt.datetime, OrderStatus], tuple[int, int]]:
    """The orders grouped as the summary keeps them: (count, revenue cents) per hour and status."""
    grouped: Counter[tuple[dt.datetime, OrderStatus]] = Counter()
    revenue: Counter[tuple[dt.datetime, OrderStatus]] = Counter()
    for at, status, c in placed:
        grouped[hour_of(at), status] += 1
        revenue[hour_of(at), status] += c
    return {key: (n, revenue[key]) for key, n in grouped.items()}


async def assert_figures_match_the_orders(
    factory: async_sessionmaker[AsyncSession], now: dt.datetime = NOW, zone: str = "UTC"
) -> None:
    use_reader(Reader(zone))  # as a request from a reader in `zone` would
    async with factory() as session:
        placed = await stored_orders(session)
        card = await orders(session, FakeClock(now), USER)
        chart = await orders_per_day(session, FakeClock(now), USER)
        summary = (await session.execute(select(OrderHour).where(OrderHour.orders != 0))).scalars()
        kept = {(as_utc(row.hour), row.status): (row.orders, row.revenue_cents) for row in summary}
    use_reader(Reader())

    for period, span in zip(card.periods, windows(now, zone), strict=True):
        assert (period.orders, period.revenue) == counted(placed, span.start, span.end), span
        before = counted(placed, span.before_start, span.before_end)
        assert (period.orders_change.before, period.revenue_change.before) == before, span

    days = last_days(now, CHART_DAYS, zone)
    ends = [*days[1:], now]
    per_day = [counted(placed, start, end) for start, end in zip(days, ends, strict=True)]
    assert [(c.label, c.segments[0].value) for c in chart.columns] == [
        (day_key(d, zone), n) for d, (n, _) in zip(days, per_day, strict=True)
    ]
    # Outside a request the figures are read in English, in app/local_formats.py's default USD.
    assert [dot.shown for dot in chart.line] == [f"${revenue:,.2f}" for _, revenue in per_day]

    assert kept == by_hour_and_status(placed)


async def test_orders_added_through_the_orm_are_counted_to_the_minute(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await assert_figures_match_the_orders(session_factory)
    async with session_factory() as session:
        card = await orders(session, CLOCK, USER)
    today = card.periods[0]
    assert (today.orders, today.revenue) == (3, Decimal("1300.50"))


# Either side of a local midnight: Paris's (on the hour), Kolkata's (+05:30) and St John's
# (-02:30 in summer) fall inside a UTC hour, which the summary keeps whole.
AROUND_MIDNIGHTS = [
    dt.datetime(2026, 6, 8, 21, 59, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 8, 22, 1, tzinfo=dt.UTC),  # 9 June, 00:01 in Paris
    dt.datetime(2026, 6, 11, 18, 29, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 11, 18, 31, tzinfo=dt.UTC),  # 12 June, 00:01 in Kolkata
    dt.datetime(2026, 6, 10, 2, 29, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 10, 2, 31, tzinfo=dt.UTC),  # 10 June, 00:01 in St John's
    dt.datetime(2026, 5, 16, 18, 31, tzinfo=dt.UTC),  # Kolkata's first day of the 30, 00:01
    dt.datetime(2026, 6, 14, 22, 30, tzinfo=dt.UTC),  # today in Paris, yesterday in UTC
]


@pytest.mark.parametrize("zone", ["Europe/Paris", "Asia/Kolkata", "America/St_Johns"])
async def test_a_readers_days_are_their_zones_days_to_the_minute(
    session_factory: async_sessionmaker[AsyncSession], zone: str
) -> None:
    async with session_factory.begin() as session:
        buyer = (await session.scalars(select(Customer))).one()
        for i, when in enumerate(AROUND_MIDNIGHTS):
            session.add(Order(customer=buyer, total=Decimal(10 + i), created_at=when))

    await assert_figures_match_the_orders(session_factory, NOW, zone)


async def test_days_follow_the_clocks_change_and_are_labelled_with_the_readers_dates(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Paris leaves summer time on 25 October: that day is 25 hours long.
    autumn = dt.datetime(2026, 11, 10, 9, 15, tzinfo=dt.UTC)
    async with session_factory.begin() as session:
        buyer = (await session.scalars(select(Customer))).one()
        for when in [
            dt.datetime(2026, 10, 24, 21, 59, tzinfo=dt.UTC),  # 24 Oct, 23:59 CEST
            dt.datetime(2026, 10, 24, 22, 1, tzinfo=dt.UTC),  # 25 Oct, 00:01 CEST
            dt.datetime(2026, 10, 25, 22, 59, tzinfo=dt.UTC),  # 25 Oct, 23:59 CET
            dt.datetime(2026, 10, 25, 23, 1, tzinfo=dt.UTC),  # 26 Oct, 00:01 CET
        ]:
            session.add(Order(customer=buyer, total=Decimal("5.00"), created_at=when))

    await assert_figures_match_the_orders(session_factory, autumn, "Europe/Paris")
    use_reader(Reader("Europe/Paris"))
    async with session_factory() as session:
        chart = await orders_per_day(session, FakeClock(autumn), USER)
    use_reader(Reader())
    shown = {c.label: c.segments[0].value for c in chart.columns}
    assert (shown["2026-10-24"], shown["2026-10-25"], shown["2026-10-26"]) == (1, 2, 1)
    assert chart.columns[-1].label == "2026-11-10"


async def test_status_total_and_time_changes_through_the_orm_move_the_figures(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory.begin() as session:
        placed = {o.total: o for o in (await session.scalars(select(Order))).all()}
        placed[Decimal("100.00")].status = OrderStatus.REFUNDED  # no longer revenue
        placed[Decimal("50.00")].status = OrderStatus.PAID  # now revenue
        placed[Decimal("999.00")].total = Decimal("998.75")
        placed[Decimal("1200.50")].created_at = NOW - 20 * DAY + 3 * MINUTE  # another day
        placed[Decimal("19.99")].created_at = NOW - DAY + 5 * MINUTE  # across the edge
        placed[Decimal("20.01")].shipped_at = NOW  # a column the summary does not keep
    await assert_figures_match_the_orders(session_factory)


async def test_orders_deleted_through_the_orm_leave_the_figures(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory.begin() as session:
        for order in (await session.scalars(select(Order).where(Order.total < 100))).all():
            await session.delete(order)
    await assert_figures_match_the_orders(session_factory)
    async with session_factory() as session:
        assert await session.scalar(select(Order.id).where(Order.total < 100)) is None


async def test_bulk_and_raw_sql_writes_are_counted_too(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory.begin() as session:
        buyer = await session.scalar(select(Customer.id))
        await session.execute(
            insert(Order),
            [
                {
                    "customer_id": buyer,
                    "status": "paid",
                    "total": Decimal("10.10"),
                    "created_at": at,
                }
                for at in (NOW - 2 * MINUTE, NOW - 3 * DAY, NOW - 31 * DAY + 9 * MINUTE)
            ],
        )
        moment = bindparam("at", type_=DateTime(timezone=True))
        await session.execute(
            text(
                "INSERT INTO orders (customer_id, status, total, created_at)"
                " VALUES (:buyer, 'shipped', 0.30, :at)"
            ).bindparams(moment),
            {"buyer": buyer, "at": NOW - 7 * DAY - 30 * MINUTE},
        )
        await session.execute(text("UPDATE orders SET status = 'cancelled' WHERE total > 900"))
        await session.execute(text("UPDATE orders SET total = total + 0.01 WHERE total < 1"))
        await session.execute(
            text("UPDATE orders SET created_at = :at WHERE total = 333.33").bindparams(moment),
            {"at": NOW - 5 * MINUTE},
        )
        await session.execute(text("DELETE FROM orders WHERE total = 500"))
        await session.execute(
            update(Order).where(Order.status == OrderStatus.PENDING).values(total=Decimal("1"))
        )
        await session.execute(delete(Order).where(Order.total == Decimal("42.00")))
    await assert_figures_match_the_orders(session_factory)


async def test_figures_read_no_more_than_the_summary_and_the_minutes_at_the_edges(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # With the summary emptied behind the triggers' back, only the minutes at the edges are
    # left: proof that whole hours are read from the summary, not from the orders.
    async with session_factory.begin() as session:
        await session.execute(delete(OrderHour))
    async with session_factory() as session:
        card = await orders(session, CLOCK, USER)
    today = card.periods[0]
    # Today's whole hours went with the summary; the order a minute ago, after 12:00, is left.
    assert (today.orders, today.revenue) == (1, Decimal("100.00"))


async def test_seed_demos_bulk_load_fills_the_summary(engine: AsyncEngine) -> None:
    # executemany on SQLite, COPY on PostgreSQL: the triggers see both.
    factory = create_session_factory(engine)
    await seed_demo(factory, orders=300, echo=lambda _: None)
    async with factory() as session:
        placed = await stored_orders(session)
        summary = (await session.execute(select(OrderHour))).scalars()
        kept = {(as_utc(row.hour), row.status): (row.orders, row.revenue_cents) for row in summary}
    assert len(placed) == 300
    assert kept == by_hour_and_status(placed)
