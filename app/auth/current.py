"""Who is making this request: set once by the auth provider, read by views, audit and pages."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    is_superuser: bool = False
    permissions: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[tuple[int, str]] = field(default_factory=frozenset)  # (id, name)
    theme: str = "auto"  # app/models/auth.py Theme: every admin page is drawn in it
    time_zone: str | None = None  # their own IANA zone; None: the site's TIMEZONE

    def can(self, permission: str) -> bool:
        return self.is_superuser or permission in self.permissions


@dataclass(frozen=True)
class Actor:
    """The "who" of an audit entry; no user for a failed sign-in or a CLI change."""

    user_id: int | None
    username: str | None
    client_address: str | None


def current_user(connection: HTTPConnection) -> CurrentUser | None:
    user = getattr(connection.state, "user", None)
    return user if isinstance(user, CurrentUser) else None


# The audit log's column; a name a test client or a trusted proxy gives may be longer.
MAX_ADDRESS_CHARS = 64


def client_address(connection: HTTPConnection) -> str | None:
    """The one answer for throttle, audit and all: the peer, or the client a trusted proxy
    named (app/main.py applies FORWARDED_ALLOW_IPS before anything reads the scope)."""
    if not connection.client:
        return None
    host = connection.client.host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_ADDRESS_CHARS]
    # One spelling per address: "::ffff:10.0.0.1" is 10.0.0.1, "2001:DB8::0:1" is 2001:db8::1.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def actor_of(connection: HTTPConnection) -> Actor:
    user = current_user(connection)
    return Actor(
        user.id if user else None, user.username if user else None, client_address(connection)
    )
