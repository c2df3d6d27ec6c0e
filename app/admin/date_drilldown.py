"""A list's date drill-down, like Django's `date_hierarchy`: years, then a year's months, then a
month's days of the list's main date column, each with how many of the listed rows fall in it.

The list page links each bucket as a lookup range (`created_at__gte=2026-01-01&created_at__lt=
2027-01-01`), so a drill-down is bookmarkable like any filter. The counts come in a fragment of
their own (`/admin/<model>/dates`), loaded after the page: the list keeps its statement budget.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Date, DateTime, Select, func, inspect, select
from sqlalchemy.orm import ColumnProperty, Mapper
from sqlalchemy.sql import ColumnElement
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.status import HTTP_404_NOT_FOUND
from starlette_admin.routing import route

from app.admin.library import searched_and_filtered
from app.admin.list_fragments import ListFragments
from app.admin.lookups import Lookup
from app.auth.secrets import is_secret
from app.models.shop import Order, OrderHour
from app.shop.order_hours import on_summary

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=256)  # asked on every list page; a mapper's columns do not change
def main_date_column(mapper: Mapper[Any]) -> ColumnElement[Any] | None:
    """The model's first indexed Date or DateTime column: what its list drills down by."""
    table = mapper.local_table
    leading = {next(iter(index.columns)).key for index in getattr(table, "indexes", ())}
    for prop in mapper.column_attrs:
        if not isinstance(prop, ColumnProperty) or is_secret(prop.key):
            continue
        column = prop.columns[0]
        if isinstance(column.type, Date | DateTime) and (column.index or column.key in leading):
            return column
    return None


@dataclass(frozen=True)
class Bucket:
    label: str
    start: dt.date
    end: dt.date  # the day after the bucket
    count: int


@dataclass(frozen=True)
class Level:
    """Where the drill-down stands: the range shown (None: all time) and its bucket size."""

    start: dt.date | None
    end: dt.date | None
    size: str  # "year", "month", "day", or "" when the range is one day

    @property
    def up(self) -> tuple[dt.date, dt.date] | None:
        """The range one level up; None at the top."""
        if self.start is None:
            return None
        if self.size == "month":
            return None  # a year's months: up is all time, the range removed
        if self.size == "day":
            return dt.date(self.start.year, 1, 1), dt.date(self.start.year + 1, 1, 1)
        return self.start.replace(day=1), next_month(self.start.replace(day=1))


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def level_of(gte: str, lt: str) -> Level:
    """The level a `__gte`/`__lt` pair of dates stands for; any other range counts as all time."""
    try:
        start, end = dt.date.fromisoformat(gte), dt.date.fromisoformat(lt)
    except ValueError:
        return Level(None, None, "year")
    if start.month == 1 and start.day == 1 and end == dt.date(start.year + 1, 1, 1):
        return Level(start, end, "month")
    if start.day == 1 and end == next_month(start):
        return Level(start, end, "day")
    if end == start + dt.timedelta(days=1):
        return Level(start, end, "")
    return Level(None, None, "year")


def bucket_text(column: ColumnElement[Any], size: str, dialect: str) -> ColumnElement[str]:
    """The bucket a row falls in as text: `2026`, `2026-01`, `2026-01-31` (UTC)."""
    pattern = {"year": "YYYY", "month": "YYYY-MM", "day": "YYYY-MM-DD"}[size]
    if dialect == "sqlite":
        # Stored as ISO text in UTC: the bucket is a prefix, read along the column's index.
        return func.substr(column, 1, len(pattern))
    moment: Any = column
    if isinstance(column.type, DateTime) and column.type.timezone:
        moment = func.timezone("UTC", column)
    return func.to_char(moment, pattern)


