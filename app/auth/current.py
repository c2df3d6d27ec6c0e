"""Who is making this request: set once by the auth provider, read by views, audit and pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import HTTPConnection


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    is_superuser: bool = False
    permissions: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[tuple[int, str]] = field(default_factory=frozenset)  # (id, name)

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


def client_address(connection: HTTPConnection) -> str | None:
    return connection.client.host if connection.client else None


def actor_of(connection: HTTPConnection) -> Actor:
    user = current_user(connection)
    return Actor(
        user.id if user else None, user.username if user else None, client_address(connection)
    )
