"""List filters in Django admin's lookup style, read from query parameters (docs/reference.md,
"List pages"): `status__in=paid,shipped&created_at__gte=2026-01-01&customer__id__exact=5`.

Each column's lookups follow from its type in the mapper. The library's own filters take one
`filter=` expression over its form fields, have no open-ended date bounds and filter relations
only by emptiness, so these are translated here, straight to where-clauses on the model's table
(a to-one relation by its foreign key column: no join).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    false,
)
from sqlalchemy.orm import ColumnProperty, Mapper
from sqlalchemy.sql import ColumnElement

from app.auth.secrets import is_secret
from app.errors import BadQuery
from app.models.labels import choices_of
from app.row_keys import fits
from app.typed_values import DATE, DATE_TIME

# Query parameters the list page itself reads; anything else is a lookup.
LIST_PARAMETERS = frozenset({"page", "page_size", "sort", "q", "filter", "cols"})
# The most values one `__in` takes: enough for any enum, short enough for any database.
MOST_IN_VALUES = 100

ORDERED = ("exact", "in", "gt", "gte", "lt", "lte", "isnull")
KIND_LOOKUPS: dict[str, tuple[str, ...]] = {
    "enum": ("exact", "in", "isnull"),
    "boolean": ("exact", "isnull"),
    "number": ORDERED,
    "date": ORDERED,
    "datetime": ORDERED,
    "text": ("exact", "in", "contains", "icontains", "isnull"),
    "relation": ("exact", "in", "isnull"),
    "other": ("isnull",),
}
ALL_LOOKUPS = frozenset(name for names in KIND_LOOKUPS.values() for name in names)

_TRUE = {"1": True, "true": True, "0": False, "false": False}
_WHOLE = re.compile(r"-?\d{1,19}", re.ASCII)  # \d alone reads other scripts' digits
_DECIMAL = re.compile(r"-?\d{1,18}(\.\d{1,10})?", re.ASCII)


@dataclass(frozen=True)
class Filterable:
    """One thing a list can be filtered by: a column, or a to-one relation by its key."""

    name: str  # as the query parameter spells it: `status`, `customer__id`
    label: str
    kind: str  # a key of KIND_LOOKUPS
    column: ColumnElement[Any]  # the model's own column the clause is on
    choices: tuple[tuple[str, str], ...] = ()  # an enum's (value, label)
    relation: str | None = None  # a to-one relation's name
    nullable: bool = False

    @property
    def lookups(self) -> tuple[str, ...]:
        return KIND_LOOKUPS[self.kind]


@dataclass(frozen=True)
class Lookup:
    """One applied query parameter: what it says, for the chips, and its where-clause."""

    parameter: str
    value: str
    filterable: Filterable
    lookup: str
    clause: ColumnElement[bool]


def label_of(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def filterables(mapper: Mapper[Any], visible: Collection[str]) -> dict[str, Filterable]:
    """What the model's list may be filtered by, of the fields in `visible` (those the user may
    view); secrets never."""
    found: dict[str, Filterable] = {}
    for prop in mapper.column_attrs:
        if not isinstance(prop, ColumnProperty) or prop.key not in visible:
            continue
        column = prop.columns[0]
        if is_secret(prop.key) or (column.foreign_keys and not column.primary_key):
            continue  # a foreign key is filtered through its relation
        kind, choices = _kind_of(column)
        found[prop.key] = Filterable(
            prop.key, label_of(prop.key), kind, column, choices, nullable=bool(column.nullable)
        )
    for rel in mapper.relationships:
        pairs = rel.local_remote_pairs or []
        if rel.uselist or rel.key not in visible or len(pairs) != 1:
            continue
        local, remote = pairs[0]
        name = f"{rel.key}__{remote.key}"
        found[name] = Filterable(
            name,
            label_of(rel.key),
            "relation",
            local,
            relation=rel.key,
            nullable=bool(local.nullable),
        )
    return found


def _kind_of(column: ColumnElement[Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    kind = column.type
    if isinstance(kind, Enum):
        if kind.enum_class is not None:
            return "enum", tuple((str(v), label) for v, label in choices_of(kind.enum_class))
        return "enum", tuple((str(v), label_of(str(v))) for v in kind.enums)
    if isinstance(kind, Boolean):
        return "boolean", ()
    if isinstance(kind, Integer | Numeric):
        return "number", ()
    if isinstance(kind, DateTime):
        return "datetime", ()
    if isinstance(kind, Date):
        return "date", ()
    if isinstance(kind, String) and not isinstance(kind, JSON | LargeBinary):
        return "text", ()
    return "other", ()


def is_lookup_parameter(name: str) -> bool:
    return name not in LIST_PARAMETERS and not name.startswith("_")


def read_lookups(
    params: Iterable[tuple[str, str]], fields: dict[str, Filterable], model: str
) -> list[Lookup]:
    """Each lookup parameter as a where-clause; a bad one is refused (400) naming it."""
    given: dict[str, list[str]] = {}
    for name, value in params:
        if is_lookup_parameter(name) and value != "":
            given.setdefault(name, []).append(value)
    lookups: list[Lookup] = []
    for name, values in given.items():
        # A form's multi-select repeats `status__in`: one list, as `status__in=a,b` spells it.
        texts = [",".join(values)] if name.endswith("__in") else values
        lookups.extend(_read(name, text, fields, model) for text in texts)
    return lookups


def _read(parameter: str, text: str, fields: dict[str, Filterable], model: str) -> Lookup:
    path, _, lookup = parameter.rpartition("__")
    if not path or lookup not in ALL_LOOKUPS:
        path, lookup = parameter, "exact"  # `status=paid` as Django reads it
    field = fields.get(path) or _relation_named(path, fields)
    if field is None:
        known = ", ".join(sorted(fields)) or "none"
        raise BadQuery(
            f"{parameter}: {model} has no filterable field {path!r}; filterable: {known}",
            field=parameter,
        )
    if lookup not in field.lookups:
        raise BadQuery(
            f"{parameter}: lookups on {field.name} are {', '.join(field.lookups)}",
            field=parameter,
        )
    clause = _clause(parameter, text, field, lookup)
    return Lookup(parameter, text, field, lookup, clause)


def _relation_named(path: str, fields: dict[str, Filterable]) -> Filterable | None:
    # `customer__isnull=1`: a relation's emptiness is asked of the relation itself.
    return next((f for f in fields.values() if f.relation == path), None)


def _clause(parameter: str, text: str, field: Filterable, lookup: str) -> ColumnElement[bool]:
    column = field.column
    if lookup == "isnull":
        empty = _boolean(parameter, text)
        return column.is_(None) if empty else column.is_not(None)
    if lookup == "in":
        parts = [part.strip() for part in text.split(",")]
        if len(parts) > MOST_IN_VALUES or not all(parts):
            raise BadQuery(
                f"{parameter}: 1 to {MOST_IN_VALUES} comma-separated values, none empty",
                field=parameter,
            )
        return column.in_([_value(parameter, part, field) for part in parts])
    if lookup in ("contains", "icontains"):
        if lookup == "contains":
            return column.contains(text, autoescape=True)
        return column.icontains(text, autoescape=True)
    if field.kind == "datetime" and _is_date(text):
        return _day_clause(column, lookup, _date(parameter, text))
    value = _value(parameter, text, field)
    if lookup == "exact":
        return column == value  # type: ignore[no-any-return]
    operator = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}[lookup]
    return getattr(column, operator)(value)  # type: ignore[no-any-return]


def _day_clause(column: ColumnElement[Any], lookup: str, day: dt.date) -> ColumnElement[bool]:
    """A datetime compared with a date: the day runs from its midnight (UTC) to the next."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    if lookup in ("gte", "lt"):
        return column >= start if lookup == "gte" else column < start
    if day == dt.date.max:  # the last day has no next: nothing is past it, all is up to it
        if lookup == "exact":
            return column >= start
        return false() if lookup == "gt" else column.is_not(None)
    end = start + dt.timedelta(days=1)
    if lookup == "exact":
        return (column >= start) & (column < end)
    return column >= end if lookup == "gt" else column < end  # gt / lte: past the whole day


