"""Which channels a user listens on, and which notifications they may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_, select

from app.auth.current import CurrentUser
from app.channels.names import EVERYONE_CHANNEL, group_channel, user_channel
from app.models import Notification, User

EVERYONE = "all"  # the audience of a notification for everyone (the column's value)

_notifications = Notification.__table__.c


def channels_of(user: CurrentUser) -> list[str]:
    groups = (group_channel(name) for _, name in user.groups)
    return [user_channel(user.id), *groups, EVERYONE_CHANNEL]


def visible_to(user: CurrentUser) -> ColumnElement[bool]:
    group_ids = [group_id for group_id, _ in user.groups]
    return _seen_by(user.id, group_ids or None)


def _seen_by(user_id: Any, group_ids: Any) -> ColumnElement[bool]:
    """The notifications for the account `user_id`, its groups `group_ids` (None: no group) and
    everyone."""
    clauses: list[Any] = [
        and_(_notifications.audience == "user", _notifications.user_id == user_id),
        # A broadcast reaches the accounts that existed when it was sent, not later ones.
        and_(_notifications.audience == EVERYONE, _notifications.created_at >= joined_at(user_id)),
    ]
    if group_ids is not None:
        clauses.append(
            and_(_notifications.audience == "group", _notifications.group_id.in_(group_ids))
        )
    return or_(*clauses)


def joined_at(user_id: Any) -> Any:
    """When the account was created, read inside the same statement (no query of its own)."""
    return (
        select(User.__table__.c.created_at).where(User.__table__.c.id == user_id).scalar_subquery()
    )


def visible_in(groups: int) -> ColumnElement[bool]:
    """visible_to() on bound parameters for a user in `groups` groups, filled by
    visible_parameters(): a statement made with it can be built once per number of groups and
    kept, with no list to expand on every run."""
    group_ids: list[Any] = [bindparam(f"group_{i}") for i in range(groups)]
    return _seen_by(bindparam("user_id"), group_ids or None)


def visible_parameters(user: CurrentUser) -> dict[str, Any]:
    """The values visible_in(len(user.groups)) needs for `user`."""
    group_ids = sorted(group_id for group_id, _ in user.groups)
    return {"user_id": user.id, **{f"group_{i}": group_id for i, group_id in enumerate(group_ids)}}
