"""Our own static files (`/static`): linked with their content's hash, kept by browsers a year
under that link and checked again when asked for without it, so a deploy's new script is never
read from a stale cache (docs/reference.md, "Static files")."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from jinja2 import pass_context
from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.config import PROJECT_DIR
from app.route_urls import route_path

STATIC_DIR = PROJECT_DIR / "static"
FOREVER = "public, max-age=31536000, immutable"  # the link changes with the content
REVALIDATE = "no-cache"  # kept, but checked (If-None-Match) before each use


@functools.cache
def version(file: str) -> str:
    """The first 12 hex digits of the file's SHA-256. Read once a process: our files change
    only with a deploy, which starts new processes."""
    try:
        content = (STATIC_DIR / file).read_bytes()
    except OSError:
        return "missing"
    return hashlib.sha256(content).hexdigest()[:12]


def versioned(url: object, file: str) -> str:
    return f"{url}?v={version(file)}"


@pass_context
def static_file(context: Any, file: str) -> str:
    """Templates' link to one of our files, its version in the query."""
    return versioned(route_path(context, "static", path=file), file)


class OwnStaticFiles(StaticFiles):
    """Starlette's static files, telling browsers how long to keep each answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            asked = QueryParams(scope.get("query_string", b""))
            response.headers["Cache-Control"] = FOREVER if "v" in asked else REVALIDATE
        return response
