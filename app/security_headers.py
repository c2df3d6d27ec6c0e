"""Security headers on every HTTP response: content policy, no sniffing, no framing, no leaks."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Mapping
from urllib.parse import urlsplit, urlunsplit

from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The stylesheets jsoneditor.min.js (starlette-admin 1.0.3) puts in the page as <style> elements,
# which no nonce reaches: its colour picker's as it loads, and its Ace editor's in code mode.
LIBRARY_STYLE_HASHES = (
    "sha256-ITHmamcImsZ/Je1xrdtDLZVvRSpj1Zokb6uHXORB824=",
    "sha256-32yG/vPEu13tQaT5V/q/1JGq8LS5XAcvWNKxWrmVbc4=",
    "sha256-6HwHOjBRag1g+5E5qxQ3xHmk4WELbqLd8fcg80iZ9nE=",
    "sha256-GCaBwOxArBiGu6REMyw5ZN/tOCH6QlRmnJ1aOjASff0=",
    "sha256-RbXap8DThrtn0GXWVWVLAiidfpCw+pWF6BZUhesiLg8=",
    "sha256-Rc2a7SfB50KoFAIR0X5+ul5uQbsJSujId4MzcmbUx8s=",
    "sha256-WED0SddB76QKxvUxiNsC4yBV4q+h2VmeED+HOmw3QcE=",
    "sha256-nUww7CGm49PasaXHy+240J4NZC3NKm2e3lSkmET8i/c=",
    "sha256-qEpFNF1Fp0ubO1jN1GWZPNX0btdFLOmn1g2V0f1FnYs=",
)
STYLE_SOURCES = "; ".join(
    [
        # <style> elements and stylesheets: the site's files, the nonce, the library's own.
        "style-src 'self' 'nonce-{nonce}' " + " ".join(f"'{h}'" for h in LIBRARY_STYLE_HASHES),
        # style="" attributes: starlette-admin's templates and scripts (select2, Tabler, Ace)
        # write dozens on each page, and no nonce reaches an attribute; they run no script.
        "style-src-attr 'unsafe-inline'",
    ]
)

# What the policy allows, with `{nonce}` standing for the response's own nonce.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        # Anything not allowed below (frames, workers, media, plugins, manifests) is refused.
        # Ace's blob: worker (JSON editor, code mode) stays refused: it would need data: scripts.
        "default-src 'none'",
        # Files from the site, and inline <script> blocks only with this response's nonce: a
        # script injected into a page (a stored value, an on* attribute) does not run.
        "script-src 'self' 'nonce-{nonce}'",
        STYLE_SOURCES,
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

# The scope key under which the middleware keeps a request's nonce for its templates.
NONCE_KEY = "starboard.csp_nonce"


def new_nonce() -> str:
    """128 random bits, fresh for each response (CSP asks for at least 128)."""
    return secrets.token_urlsafe(16)


def content_security_policy(nonce: str) -> str:
    return CONTENT_SECURITY_POLICY.format(nonce=nonce)


def csp_nonce(request: HTTPConnection) -> str:
    """The nonce this request's answer allows inline scripts with (`nonce="…"` in templates);
    empty outside the middleware, where no policy is sent either."""
    return str(request.scope.get(NONCE_KEY, ""))


@pass_context
def template_nonce(context: Context) -> str:
    """`csp_nonce()` in a template: the nonce of the response being rendered."""
    request = context.get("request")
    return csp_nonce(request) if request is not None else ""


# Sent as they are; Content-Security-Policy is added per response, with its nonce.
SECURITY_HEADERS: Mapping[str, str] = {
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
CSP_HEADER = b"content-security-policy"
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
    """Adds `headers` and a Content-Security-Policy with a fresh nonce to every HTTP response that
    has not set them itself, and `Cache-Control: no-store` to every response but static files;
    redirects to the site become paths. The nonce is in the scope for templates (`csp_nonce`).

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

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a socket's scope goes straight on, and no frame of this layer stays
        # on the socket's stack for its whole life.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:

        static = scope["path"].startswith(STATIC_PREFIXES)
        nonce = scope[NONCE_KEY] = new_nonce()
        policy = (CSP_HEADER, content_security_policy(nonce).encode("latin-1"))
        headers = [policy, *(self.headers if static else self.page_headers)]
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
