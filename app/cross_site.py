"""A guard that refuses writes and sockets started by another site's page.

A browser names the page that sent a request in `Origin` (and, in newer browsers, how it relates
to the target in `Sec-Fetch-Site`). A page on another port or host of the same machine shares
the admin's cookies, so the CSRF cookie and SameSite=Lax alone do not stop it; this does
(docs/reference.md, "Cross-site requests").
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import Forbidden
from app.origins import normal_origin, site_origin
from app.views.errors import error_response

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
POLICY_VIOLATION = 1008  # a socket closed before accept: the client sees HTTP 403


class CrossSiteGuard:
    """Refuses unsafe methods and WebSocket handshakes that another site's page started.

    `allowed` adds origins for deployments reached under other names (ALLOWED_ORIGINS).
    A request with neither header (a script, not a browser) passes: it carries no victim's
    cookies unless its author holds them.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = {origin for origin in map(normal_origin, allowed) if origin}

    def refusal(self, scope: Scope) -> str | None:
        """Why the request is refused, or None when it may go on."""
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None:
            normal = normal_origin(origin)
            if normal is not None and (normal == site_origin(scope) or normal in self.allowed):
                return None
            return (
                f"Origin {origin[:200]!r} is not this site's: cross-site requests are refused "
                "(list the site's other addresses in ALLOWED_ORIGINS)"
            )
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return f"Sec-Fetch-Site {fetch_site[:40]!r}: cross-site requests are refused"
        return None

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: an accepted socket's scope goes straight on, and no frame of this
        # layer stays on the socket's stack for its whole life.
        if scope["type"] == "websocket" and self.refusal(scope) is not None:
            return send({"type": "websocket.close", "code": POLICY_VIOLATION})
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            return self.unsafe(scope, receive, send)
        return self.app(scope, receive, send)

    async def unsafe(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = self.refusal(scope)
        if reason is not None:
            response = await error_response(Request(scope, receive), Forbidden(reason))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
