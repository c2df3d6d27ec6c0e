"""Web origins (`scheme://host:port`): read from a header or a setting, and the one a request
was sent to."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import Scope

DEFAULT_PORTS = {"http": 80, "https": 443}


def normal_origin(value: str) -> str | None:
    """`scheme://host:port` in lower case with the port always given; None when not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address, bracketed as in a URL
    return f"{scheme}://{host}:{port or DEFAULT_PORTS[scheme]}"


def site_origin(scope: Scope) -> str | None:
    """The origin this request was sent to, from its scheme and Host header."""
    scheme = {"ws": "http", "wss": "https"}.get(scope["scheme"], scope["scheme"])
    host = Headers(scope=scope).get("host")
    return normal_origin(f"{scheme}://{host}") if host else None
