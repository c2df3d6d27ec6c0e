"""Orders and revenue: today, 7 and 30 days against the period before; per day over 30 days.

Revenue counts orders neither cancelled nor refunded. Both read the order summary's whole
hours and, for the minutes at either end of a stretch, the orders themselves
(app/shop/order_hours.py): one statement each, a few thousand summary rows, never the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, case, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.clock import Clock
from app.dashboard.charts import Chart, columns_chart, with_line
from app.dashboard.figures import Change, money, whole
from app.dashboard.periods import (
    HOUR,
    day_finder,
    day_key,
    last_days,
    off_the_hour,
    straddled_hours,
    utc_hour_after,
    windows,
)
from app.dashboard.registry import card
from app.local_formats import reader
from app.models.shop import Order, OrderHour
from app.shop.order_hours import (
    Stretch,
    earning_hours,
    earning_orders,
    order_cents,
    stretch,
)

CHART_DAYS = 30
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Period:
    label: str
    orders: int
    revenue: Decimal
    orders_change: Change
    revenue_change: Change

    @property
    def orders_shown(self) -> str:
        return whole(self.orders)

    @property
    def revenue_shown(self) -> str:
        return money(self.revenue)


@dataclass(frozen=True)
class OrderFigures:
    periods: tuple[Period, ...]


def tallies(stretches: Sequence[Stretch]) -> Any:
    """One statement, one row: for each stretch, its orders and revenue cents in the summary's
    whole hours, then in the orders at its ends; each a scalar subquery over one range of an
    index. (Their UNION made PostgreSQL start parallel workers, slower than the reads.)"""
    earning, earning_order, earned_cents = earning_hours(), earning_orders(), order_cents()
    columns: list[Any] = []
    for each in stretches:
        hours, minutes = each.in_summary(), each.in_orders()
        revenue = case((earning, OrderHour.revenue_cents))
        edge_revenue = case((earning_order, earned_cents))
        columns += [
            select(func.coalesce(func.sum(OrderHour.orders), 0)).where(hours),
            select(func.coalesce(func.sum(revenue), 0)).where(hours),
            select(func.count()).select_from(Order).where(minutes),
            select(func.coalesce(func.sum(edge_revenue), 0)).where(minutes),
        ]
    return select(*(column.scalar_subquery() for column in columns))


def in_money(cents: int) -> Decimal:
    return Decimal(cents) * CENT


@card(
    "orders",
    title="Orders and revenue",
    template="dashboard/cards/orders.html",
    permission="order:view",
    refresh_on=("model:order",),
    place=10,
    reads=(Order, OrderHour),
)
async def orders(session: AsyncSession, clock: Clock, user: CurrentUser) -> OrderFigures:
    spans = windows(clock.now(), reader().zone)
    stretches = [
        stretch(start, end)
        for span in spans
        for start, end in ((span.start, span.end), (span.before_start, span.before_end))
    ]
    row = [int(value) for value in (await session.execute(tallies(stretches))).one()]
    counts = [row[4 * i] + row[4 * i + 2] for i in range(len(stretches))]
    cents = [row[4 * i + 1] + row[4 * i + 3] for i in range(len(stretches))]
    periods = []
    for i, span in enumerate(spans):
        count, count_before = counts[2 * i : 2 * i + 2]
        revenue, revenue_before = in_money(cents[2 * i]), in_money(cents[2 * i + 1])
        periods.append(
            Period(
                span.label,
                count,
                revenue,
                Change(Decimal(count), Decimal(count_before)),
                Change(revenue, revenue_before),
            )
        )
    return OrderFigures(tuple(periods))


@card(
    "orders_per_day",
    title=f"Orders and revenue per day, last {CHART_DAYS} days",
    template="dashboard/cards/chart.html",
    permission="order:view",
    refresh_on=("model:order",),
    wide=True,
    place=50,
    reads=(Order, OrderHour),
)
async def orders_per_day(session: AsyncSession, clock: Clock, user: CurrentUser) -> Chart:
    now, zone = clock.now(), reader().zone
    days = last_days(now, CHART_DAYS, zone)
    span = stretch(days[0], now)
    # Summary hours a day starts inside of (zones off the whole hour) are read from the orders.
    straddled = straddled_hours(days)
    shift = off_the_hour(zone, now)
    summary_hour = utc_hour_after(OrderHour.hour, 0)
    from_summary = (
        select(
            summary_hour,
            literal(0, Integer()),
            func.sum(OrderHour.orders),
            func.coalesce(func.sum(case((earning_hours(), OrderHour.revenue_cents))), 0),
        )
        .where(span.in_summary(), *([OrderHour.hour.not_in(straddled)] if straddled else []))
        .group_by(summary_hour)
    )
    order_hour = utc_hour_after(Order.created_at, shift)
    in_straddled = [
        and_(Order.created_at >= h, Order.created_at < min(h + HOUR, now)) for h in straddled
    ]
    at_edges = (
        select(
            order_hour,
            literal(shift, Integer()),
            func.count(),
            func.coalesce(func.sum(case((earning_orders(), order_cents()))), 0),
        )
        .where(or_(span.in_orders(), *in_straddled))
        .group_by(order_hour)
    )
    day_of = {0: day_finder(days, 0), shift: day_finder(days, shift)}
    totals = [[0, 0] for _ in days]
    for key, moved, n, cents in await session.execute(union_all(from_summary, at_edges)):
        total = totals[day_of[moved](key)]
        total[0] += int(n)
        total[1] += int(cents)
    labels = [day_key(d, zone) for d in days]
    counts = [(n, cents) for n, cents in totals]
    chart = columns_chart(
        "Orders per day",
        [(label, [n]) for label, (n, _) in zip(labels, counts, strict=True)],
        ["orders"],
    )
    revenue = [float(in_money(cents)) for _, cents in counts]
    return with_line(chart, "revenue", revenue, lambda v: money(Decimal(v).quantize(CENT)))
