"""Who a live session belongs to: one statement for the user, their sign-in, groups and
permissions."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.auth.current import CurrentUser
from app.auth.sign_ins import token_hash
from app.cache import Cache, reads_from
from app.models import Group, SignInSession, User, user_group

# Who a sign-in is, kept per process (and in Redis, when set: app/cache.py): a change to an
# account, a group, a membership or a sign-in drops them all, in every process. A new sign-in
# or account changes nobody already read.
NAMESPACE = "auth"
reads_from(NAMESPACE, User, Group, SignInSession, user_group, new_rows=False)

_users = User.__table__.c
_groups = Group.__table__.c
_sign_ins = SignInSession.__table__.c
# Built once on the tables' columns: a Core statement skips the ORM's compile step, which cost
# about a millisecond of every signed-in request (bench auth_overhead).
CURRENT_USER = (
    select(
        _users.username,
        _users.is_superuser,
        _users.permissions,
        _users.theme,
        _users.time_zone,
        _groups.id,
        _groups.name,
        _groups.permissions,
    )
    .select_from(
        User.__table__.join(
            SignInSession.__table__,
            and_(
                _sign_ins.user_id == _users.id,
                _sign_ins.token_hash == bindparam("token_hash"),
                _sign_ins.ended_at.is_(None),  # signed out: the cookie opens nothing
            ),
        )
        .outerjoin(user_group, user_group.c.user_id == _users.id)
        .outerjoin(Group.__table__, _groups.id == user_group.c.group_id)
    )
    .where(
        _users.id == bindparam("user_id"),
        _users.is_active,
        _users.session_epoch == bindparam("epoch"),
    )
)


Database = AsyncSession | AsyncConnection


async def current_user_of(
    cache: Cache,
    database: Callable[[], AbstractAsyncContextManager[Database]],
    user_id: int,
    epoch: object,
    token: object,
) -> CurrentUser | None:
    """`load_current_user`, kept in the cache until a change drops it; `database` is opened
    only when it is not kept."""
    hashed = token_hash(token) if isinstance(token, str) else ""

    async def read() -> CurrentUser | None:
        async with database() as db:
            return await _load(db, user_id, epoch, hashed)

    return await cache.fetch(NAMESPACE, (user_id, str(epoch), hashed), read)


async def load_current_user(
    db: Database, user_id: int, epoch: object, token: object
) -> CurrentUser | None:
    """None when the user is gone or inactive, this sign-in has ended (`token`, from the
    cookie), or their sessions were ended since this one began (`epoch`)."""
    return await _load(db, user_id, epoch, token_hash(token) if isinstance(token, str) else "")


async def _load(db: Database, user_id: int, epoch: object, hashed: str) -> CurrentUser | None:
    parameters = {"user_id": user_id, "epoch": epoch, "token_hash": hashed}
    rows = (await db.execute(CURRENT_USER, parameters)).all()
    if not rows:
        return None
    username, is_superuser, own, theme, time_zone = rows[0][:5]
    granted = set(own or [])
    groups = set()
    for *_, group_id, group_name, group_permissions in rows:
        if group_id is not None:
            groups.add((group_id, group_name))
            granted.update(group_permissions or [])
    return CurrentUser(
        user_id,
        username,
        is_superuser,
        frozenset(granted),
        frozenset(groups),
        theme=theme,
        time_zone=time_zone,
    )
