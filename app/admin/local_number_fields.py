"""Numbers in lists and detail pages the reader's way (app/local_formats.py): counts with the
locale's thousands separator, money (a column declaring `info={"money": True}`) with the site's
currency. Forms and exports keep starlette-admin's plain values, which they parse back.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette_admin.contrib.sqla.converters import ModelConverter
from starlette_admin.converters import converts
from starlette_admin.fields import BaseField, DecimalField, FloatField, IntegerField
from starlette_admin.types import RequestAction

from app.local_formats import reader

NUMBERS = (int, float, Decimal)  # a tuple: `A | B` is built anew at each call, once per cell


def shown_locally(request: Request, value: Any) -> bool:
    """A value on a page people read (as date-times are, app/admin/local_time_field.py): not in
    a form or an export, which parse it back."""
    action = request.state.action
    readable = not (action == RequestAction.EXPORT or action.is_form())
    return readable and isinstance(value, NUMBERS) and not isinstance(value, bool)


@dataclasses.dataclass
class CountField(IntegerField):
    async def serialize_value(self, request: Request, value: Any) -> Any:
        if not shown_locally(request, value):
            return await super().serialize_value(request, value)
        return reader().number(value)


@dataclasses.dataclass
class MoneyField(DecimalField):
    async def serialize_value(self, request: Request, value: Any) -> Any:
        if not shown_locally(request, value):
            return await super().serialize_value(request, value)
        return reader().money(value)


def remade(stock: BaseField, kind: type[BaseField]) -> BaseField:
    """`stock` as the library made it, as a field of `kind`."""
    given = {f.name: getattr(stock, f.name) for f in dataclasses.fields(stock) if f.init}
    return kind(**given)


class LocalNumbersConverter(ModelConverter):
    """The library's conversion of columns to fields, counts and money shown locally; keys
    (a row's id, a foreign key) stay as typed: 1234 is a name there, not a quantity."""

    @converts("Integer")
    def conv_integer(self, *args: Any, **kwargs: Any) -> BaseField:
        stock = super().conv_integer(*args, **kwargs)
        column = kwargs.get("column")
        if column is None or column.primary_key or column.foreign_keys:
            return stock
        return remade(stock, CountField)

    @converts("Numeric")
    def conv_numeric(self, *args: Any, **kwargs: Any) -> BaseField:
        stock = super().conv_numeric(*args, **kwargs)
        column = kwargs.get("column")
        info = getattr(column, "info", None) or {}
        if not info.get("money") or isinstance(stock, FloatField):
            return stock
        return remade(stock, MoneyField)
