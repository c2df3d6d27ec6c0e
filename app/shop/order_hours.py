"""Reading the order summary (`OrderHour`, kept by database triggers) instead of the orders.

A stretch of time is read as its whole UTC hours from the summary and the minutes left at
either end from the orders themselves (an indexed range of at most an hour each), so the
figures equal a count over `orders` for any stretch, to the microsecond.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, and_, false, func, or_
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import KeyedColumnElement

from app.models.shop import Order, OrderHour, OrderStatus

HOUR = dt.timedelta(hours=1)
# Revenue counts orders neither cancelled nor refunded.
NOT_REVENUE = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)
ORDERS = Order.__table__.c
SUMMARY = OrderHour.__table__.c


def hour_of(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour `moment` falls in."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Stretch:
    """[start, end): its whole UTC hours, and the minutes before and after them."""

    start: dt.datetime
    end: dt.datetime

    @property
    def hours(self) -> tuple[dt.datetime, dt.datetime] | None:
        first = hour_of(self.start)
        first = first if first == self.start else first + HOUR
        last = hour_of(self.end)
        return (first, last) if first < last else None

    @property
    def edges(self) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        hours = self.hours
        if hours is None:
            pieces = [(self.start, self.end)]
        else:
            pieces = [(self.start, hours[0]), (hours[1], self.end)]
        return tuple((a, b) for a, b in pieces if a < b)

    def in_summary(self) -> ColumnElement[bool]:
        """Which summary rows this stretch's whole hours are."""
        hours = self.hours
        if hours is None:
            return false()
        return and_(OrderHour.hour >= hours[0], OrderHour.hour < hours[1])

    def in_orders(self) -> ColumnElement[bool]:
        """Which orders fall in this stretch's minutes outside its whole hours."""
        edges = [and_(Order.created_at >= a, Order.created_at < b) for a, b in self.edges]
        return or_(*edges) if edges else false()


def stretch(start: dt.datetime, end: dt.datetime) -> Stretch:
    return Stretch(start.astimezone(dt.UTC), end.astimezone(dt.UTC))


def earning_hours() -> ColumnElement[bool]:
    return OrderHour.status.not_in(NOT_REVENUE)


def earning_orders() -> ColumnElement[bool]:
    return Order.status.not_in(NOT_REVENUE)


def order_cents() -> ColumnElement[Any]:
    """An order's total in whole cents, as the summary keeps it."""
    return func.round(Order.total * 100)


# The orders' columns the summary keeps as they are: a filter on those reads it unchanged.
SAME_IN_SUMMARY: dict[KeyedColumnElement[Any], KeyedColumnElement[Any]] = {
    ORDERS.status: SUMMARY.status
}


def on_summary(clause: ColumnElement[bool]) -> ColumnElement[bool] | None:
    """`clause`, about orders, said of the summary's rows; None when it reads a column the
    summary does not keep (a customer, a total, a time inside an hour)."""
    read = {element for element in visitors.iterate(clause) if isinstance(element, Column)}
    if not read or not read <= SAME_IN_SUMMARY.keys():
        return None

    def swap(element: Any, **_: Any) -> Any:
        return SAME_IN_SUMMARY.get(element) if isinstance(element, Column) else None

    swapped: ColumnElement[bool] = visitors.replacement_traverse(clause, {}, swap)
    return swapped
