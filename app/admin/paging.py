"""Page numbers and row windows read from query strings, kept within what a database can take."""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.requests import Request

from app.errors import BadQuery
from app.typed_values import whole_number

# The last page any admin page shows; far beyond any table, well inside a 64-bit OFFSET.
MAX_PAGE = 999_999_999


def page_number(request: Request) -> int:
    """The `page` query parameter; 1 for anything but a whole number from 1 to MAX_PAGE."""
    text = request.query_params.get("page", "")
    number = whole_number(text, 9)
    return number if number else 1


def page_count(total: int, page_size: int) -> int:
    """Pages needed for `total` rows; one even when there are none."""
    return max(1, (total + page_size - 1) // page_size)


def query_number(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter from `low` to `high`, `default` when absent or empty;
    anything else is refused (400) naming the parameter and what it accepts."""
    text = params.get(name, "")
    if not text:
        return default
    number = whole_number(text, 19)
    if number is None or not low <= number <= high:
        raise BadQuery(f"{name}: a whole number from {low:,} to {high:,}", field=name)
    return number
