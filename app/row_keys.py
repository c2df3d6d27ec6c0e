"""Keys and numbers typed by people (URLs, forms, socket frames), checked against their column.

A key the column cannot hold (a word for a number, 2**63, a NUL byte) matches no row: callers
answer it as "not found" instead of letting the database driver fail on it. PostgreSQL's
INTEGER is 32 bits, so an id's bounds come from its column's type, not from Python's ints.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, SmallInteger, String
from sqlalchemy.sql import ColumnElement

from app.typed_values import is_whole_number

__all__ = ["BIGGEST_OFFSET", "fits", "integer_bounds", "is_storable_text", "key_value"]

# OFFSET and LIMIT are 64-bit signed in PostgreSQL and SQLite alike.
BIGGEST_OFFSET = 2**63 - 1

_BITS: list[tuple[type[Any], int]] = [(SmallInteger, 16), (BigInteger, 64), (Integer, 32)]


def integer_bounds(column: ColumnElement[Any]) -> tuple[int, int]:
    """The smallest and largest whole number the column holds on every supported database."""
    bits = next((n for kind, n in _BITS if isinstance(column.type, kind)), 64)
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def fits(column: ColumnElement[Any], number: object) -> bool:
    """Whether `number` is a whole number (not a bool) the integer column can hold."""
    if isinstance(number, bool) or not isinstance(number, int):
        return False
    low, high = integer_bounds(column)
    return low <= number <= high


def is_storable_text(text: str) -> bool:
    """Text every supported database stores: no NUL (PostgreSQL refuses it) and no lone
    surrogate (not encodable as UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def key_value(column: ColumnElement[Any], raw: object) -> object | None:
    """`raw` as the column holds it, or None when no row can have it as its key."""
    if isinstance(column.type, Integer):
        if isinstance(raw, int):
            number = raw
        else:
            text = str(raw).strip()  # as int() does: " 1" is typed by hand into a URL
            # ASCII digits: int() also reads "٣", which no link or picker of ours writes.
            if not is_whole_number(text.removeprefix("-"), 40):
                return None
            number = int(text)
        return number if fits(column, number) else None
    text = str(raw)
    if not is_storable_text(text):
        return None
    if isinstance(column.type, String):
        length = column.type.length
        return text if length is None or len(text) <= length else None
    try:
        column.type.python_type(text)
    except ValueError:
        return None
    except (TypeError, NotImplementedError):
        pass  # a type not built from text: the library's own coercion decides
    return text
