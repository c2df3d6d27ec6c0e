"""The stretches of time cards compare, and SQL that names a row's UTC day or hour.

Days and hours are UTC, as stored; both backends group by the same text keys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

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


def midnight(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def windows(now: dt.datetime) -> list[Window]:
    """Today so far against yesterday up to the same hour; 7 and 30 days against those before."""
    today = midnight(now)
    return [
        Window("Today", today, now, today - DAY, now - DAY),
        Window("7 days", now - 7 * DAY, now, now - 14 * DAY, now - 7 * DAY),
        Window("30 days", now - 30 * DAY, now, now - 60 * DAY, now - 30 * DAY),
    ]


def last_days(now: dt.datetime, count: int) -> list[dt.datetime]:
    """The starts of the last `count` UTC days, today last."""
    today = midnight(now)
    return [today - (count - 1 - i) * DAY for i in range(count)]


def last_hours(now: dt.datetime, count: int) -> list[dt.datetime]:
    """The starts of the last `count` hours, this one last."""
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return [hour - (count - 1 - i) * HOUR for i in range(count)]


def day_key(day: dt.datetime) -> str:
    return f"{day:%Y-%m-%d}"


def hour_key(hour: dt.datetime) -> str:
    return f"{hour:%Y-%m-%d %H}"


class utc_day(FunctionElement[str]):  # an SQL function, named like one
    """`YYYY-MM-DD` of a timestamp column, in UTC (what `day_key` gives in Python)."""

    type = String()
    inherit_cache = True


class utc_hour(FunctionElement[str]):  # an SQL function, named like one
    """`YYYY-MM-DD HH` of a timestamp column, in UTC (what `hour_key` gives in Python)."""

    type = String()
    inherit_cache = True


# SQLite stores UTC timestamps as text: its date functions read them as they are.
@compiles(utc_day, "sqlite")
def _sqlite_day(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_hour, "sqlite")
def _sqlite_hour(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H', {compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _postgres_day(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(utc_hour, "postgresql")
def _postgres_hour(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