def _value(parameter: str, text: str, field: Filterable) -> Any:
    kind = field.kind
    if kind == "enum":
        values = [value for value, _ in field.choices]
        if text not in values:
            raise BadQuery(f"{parameter}: one of {', '.join(values)}", field=parameter)
        enum_class = getattr(field.column.type, "enum_class", None)
        if enum_class is not None and issubclass(enum_class, enum.Enum):
            return enum_class(text)
        return text
    if kind == "boolean":
        return _boolean(parameter, text)
    if (kind == "number" and isinstance(field.column.type, Integer)) or kind == "relation":
        number = int(text) if _WHOLE.fullmatch(text) else None
        if number is None or not fits(field.column, number):
            raise BadQuery(f"{parameter}: a whole number", field=parameter)
        return number
    if kind == "number":
        if not _DECIMAL.fullmatch(text):
            raise BadQuery(f"{parameter}: a number such as 100 or 99.95", field=parameter)
        # asyncpg binds a float column's parameter from a float only.
        return float(text) if isinstance(field.column.type, Float) else Decimal(text)
    if kind == "date":
        return _date(parameter, text)
    if kind == "datetime":
        return _datetime(parameter, text)
    if kind == "text":
        length = getattr(field.column.type, "length", None)
        if length is not None and len(text) > length:
            raise BadQuery(f"{parameter}: at most {length} characters", field=parameter)
        return text
    raise BadQuery(f"{parameter}: {field.name} is filtered only by isnull", field=parameter)


def _boolean(parameter: str, text: str) -> bool:
    value = _TRUE.get(text.lower())
    if value is None:
        raise BadQuery(f"{parameter}: 1, 0, true or false", field=parameter)
    return value


def _is_date(text: str) -> bool:
    return len(text) == 10 and text[4:5] == "-"


def _date(parameter: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if DATE.fullmatch(text) else _fail()
    except ValueError:
        raise BadQuery(f"{parameter}: a date as YYYY-MM-DD", field=parameter) from None


def _datetime(parameter: str, text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text) if DATE_TIME.fullmatch(text) else _fail()
    except ValueError:
        raise BadQuery(
            f"{parameter}: a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM[:SS][+00:00])",
            field=parameter,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # stored times are UTC


def _fail() -> Any:
    raise ValueError
