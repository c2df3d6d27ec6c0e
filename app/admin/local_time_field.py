"""Date-time columns in lists and detail pages, shown in the reader's zone with the zone named
(app/admin/local_formats.py); forms and exports keep starlette-admin's own values."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette_admin.contrib.sqla.converters import ModelConverter
from starlette_admin.converters import converts
from starlette_admin.fields import BaseField, DateTimeField
from starlette_admin.types import RequestAction

from app.admin.library import exported_time_text
from app.local_formats import reader


@dataclasses.dataclass
class LocalDateTimeField(DateTimeField):
    async def serialize_value(self, request: Request, value: Any) -> str:
        action = request.state.action
        if action == RequestAction.EXPORT:
            # Two cells of every exported order: the library's text, found faster where it can.
            text = exported_time_text(value) if type(value) is datetime else None
            return text if text is not None else await super().serialize_value(request, value)
        if action.is_form() or not isinstance(value, datetime):
            return await super().serialize_value(request, value)
        return reader().time_text(value)


class LocalTimesConverter(ModelConverter):
    """The library's conversion of columns to fields, date-time columns shown locally."""

    @converts("DateTime")
    def conv_datetime(self, *args: Any, **kwargs: Any) -> BaseField:
        stock = super().conv_datetime(*args, **kwargs)
        return LocalDateTimeField(
            **{f.name: getattr(stock, f.name) for f in dataclasses.fields(stock) if f.init}
        )
