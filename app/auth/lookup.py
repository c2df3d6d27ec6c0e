"""Who a live session belongs to: one statement for the user, their groups and permissions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.auth.current import CurrentUser
from app.models import Group, User, user_group


async def load_current_user(
    db: AsyncSession | AsyncConnection, user_id: int, epoch: object
) -> CurrentUser | None:
    """None when the user is gone, inactive, or their sessions were ended since this one began."""
    # Core, only the columns needed: the ORM entity load was most of a page's auth cost.
    stmt = (
        select(
            User.username,
            User.is_superuser,
            User.permissions,
            Group.id,
            Group.name,
            Group.permissions,
        )
        .outerjoin(user_group, user_group.c.user_id == User.id)
        .outerjoin(Group, Group.id == user_group.c.group_id)
        .where(User.id == user_id, User.is_active, User.session_epoch == epoch)
    )
    rows = (await db.execute(stmt)).all()
    if not rows:
        return None
    username, is_superuser, own = rows[0][:3]
    granted = set(own or [])
    groups = set()
    for *_, group_id, group_name, group_permissions in rows:
        if group_id is not None:
            groups.add((group_id, group_name))
            granted.update(group_permissions or [])
    return CurrentUser(user_id, username, is_superuser, frozenset(granted), frozenset(groups))
