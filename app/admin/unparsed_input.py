"""Form values the admin could not read, or could not store.

starlette-admin turns text it cannot parse (say "abc" in a price) into None, which either reads
as "required" or silently stores NULL; we name the field and what it accepts instead. Text no
database stores is named the same way, before the database fails on it.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import unicodedata
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import ColumnProperty, Mapper
from starlette.datastructures import FormData
from starlette_admin.fields import (
    BaseField,
    DateField,
    DateTimeField,
    DecimalField,
    EnumField,
    FloatField,
    HasMany,
    IntegerField,
    JSONField,
    RelationField,
    TimeField,
)
from starlette_admin.helpers import prettify_class_name

from app.imports.cells import CellRefused, reader_for
from app.row_keys import is_storable_text, key_value
from app.typed_values import NOT_UTF_8

# Checked in order: the library's DateField and TimeField derive from its DateTimeField.
ACCEPTED: list[tuple[type[BaseField], str]] = [
    (IntegerField, "a whole number, such as 42"),
    (DecimalField, "a number, such as 12.50"),
    (FloatField, "a number, such as 0.75"),
    (DateField, "a date, such as 2026-11-23"),
    (TimeField, "a time, such as 14:30"),
    (DateTimeField, "a date and time, such as 2026-11-23 14:30"),
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
        and is_finite_number(data.get(field.name))
        and data[field.name] < least[field.name]
    }


def is_finite_number(value: Any) -> bool:
    """A number that compares: NaN (a Decimal's signals on comparing) and infinities are left
    for refused_by_column to name."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def unstorable_text(fields: Iterable[BaseField], data: Mapping[str, Any]) -> dict[str, str]:
    """Text fields holding what no database stores: a NUL byte (PostgreSQL refuses it) or a
    lone surrogate (not UTF-8); or what stands in for bytes that were not UTF-8 (U+FFFD)."""
    errors: dict[str, str] = {}
    for field in fields:
        value = data.get(field.name)
        if not isinstance(value, str):
            continue
        if not is_storable_text(value):
            errors[field.name] = (
                f"{field.label}: text cannot contain a NUL byte or a lone surrogate"
            )
        elif NOT_UTF_8 in value:
            errors[field.name] = (
                f"{field.label}: text cannot contain U+FFFD, which stands in for bytes that were "
                "not UTF-8 (a lone surrogate's among them)"
            )
    return errors


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


def refused_by_column(
    fields: Iterable[BaseField],
    form: FormData | Mapping[str, str],
    data: Mapping[str, Any],
    mapper: Mapper[Any],
    *,
    by_name: bool = False,
) -> dict[str, str]:
    """Typed values the library read but their column cannot hold, checked as an import's cell
    is (app/imports/cells.py): a choice not listed (a 500 at the insert), NaN, infinities and
    numbers past the column's range or digits and places, other scripts' digits, compact dates.
    `form` and `by_name` as for unreadable_fields."""
    errors: dict[str, str] = {}
    for field in fields:
        prop = mapper.attrs.get(field.name)
        if field.read_only or not isinstance(prop, ColumnProperty) or len(prop.columns) != 1:
            continue
        if getattr(field, "multiple", False):  # several values for one column (permissions)
            continue
        raw = form.get(field.name if by_name else field.id)
        column = prop.columns[0]
        if isinstance(raw, str) and raw and is_blank(raw) and not column.nullable:
            errors[field.name] = f"{field.label}: required (spaces or invisible characters alone)"
            continue
        if not isinstance(raw, str) or not raw.strip() or data.get(field.name) is None:
            continue  # nothing typed, or unreadable_fields names it
        typed = raw.strip()
        if isinstance(field, EnumField) and field.choices_loader is None and field.choices:
            # A form sends a choice's value exactly; the library stores any text it is given.
            offered = [str(choice[0]) for choice in field.choices]  # (value, label) pairs
            if typed not in offered:
                errors[field.name] = f"{field.label}: {typed[:40]!r} is not one of " + ", ".join(
                    offered
                )
            continue
        try:
            reader_for(column)(typed)  # type: ignore[arg-type]
        except CellRefused as refused:
            errors[field.name] = f"{field.label}: {refused}"
    return errors


def unmatched_keys(
    fields: Iterable[BaseField],
    form: FormData,
    data: Mapping[str, Any],
    mapper: Mapper[Any],
    *,
    shape_only: bool = False,
) -> dict[str, str]:
    """Related rows picked by a key that matches none: the library drops such a key, which
    would clear a to-one link, or every link of a many-to-many one, without a word.
    `shape_only`: before the library looks the rows up, the keys no row can have ("abc" for a
    number), which the lookup answers with a bare 404 page that loses the form."""
    errors: dict[str, str] = {}
    for field in fields:
        relation = mapper.relationships.get(field.name)
        if field.read_only or not isinstance(field, RelationField) or relation is None:
            continue
        target = relation.mapper
        # As sent, blank ones too: "  " is no key (the library's lookup of it was a 500).
        typed = [str(value) for value in form.getlist(field.id) if str(value) != ""]
        if not typed or len(target.primary_key) != 1:
            continue
        column = target.primary_key[0]
        if shape_only:
            missing = [key for key in typed if key_value(column, key) is None]
        else:
            found = data.get(field.name)
            picked: list[Any] = list(found or ()) if isinstance(field, HasMany) else [found]
            held = {inspect(row).identity[0] for row in picked if row is not None}
            missing = [key for key in typed if key_value(column, key) not in held]
        if missing:
            name = prettify_class_name(target.class_.__name__).lower()
            errors[field.name] = f"{field.label}: no {name} has the key {missing[0][:40]!r}"
    return errors


def is_blank(text: str) -> bool:
    """Spaces and characters no one sees (a zero-width space, a BOM): no value to a reader."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in text)


def cells_as_text(data: Mapping[str, Any]) -> dict[str, str]:
    """An import row's values as the library read them, as text for refused_by_column: an
    import has no form text, and its cells pass the checks a form's text does."""
    typed: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, enum.Enum):
            value = value.value
        scalar = isinstance(value, str | int | float | Decimal | dt.date | dt.time)
        if scalar and not isinstance(value, bool):
            typed[name] = str(value)
    return typed
