"""Where a form or a link goes back to: the `next` page a visitor names, when it is on this
site (docs/reference.md, "Admin")."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette_admin.helpers import safe_redirect_url

from app.web_addresses import has_control_characters


def safe_next(next_url: str, request: Request, fallback: str) -> str:
    """`next_url` if the library finds it on this site, else `fallback`."""
    if has_control_characters(next_url):
        return fallback
    try:
        return safe_redirect_url(next_url, request, fallback)
    except ValueError:  # the parser refuses a malformed host ("http://[::1"): no page of ours
        return fallback


def without_foreign_next(request: Request) -> Request:
    """The request, its `next` query parameter dropped when that is no page of this site: for
    the library's own sign-in page, which reads it itself and fails on a malformed host."""
    asked = request.query_params.get("next")
    if asked is None or safe_next(asked, request, "") != "":
        return request
    kept = [(name, value) for name, value in request.query_params.multi_items() if name != "next"]
    return Request({**request.scope, "query_string": urlencode(kept).encode()}, request.receive)
