"""Which channels a user listens on, and which notifications they may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from app.auth.current import CurrentUser
from app.channels.names import EVERYONE_CHANNEL, group_channel, user_channel
from app.models import Notification, User

EVERYONE = "all"  # the audience of a notification for everyone (the column's value)


def channels_of(user: CurrentUser) -> list[str]:
    groups = (group_channel(name) for _, name in user.groups)
    return [user_channel(user.id), *groups, EVERYONE_CHANNEL]


def visible_to(user: CurrentUser) -> ColumnElement[bool]:
    group_ids = [group_id for group_id, _ in user.groups]
    clauses: list[Any] = [
        and_(Notification.audience == "user", Notification.user_id == user.id),
        # A broadcast reaches the accounts that existed when it was sent, not later ones.
        and_(Notification.audience == EVERYONE, Notification.created_at >= joined_at(user)),
    ]
    if group_ids:
        clauses.append(and_(Notification.audience == "group", Notification.group_id.in_(group_ids)))
    return or_(*clauses)


def joined_at(user: CurrentUser) -> Any:
    """When the account was created, read inside the same statement (no query of its own)."""
    return select(User.created_at).where(User.id == user.id).scalar_subquery()
