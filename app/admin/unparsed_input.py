"""Form values the admin could not read, or could not store.

starlette-admin turns text it cannot parse (say "abc" in a price) into None, which either reads
as "required" or silently stores NULL; we name the field and what it accepts instead. Text no
database stores is named the same way, before the database fails on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Mapper
from starlette.datastructures import FormData
from starlette_admin.fields import (
    BaseField,
    DateField,
    DateTimeField,
    DecimalField,
    EnumField,
    FloatField,
    IntegerField,
    JSONField,
    RelationField,
    TimeField,
)

from app.row_keys import is_storable_text

# Checked in order: DateTimeField before DateField matters if one derives from the other.
ACCEPTED: list[tuple[type[BaseField], str]] = [
    (IntegerField, "a whole number, such as 42"),
    (DecimalField, "a number, such as 12.50"),
    (FloatField, "a number, such as 0.75"),
    (DateTimeField, "a date and time, such as 2026-11-23 14:30"),
    (DateField, "a date, such as 2026-11-23"),
    (TimeField, "a time, such as 14:30"),
    (JSONField, 'valid JSON, such as {"colour": "red"}'),
]


def accepted(field: BaseField) -> str | None:
    """What the field accepts, for the kinds that read bad input as None (others: None)."""
    if isinstance(field, EnumField):
        return "one of the listed choices"
    return next((text for kind, text in ACCEPTED if isinstance(field, kind)), None)


def means_none(field: BaseField, raw: str) -> bool:
    return isinstance(field, JSONField) and raw.strip() == "null"


def least_values(mapper: Mapper[Any]) -> dict[str, Any]:
    """The least number each column accepts, by attribute, where its declaration names one
    (`mapped_column(..., info={"min": 1})`)."""
    return {
        str(prop.key): prop.columns[0].info["min"]
        for prop in mapper.column_attrs
        if "min" in prop.columns[0].info
    }


def below_least(
    fields: Iterable[BaseField], data: Mapping[str, Any], least: Mapping[str, Any]
) -> dict[str, str]:
    """Numbers less than their column accepts (see least_values)."""
    return {
        field.name: f"{field.label}: at least {least[field.name]}"
        for field in fields
        if field.name in least
        and isinstance(data.get(field.name), int | float | Decimal)
        and not isinstance(data.get(field.name), bool)
        and data[field.name] < least[field.name]
    }


def unstorable_text(fields: Iterable[BaseField], data: Mapping[str, Any]) -> dict[str, str]:
    """Text fields holding what no database stores: a NUL byte (PostgreSQL refuses it) or a
    lone surrogate (not UTF-8)."""
    return {
        field.name: f"{field.label}: text cannot contain a NUL byte or a lone surrogate"
        for field in fields
        if isinstance(data.get(field.name), str) and not is_storable_text(data[field.name])
    }


def too_long_text(
    fields: Iterable[BaseField], data: Mapping[str, Any], lengths: Mapping[str, int]
) -> dict[str, str]:
    """Text fields longer than their column holds: PostgreSQL fails the insert (a 500), and
    SQLite would store what no other database could."""
    return {
        field.name: f"{field.label}: at most {lengths[field.name]:,} characters"
        for field in fields
        if field.name in lengths
        and isinstance(data.get(field.name), str)
        and len(data[field.name]) > lengths[field.name]
    }


def unreadable_fields(
    fields: Iterable[BaseField],
    form: FormData | Mapping[str, str],
    data: Mapping[str, Any],
    *,
    by_name: bool = False,
) -> dict[str, str]:
    """Fields whose typed text the library read as nothing; `form` holds the text by each
    field's input id, or by its name (`by_name`: an inline row's text, without the row prefix)."""
    errors: dict[str, str] = {}
    for field in fields:
        expected = accepted(field)
        if field.read_only or isinstance(field, RelationField) or expected is None:
            continue
        raw = form.get(field.name if by_name else field.id)
        if not isinstance(raw, str) or not raw.strip() or means_none(field, raw):
            continue
        if data.get(field.name) is None:
            errors[field.name] = f"{field.label}: {raw.strip()[:40]!r} is not {expected}"
    return errors
