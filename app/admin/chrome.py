"""Page-wide assets for every admin page, through starlette-admin's plugin hook."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette_admin.plugins import BasePlugin

HTMX_VERSION = "2.0.11"  # kept equal to package.json; the query string busts browser caches


class StarboardChrome(BasePlugin):
    name = "starboard"

    def css_links(self, request: Request) -> Sequence[str]:
        return [
            str(request.url_for("static", path="starboard.css")),
            # Contrast and focus rings (WCAG 2 AA), after the theme's rules it adjusts.
            str(request.url_for("static", path="accessibility.css")),
        ]

    def js_links(self, request: Request) -> Sequence[str]:
        htmx = request.url_for("static", path="vendor/htmx.min.js")
        return [
            f"{htmx}?v={HTMX_VERSION}",
            str(request.url_for("static", path="starboard.js")),
            # Names for the controls the library's widgets draw (select2, flatpickr, JSON).
            str(request.url_for("static", path="accessibility.js")),
        ]
