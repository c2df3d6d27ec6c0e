"""An exported date-time is the library's own text (starlette-admin's DateTimeField for an
export), whichever way it is found: app/admin/library.py `exported_time_text` for a naive value
from a UTC database, the library otherwise."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import zoneinfo
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request
from starlette_admin.fields import DateTimeField
from starlette_admin.i18n import set_database_timezone, set_timezone
from starlette_admin.types import RequestAction

from app.admin.library import exported_time_text
from app.admin.local_time_field import LocalDateTimeField

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]


def exported(field: DateTimeField, value: Any, database_zone: str) -> str:
    """The field's export text, with the zones set as an export job sets them."""

    async def serialized() -> str:
        set_database_timezone(database_zone)
        set_timezone("Europe/Paris")  # the reader's own zone: an export writes UTC anyway
        request = Request({"type": "http", "state": {"action": RequestAction.EXPORT}})
        return await field.serialize_value(request, value)

    # Each in a copy of the context: the zones set stay inside it.
    return contextvars.copy_context().run(asyncio.run, serialized())


@given(
    value=st.datetimes(timezones=st.none() | st.sampled_from(ZONES).map(zoneinfo.ZoneInfo)),
    database_zone=st.sampled_from(ZONES),
)
def test_an_exported_time_is_the_librarys_text(value: dt.datetime, database_zone: str) -> None:
    ours = exported(LocalDateTimeField("at"), value, database_zone)
    assert ours == exported(DateTimeField("at"), value, database_zone)


def test_the_short_way_serves_naive_times_from_a_utc_database_only() -> None:
    naive = dt.datetime(2026, 10, 31, 23, 59, 59, 120)

    def short_way(database_zone: str, value: dt.datetime) -> str | None:
        set_database_timezone(database_zone)
        return exported_time_text(value)

    def in_own_context(database_zone: str, value: dt.datetime) -> str | None:
        # The zones are context variables: set in a copy, they leave the other tests alone.
        return contextvars.copy_context().run(short_way, database_zone, value)

    assert in_own_context("UTC", naive) == "2026-10-31T23:59:59.000120+00:00"
    assert in_own_context("UTC", naive.replace(tzinfo=dt.UTC)) is None
    assert in_own_context("Europe/Paris", naive) is None
