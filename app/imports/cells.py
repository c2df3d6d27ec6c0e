"""Reading one cell of an import file into what its column stores, with the checks a form's save
makes: the type, the length, the least value, the choices. A refused cell says what is accepted.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Time,
)

from app import json_input
from app.errors import BadInput
from app.models.labels import choice_label
from app.typed_values import DATE, DATE_TIME, EMAIL, NUMBER, TIME

TRUE = frozenset({"true", "1", "yes", "y", "on", "t"})
FALSE = frozenset({"false", "0", "no", "n", "off", "f"})
# ASCII digits only: int() and Decimal() also read other scripts' digits and "1_000".
WHOLE = re.compile(r"[+-]?[0-9]+")
INTEGER_RANGES = {
    SmallInteger: 2**15,
    BigInteger: 2**63,
    Integer: 2**31,
}


class CellRefused(BadInput, ValueError):
    """A cell its column cannot hold; the message says what is accepted (without the label)."""


@dataclass(frozen=True)
class CellReader:
    """Reads the text (or JSON value) of one column's cells."""

    column: Column[Any]
    read: Callable[[Any], Any]

    def __call__(self, raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        value = self.read(raw)
        least = self.column.info.get("min")
        if least is not None and value is not None and value < least:
            raise CellRefused(f"at least {least}")
        return value


def reader_for(column: Column[Any]) -> CellReader:
    """The reader of the column's type; text for a type not listed here."""
    kind = column.type
    if isinstance(kind, Enum):
        return CellReader(column, choice_reader(kind))
    if isinstance(kind, Boolean):
        return CellReader(column, read_bool)
    if isinstance(kind, Integer):
        limit = next((v for t, v in INTEGER_RANGES.items() if isinstance(kind, t)), 2**63)
        return CellReader(column, lambda raw: read_int(raw, limit))
    if isinstance(kind, Float):  # a Numeric too: checked first
        return CellReader(column, read_float)
    if isinstance(kind, Numeric):
        return CellReader(column, lambda raw: read_decimal(raw, kind.precision, kind.scale))
    if isinstance(kind, DateTime):
        return CellReader(column, read_datetime)
    if isinstance(kind, Date):
        return CellReader(column, read_date)
    if isinstance(kind, Time):
        return CellReader(column, read_time)
    if isinstance(kind, JSON):
        return CellReader(column, read_json)
    length = kind.length if isinstance(kind, String) else None
    if column.info.get("email"):  # declared `info={"email": True}`
        return CellReader(column, lambda raw: read_email(raw, length))
    return CellReader(column, lambda raw: read_text(raw, length))


def text_of(raw: Any) -> str:
    return raw.strip() if isinstance(raw, str) else str(raw)


def read_text(raw: Any, length: int | None) -> str:
    text = raw if isinstance(raw, str) else str(raw)
    if length is not None and len(text) > length:
        raise CellRefused(f"at most {length:,} characters (this one has {len(text):,})")
    return text


def read_email(raw: Any, length: int | None) -> str:
    text = read_text(raw, length)
    if not EMAIL.fullmatch(text):
        raise CellRefused(f"{shown(raw)} is not an e-mail address, such as ops@example.com")
    return text


def read_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = text_of(raw).lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise CellRefused(f"{shown(raw)} is not true or false (also accepted: 1/0, yes/no)")


def read_int(raw: Any, limit: int) -> int:
    if isinstance(raw, bool):
        raise CellRefused(f"{shown(raw)} is not a whole number, such as 42")
    text = text_of(raw)
    if not WHOLE.fullmatch(text) or len(text) > 30:
        raise CellRefused(f"{shown(raw)} is not a whole number, such as 42")
    value = int(text)
    if not -limit <= value < limit:
        raise CellRefused(f"{shown(raw)} is out of range: from {-limit:,} to {limit - 1:,}")
    return value


def read_float(raw: Any) -> float:
    text = text_of(raw)
    if isinstance(raw, bool) or not NUMBER.fullmatch(text):
        raise CellRefused(f"{shown(raw)} is not a number, such as 0.75")
    value = float(text)
    if not math.isfinite(value):
        raise CellRefused(f"{shown(raw)} is too large: beyond what a number column holds")
    return value


def read_decimal(raw: Any, precision: int | None, scale: int | None) -> Decimal:
    text = text_of(raw)
    if isinstance(raw, bool) or not NUMBER.fullmatch(text):  # also NaN and Infinity
        raise CellRefused(f"{shown(raw)} is not a number, such as 12.50")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CellRefused(f"{shown(raw)} is not a number, such as 12.50") from None
    if not value.is_finite():
        raise CellRefused(f"{shown(raw)} is not a number, such as 12.50")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if scale is not None and -exponent > scale:
        raise CellRefused(f"{shown(raw)} has more than {scale} decimal places")
    if precision is not None and scale is not None:
        whole_digits = max(value.adjusted() + 1, 0)  # int(1E+999999) would be written out
        if whole_digits > precision - scale:
            raise CellRefused(f"{shown(raw)} is too large: at most {precision - scale} digits")
    return value


def read_datetime(raw: Any) -> dt.datetime:
    text = text_of(raw)
    try:
        if not DATE_TIME.fullmatch(text):
            raise ValueError(text)
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CellRefused(
            f"{shown(raw)} is not a date and time, such as 2026-01-31T14:30:00+00:00 "
            "(no offset: UTC)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def read_date(raw: Any) -> dt.date:
    try:
        if not DATE.fullmatch(text_of(raw)):
            raise ValueError(raw)
        return dt.date.fromisoformat(text_of(raw))
    except ValueError:
        raise CellRefused(f"{shown(raw)} is not a date, such as 2026-01-31") from None


def read_time(raw: Any) -> dt.time:
    try:
        if not TIME.fullmatch(text_of(raw)):
            raise ValueError(raw)
        return dt.time.fromisoformat(text_of(raw))
    except ValueError:
        raise CellRefused(f"{shown(raw)} is not a time, such as 14:30") from None


def read_json(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        # json.loads() also reads NaN, Infinity and 1e309 (as inf): no JSON, and PostgreSQL's
        # json type refuses them.
        return json_input.read_json(raw, parse_constant=_no_number, parse_float=_finite)
    except ValueError:
        raise CellRefused(f'{shown(raw)} is not JSON, such as {{"key": "value"}}') from None


def _no_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is beyond what a JSON number holds here")
    return value


def choice_reader(kind: Enum) -> Callable[[Any], Any]:
    """A choice by its stored value, its name or its label, in any case."""
    enum_class = kind.enum_class
    known: dict[str, Any] = {}
    if enum_class is not None and issubclass(enum_class, enum.Enum):
        for member in enum_class:
            for spelling in (str(member.value), member.name, choice_label(member)):
                known.setdefault(spelling.lower(), member)
        accepted = ", ".join(str(member.value) for member in enum_class)
    else:
        for value in kind.enums:
            known.setdefault(value.lower(), value)
        accepted = ", ".join(kind.enums)

    def read(raw: Any) -> Any:
        found = known.get(text_of(raw).lower())
        if found is None:
            raise CellRefused(f"{shown(raw)} is not one of {accepted}")
        return found

    return read


def shown(raw: Any) -> str:
    text = raw if isinstance(raw, str) else json.dumps(raw)
    return repr(text if len(text) <= 40 else text[:40] + "…")
