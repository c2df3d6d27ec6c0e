"""The stretches of time cards compare, and SQL that names a row's hour.

Days are the reader's (their time zone's midnights, app/local_formats.py). The database groups
rows by UTC hour, the same text key on both backends, moved on by the minutes the zone is off
the whole hour (30 in Asia/Kolkata) so that each hour falls inside one of its days; the cards
add the hours up into days. Hours are UTC hours, labelled on the reader's clock.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.local_formats import zone_of

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Window:
    """A stretch up to now and the one before it, of the same length, to compare against."""

    label: str
    start: dt.datetime
    end: dt.datetime
    before_start: dt.datetime
    before_end: dt.datetime


def day_start(day: dt.date, zone: str) -> dt.datetime:
    """The first moment of a calendar day in `zone`, in UTC (where the clocks skip midnight,
    the moment they skip it at)."""
    return dt.datetime.combine(day, dt.time(), zone_of(zone)).astimezone(dt.UTC)


def today_in(now: dt.datetime, zone: str) -> dt.date:
    return now.astimezone(zone_of(zone)).date()


def midnight(now: dt.datetime, zone: str = "UTC") -> dt.datetime:
    """The start of `now`'s day in `zone`, in UTC."""
    return day_start(today_in(now, zone), zone)


def windows(now: dt.datetime, zone: str = "UTC") -> list[Window]:
    """Today so far against yesterday up to the same time of day (days in `zone`); 7 and 30
    days against those before."""
    today = midnight(now, zone)
    yesterday = day_start(today_in(now, zone) - DAY, zone)
    return [
        Window("Today", today, now, yesterday, yesterday + (now - today)),
        Window("7 days", now - 7 * DAY, now, now - 14 * DAY, now - 7 * DAY),
        Window("30 days", now - 30 * DAY, now, now - 60 * DAY, now - 30 * DAY),
    ]


def last_days(now: dt.datetime, count: int, zone: str = "UTC") -> list[dt.datetime]:
    """The starts (in UTC) of the last `count` days in `zone`, today last."""
    today = today_in(now, zone)
    return [day_start(today - (count - 1 - i) * DAY, zone) for i in range(count)]


def last_hours(now: dt.datetime, count: int) -> list[dt.datetime]:
    """The starts of the last `count` hours, this one last."""
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return [hour - (count - 1 - i) * HOUR for i in range(count)]


def day_key(moment: dt.datetime, zone: str = "UTC") -> str:
    """The day a moment falls in, in `zone`: `2026-06-15`."""
    return f"{moment.astimezone(zone_of(zone)):%Y-%m-%d}"


def hour_key(hour: dt.datetime) -> str:
    """A UTC hour as the database names it (`utc_hour`)."""
    return f"{hour.astimezone(dt.UTC):%Y-%m-%d %H}"


def hour_label(hour: dt.datetime, zone: str = "UTC") -> str:
    """A UTC hour on the reader's clock: `2026-06-15 14`, `2026-06-15 17:30` in Asia/Kolkata."""
    local = hour.astimezone(zone_of(zone))
    return f"{local:%Y-%m-%d %H}" if local.minute == 0 else f"{local:%Y-%m-%d %H:%M}"


def off_the_hour(zone: str, now: dt.datetime) -> int:
    """The minutes `zone`'s offset is off the whole hour (30 for +05:30 and for -03:30)."""
    offset = now.astimezone(zone_of(zone)).utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds() // 60) % 60


def straddled_hours(days: list[dt.datetime]) -> list[dt.datetime]:
    """The UTC hours a day after the first starts inside of (in zones off the whole hour)."""
    return [start.replace(minute=0) for start in days[1:] if start.minute]


def day_finder(days: list[dt.datetime], shift: int) -> Callable[[str], int]:
    """Which of `days` (their starts, in order) a row grouped by `utc_hour_after(…, shift)` is
    in, by its key: keys sort as their hours do, so each day's first key bounds it."""
    firsts = [hour_key(hour_from(day + dt.timedelta(minutes=shift))) for day in days]
    return lambda key: bisect_right(firsts, key) - 1


def hour_from(moment: dt.datetime) -> dt.datetime:
    """The first whole hour at or after `moment`."""
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + HOUR


class hour_after(FunctionElement[str]):  # an SQL function, named like one
    """`YYYY-MM-DD HH`, in UTC, of a timestamp column moved on by so many minutes."""

    type = String()
    inherit_cache = True


def utc_hour_after(column: Any, minutes: int) -> ColumnElement[str]:
    """The hour key (`hour_key`) of `column` + `minutes`: with the minutes a zone is off the
    whole hour, every such hour lies inside one day of that zone."""
    # Written into the SQL: PostgreSQL groups by it only if the select and GROUP BY read alike.
    return hour_after(column, literal(minutes, Integer(), literal_execute=True))


class utc_hour(FunctionElement[str]):  # an SQL function, named like one
    """`YYYY-MM-DD HH` of a timestamp column, in UTC (what `hour_key` gives in Python)."""

    type = String()
    inherit_cache = True


# SQLite stores UTC timestamps as text: its date functions read them as they are.
@compiles(utc_hour, "sqlite")
def _sqlite_hour(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H', {compiler.process(element.clauses, **kw)})"


@compiles(utc_hour, "postgresql")
def _postgres_hour(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"


@compiles(hour_after, "sqlite")
def _sqlite_hour_after(element: hour_after, compiler: SQLCompiler, **kw: Any) -> str:
    column, minutes = (compiler.process(c, **kw) for c in element.clauses.clauses)
    return f"strftime('%Y-%m-%d %H', {column}, ({minutes}) || ' minutes')"


@compiles(hour_after, "postgresql")
def _postgres_hour_after(element: hour_after, compiler: SQLCompiler, **kw: Any) -> str:
    column, minutes = (compiler.process(c, **kw) for c in element.clauses.clauses)
    moved = f"({column} + CAST({minutes} AS INTEGER) * INTERVAL '1 minute')"
    return f"to_char({moved} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
