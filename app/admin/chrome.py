"""Page-wide assets for every admin page, through starlette-admin's plugin hook."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette_admin.plugins import BasePlugin

from app.local_formats import (
    local_money,
    local_month,
    local_number,
    local_relative,
    local_time,
)
from app.static_files import versioned

HTMX_VERSION = "2.0.11"  # kept equal to package.json; the query string busts browser caches


def own_file(request: Request, file: str) -> str:
    return versioned(request.url_for("static", path=file), file)


class StarboardChrome(BasePlugin):
    name = "starboard"

    def css_links(self, request: Request) -> Sequence[str]:
        return [
            own_file(request, "starboard.css"),
            # Contrast and focus rings (WCAG 2 AA), after the theme's rules it adjusts.
            own_file(request, "accessibility.css"),
        ]

    def js_links(self, request: Request) -> Sequence[str]:
        htmx = request.url_for("static", path="vendor/htmx.min.js")
        return [
            f"{htmx}?v={HTMX_VERSION}",
            own_file(request, "starboard.js"),
            # Names for the controls the library's widgets draw (select2, flatpickr, JSON).
            own_file(request, "accessibility.js"),
        ]


class LocalFormats(BasePlugin):
    """The filters that show times, numbers and money the reader's way (app/local_formats.py):
    `local_time`, `local_relative`, `local_month`, `local_number`, `local_money`."""

    name = "local"

    def template_filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "time": local_time,
            "relative": local_relative,
            "month": local_month,
            "number": local_number,
            "money": local_money,
        }
