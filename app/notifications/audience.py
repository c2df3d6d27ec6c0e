"""Which channels a user listens on, and which notifications they may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from app.auth.current import CurrentUser
from app.models import Notification

EVERYONE = "all"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def group_channel(name: str) -> str:
    return f"group:{name}"


def channels_of(user: CurrentUser) -> list[str]:
    return [user_channel(user.id), *(group_channel(name) for _, name in user.groups), EVERYONE]


def visible_to(user: CurrentUser) -> ColumnElement[bool]:
    group_ids = [group_id for group_id, _ in user.groups]
    clauses: list[Any] = [
        and_(Notification.audience == "user", Notification.user_id == user.id),
        Notification.audience == EVERYONE,
    ]
    if group_ids:
        clauses.append(and_(Notification.audience == "group", Notification.group_id.in_(group_ids)))
    return or_(*clauses)
