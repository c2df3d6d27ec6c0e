"""Security headers on every HTTP response: content policy, no sniffing, no framing, no leaks."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        # Anything not allowed below (frames, workers, media, plugins, manifests) is refused.
        # Ace's blob: worker (JSON editor, code mode) stays refused: it would need data: scripts.
        "default-src 'none'",
        # starlette-admin 1.0.3 renders inline <script> blocks and on* attributes and has no
        # nonce hook; the data inside them differs per page, so hashes cannot cover them either.
        "script-src 'self' 'unsafe-inline'",
        # Its templates also carry inline <style> blocks and style="" attributes.
        "style-src 'self' 'unsafe-inline'",
        # Tabler draws checkboxes, switches and select arrows as data: SVGs in its CSS.
        "img-src 'self' data:",
        "font-src 'self'",
        # CSP3 'self' also matches ws:/wss: on the page's host (Chromium 71+, Firefox, Safari 16+).
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Admin URLs carry searches and record ids: no other site needs even our origin.
    "Referrer-Policy": "same-origin",
    # For browsers that predate frame-ancestors.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# Pages and answers show records and may be signed in: no browser or proxy keeps a copy (a shared
# computer's back button, a proxy's cache). Static files under these prefixes stay cacheable.
NOT_STORED = (b"cache-control", b"no-store")
STATIC_PREFIXES = ("/static/", "/admin/static/")


def site_relative(location: bytes, host: str | None) -> bytes:
    """A redirect to the request's own Host as a path: the Host header, which any client may
    forge, never comes back in a Location (a cache or a careless client would follow it)."""
    parts = urlsplit(location.decode("latin-1"))
    if host is None or parts.scheme not in ("http", "https") or parts.netloc.lower() != host:
        return location
    if parts.path.startswith(("//", "/\\")):
        return location  # as a path it would name another host
    return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment)).encode("latin-1")


class SecurityHeadersMiddleware:
    """Adds `headers` to every HTTP response that has not set them itself, and `Cache-Control:
    no-store` to every response but static files; redirects to the site become paths.

    Pure ASGI rather than BaseHTTPMiddleware: no per-request task, and WebSocket and lifespan
    scopes pass straight through.
    """

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()
        ]
        self.page_headers = [*self.headers, NOT_STORED]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        static = scope["path"].startswith(STATIC_PREFIXES)
        headers = self.headers if static else self.page_headers
        host = Headers(scope=scope).get("host")
        own_host = host.lower() if host else None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = list(message.get("headers", []))
                # A route's own choice (e.g. a looser policy for one page) wins.
                names = {name.lower() for name, _ in present}
                missing = [(name, value) for name, value in headers if name not in names]
                if b"location" in names:
                    present = [
                        (
                            name,
                            site_relative(value, own_host)
                            if name.lower() == b"location"
                            else value,
                        )
                        for name, value in present
                    ]
                message["headers"] = present + missing
            await send(message)

        await self.app(scope, receive, send_with_headers)
