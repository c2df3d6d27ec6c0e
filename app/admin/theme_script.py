"""The theme's icon and class names for the library's scripts, as one cached file instead of
inline on every page (docs/architecture.md, "Page weight and speed").

The library writes both tables into each page's source (5.8 KB of every page, the same on
all of them). Here they are served once at `/admin/theme.js`, its address carrying a digest of
its content so a browser keeps it until the theme changes, and each page's inline script reads
them from there.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette_admin.auth import login_not_required
from starlette_admin.base import BaseAdmin
from starlette_admin.plugins import BasePlugin

from app.admin.template_edits import edit_templates, from_library, replaced

ROUTE = "theme-script"
# A year: the address changes with the content.
KEPT = "public, max-age=31536000, immutable"

# The library's base.html, where its scripts' tables are written out: read them from the file.
EDITS = {
    "base.html": (
        (
            "window.StarletteAdmin.icons = {{ icon_registry | tojson }};",
            "window.StarletteAdmin.icons = window.StarboardTheme.icons;",
        ),
        (
            "window.StarletteAdmin.classes = {{ class_registry | tojson }};",
            "window.StarletteAdmin.classes = window.StarboardTheme.classes;",
        ),
    )
}


def theme_tables(template: str, source: str, filename: str | None = None) -> str:
    if not from_library(filename):
        return source
    return replaced(template, source, EDITS, __name__)


class ThemeScript(BasePlugin):
    """Serves the tables and links them from every admin page, before the page's scripts."""

    name = "theme-script"

    def __init__(self) -> None:
        self.body = b""
        self.version = ""

    def on_mount(self, admin: BaseAdmin) -> None:
        # starlette-admin 1.0.3: the tables base.html writes out are these env globals.
        env_globals: dict[str, Any] = admin.templates.env.globals
        tables = {"icons": env_globals["icon_registry"], "classes": env_globals["class_registry"]}
        text = json.dumps(tables, sort_keys=True, separators=(",", ":"))
        self.body = f"window.StarboardTheme = {text};\n".encode()
        self.version = hashlib.sha256(self.body).hexdigest()[:12]
        edit_templates(admin.templates.env, theme_tables)
        admin.app.router.routes.insert(0, Route("/theme.js", self.script, name=ROUTE))

    @login_not_required  # the sign-in page's scripts read it too
    async def script(self, request: Request) -> Response:
        return Response(self.body, media_type="text/javascript", headers={"Cache-Control": KEPT})

    def js_links(self, request: Request) -> list[str]:
        # The plugins' scripts come before the page's inline ones, which read these tables.
        route = f"{request.app.state.ROUTE_NAME}:{ROUTE}"
        return [f"{request.url_for(route)}?v={self.version}"]
