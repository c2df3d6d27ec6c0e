"""Accounts: the people who sign in, the groups they belong to, and what each may do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    event,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NO_VALUE

from app.db import Base, now_utc

user_group = Table(
    "user_group",
    Base.metadata,
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "group_id", ForeignKey("auth_group.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Group(Base):
    __tablename__ = "auth_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(150), unique=True)
    # Plain strings such as "product:view" or "settings:edit" (see app.auth.permissions).
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))

    users: Mapped[list[User]] = relationship(secondary=user_group, back_populates="groups")

    def __str__(self) -> str:
        return self.name


class Theme(StrEnum):
    """A user's colour theme; members equal the strings stored in `user_account.theme`."""

    AUTO = "auto"  # follows the system's light or dark setting
    LIGHT = "light"
    DARK = "dark"


class User(Base):
    __tablename__ = "user_account"  # "user" is reserved on PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    # Bumped when the password, active flag or superuser flag changes: older sessions end.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_login: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Chosen on the user's preferences page; every admin page is drawn in it.
    theme: Mapped[str] = mapped_column(
        String(5), default=Theme.AUTO.value, server_default=Theme.AUTO.value
    )
    # An IANA name (app/auth/time_zones.py); None: the site's TIMEZONE.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now()
    )

    groups: Mapped[list[Group]] = relationship(secondary=user_group, back_populates="users")

    def __str__(self) -> str:
        return self.username


class SignInSession(Base):
    """One sign-in, from the login form until sign-out: the session cookie names it.

    Stored as a hash of the cookie's token, so the table opens no session if it leaks.
    """

    __tablename__ = "sign_in_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class SingleSignOnIdentity(Base):
    """Who a user is at an OpenID Connect provider: its issuer and the subject it names them by.

    Found by (issuer, subject) at each single sign-on, never by username or e-mail, so no
    provider account takes over a local one that happens to share its name.
    """

    __tablename__ = "single_sign_on_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))  # as the provider last gave it
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now()
    )
    last_sign_in: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


def _end_sessions_when(attribute: Any, *, revoking: Callable[[Any, Any], bool]) -> None:
    """Sessions record the epoch they started in; a bump ends them at their next request."""

    @event.listens_for(attribute, "set", active_history=True)
    def bump(target: User, value: Any, old: Any, initiator: Any) -> None:
        if old is not NO_VALUE and old is not None and revoking(old, value):
            target.session_epoch = (target.session_epoch or 0) + 1


_end_sessions_when(User.password_hash, revoking=lambda old, new: old != new)
_end_sessions_when(User.is_active, revoking=lambda old, new: bool(old) and not new)
_end_sessions_when(User.is_superuser, revoking=lambda old, new: bool(old) and not new)
