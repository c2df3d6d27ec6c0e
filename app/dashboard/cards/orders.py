"""Orders and revenue: today, 7 and 30 days against the period before; per day over 30 days.

Revenue counts orders neither cancelled nor refunded. Both read one range of the
(created_at, status, total) index, never the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.clock import Clock
from app.dashboard.charts import Chart, columns_chart, with_line
from app.dashboard.figures import Change, money, whole
from app.dashboard.periods import day_key, last_days, utc_day, windows
from app.dashboard.registry import card
from app.models.shop import Order, OrderStatus

CHART_DAYS = 30
NOT_REVENUE = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)


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


def _earning() -> ColumnElement[bool]:
    return Order.status.not_in(NOT_REVENUE)


@card(
    "orders",
    title="Orders and revenue",
    template="dashboard/cards/orders.html",
    permission="order:view",
    refresh_on=("model:order",),
    place=10,
)
async def orders(session: AsyncSession, clock: Clock, user: CurrentUser) -> OrderFigures:
    now = clock.now()
    spans = windows(now)
    columns: list[ColumnElement[Any]] = []
    for span in spans:
        for start, end in ((span.start, span.end), (span.before_start, span.before_end)):
            inside = and_(Order.created_at >= start, Order.created_at < end)
            columns.append(func.count(case((inside, 1))))
            columns.append(func.coalesce(func.sum(case((inside & _earning(), Order.total))), 0))
    earliest = min(span.before_start for span in spans)
    stmt = select(*columns).where(Order.created_at >= earliest, Order.created_at < now)
    row = (await session.execute(stmt)).one()
    periods = []
    for i, span in enumerate(spans):
        count, revenue, count_before, revenue_before = row[4 * i : 4 * i + 4]
        periods.append(
            Period(
                span.label,
                int(count),
                Decimal(revenue),
                Change(Decimal(count), Decimal(count_before)),
                Change(Decimal(revenue), Decimal(revenue_before)),
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
)
async def orders_per_day(session: AsyncSession, clock: Clock, user: CurrentUser) -> Chart:
    now = clock.now()
    days = last_days(now, CHART_DAYS)
    day = utc_day(Order.created_at)
    revenue = func.coalesce(func.sum(case((_earning(), Order.total))), 0)
    stmt = (
        select(day, func.count(), revenue)
        .where(Order.created_at >= days[0], Order.created_at < now)
        .group_by(day)
    )
    found = {key: (int(n), Decimal(total)) for key, n, total in await session.execute(stmt)}
    counts = [found.get(day_key(d), (0, Decimal(0))) for d in days]
    chart = columns_chart(
        "Orders per day",
        [(day_key(d), [n]) for d, (n, _) in zip(days, counts, strict=True)],
        ["orders"],
    )
    return with_line(chart, "revenue", [float(total) for _, total in counts], lambda v: f"{v:,.2f}")
