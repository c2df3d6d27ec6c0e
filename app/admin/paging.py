"""Page numbers of the custom admin pages (the library pages its model lists itself)."""

from __future__ import annotations

from starlette.requests import Request


def page_number(request: Request) -> int:
    """The `page` query parameter; 1 for anything but a whole number from 1 to 999,999,999."""
    text = request.query_params.get("page", "")
    return int(text) if text.isdecimal() and 0 < len(text) <= 9 and int(text) > 0 else 1


def page_count(total: int, page_size: int) -> int:
    """Pages needed for `total` rows; one even when there are none."""
    return max(1, (total + page_size - 1) // page_size)