def buckets_of(level: Level, counts: dict[str, int]) -> list[Bucket]:
    found = []
    for text, count in sorted(counts.items()):
        if not text:
            continue
        parts = [int(p) for p in text.split("-")]
        if level.size == "year":
            start = dt.date(parts[0], 1, 1)
            found.append(Bucket(text, start, dt.date(parts[0] + 1, 1, 1), count))
        elif level.size == "month":
            start = dt.date(parts[0], parts[1], 1)
            found.append(Bucket(MONTHS[parts[1] - 1], start, next_month(start), count))
        else:
            start = dt.date(parts[0], parts[1], parts[2])
            found.append(Bucket(str(parts[2]), start, start + dt.timedelta(days=1), count))
    return found


def counted_by_hour(
    column: ColumnElement[Any], level: Level, lookups: list[Lookup], dialect: str
) -> Select[Any] | None:
    """The buckets' counts from the order summary, which holds orders per hour and status, when
    it can answer: the orders' own date column, filtered on nothing it does not keep."""
    if column is not Order.__table__.c.created_at:
        return None
    kept = [on_summary(lookup.clause) for lookup in lookups]
    where = [clause for clause in kept if clause is not None]
    if len(where) < len(kept):
        return None  # a filter on a customer, a total, a time within an hour: count the orders
    text = bucket_text(OrderHour.__table__.c.hour, level.size, dialect)
    stmt: Any = select(text, func.sum(OrderHour.orders)).where(*where)
    if level.start is not None and level.end is not None:
        stmt = stmt.where(OrderHour.hour >= at_midnight(level.start))
        stmt = stmt.where(OrderHour.hour < at_midnight(level.end))
    # An hour whose orders all went keeps its row at zero: no bucket for it.
    counted: Select[Any] = stmt.group_by(text).having(func.sum(OrderHour.orders) > 0)
    return counted


def at_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


class DateDrillDown(ListFragments):
    """The admin's `/<model>/dates` fragment (docs/reference.md, "List pages")."""

    @route("/{key}/dates", methods=["GET"], name="dates")
    async def date_drilldown(self, request: Request) -> Response:
        view = self.listed_view(request)
        key = str(view.key)
        column = main_date_column(inspect(view.model))
        if column is None:
            raise HTTPException(HTTP_404_NOT_FOUND)
        params = request.query_params
        level = level_of(params.get(f"{column.key}__gte", ""), params.get(f"{column.key}__lt", ""))
        buckets: list[Bucket] = []
        if level.size:
            session = request.state.session
            dialect = session.get_bind().dialect.name
            # Every lookup but the range being drilled into, which the buckets replace.
            lookups = [
                lookup
                for lookup in view.lookups(request)
                if level.start is None
                or lookup.filterable.column is not column
                or lookup.lookup not in ("gte", "lt")
            ]
            q = params.get("q") or None
            summed = None if q else counted_by_hour(column, level, lookups, dialect)
            if summed is not None:
                stmt = summed
            else:
                text = bucket_text(column, level.size, dialect)
                counted: Any = select(text, func.count()).select_from(inspect(view.model))
                stmt = await searched_and_filtered(view, request, counted, q, None)
                stmt = stmt.where(*(lookup.clause for lookup in lookups))
                if level.start is not None:
                    stmt = stmt.where(column >= level.start, column < level.end)
                stmt = stmt.group_by(text)
            rows = (await session.execute(stmt)).all()
            buckets = buckets_of(level, {str(row[0] or ""): int(row[1]) for row in rows})
        list_page = str(request.url_for(f"{self.route_name}:list", key=key))

        def link(span: tuple[dt.date, dt.date] | None) -> str:
            """The list narrowed to `span` (None: all time), its other parameters kept."""
            names = (f"{column.key}__gte", f"{column.key}__lt", "page")
            kept = [(n, v) for n, v in params.multi_items() if n not in names]
            if span is not None:
                kept += [(names[0], span[0].isoformat()), (names[1], span[1].isoformat())]
            return f"{list_page}?{urlencode(kept)}" if kept else list_page

        return self.templates.TemplateResponse(
            request,
            "admin/date_drilldown.html",
            {
                "label": view_label(str(column.key)),
                "level": level,
                "buckets": buckets,
                "link": link,
            },
        )


def view_label(name: str) -> str:
    return name.replace("_", " ").capitalize()
