"""notify(): one function for jobs, admin hooks and the CLI; plus the inbox queries."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.auth.current import CurrentUser
from app.cache import Cache, reads_from
from app.channels import Broker
from app.channels.names import EVERYONE_CHANNEL, group_channel, user_channel
from app.errors import BadInput
from app.models import Group, Notification, NotificationRead, User
from app.notifications import LEVELS
from app.notifications.audience import EVERYONE, visible_in, visible_parameters, visible_to
from app.row_keys import is_storable_text
from app.web_addresses import has_control_characters, is_web_address

TITLE_MAX = 200
BODY_MAX = 5000  # a toast and an inbox line, not a document
LINK_MAX = 500  # the column's length

# What a user's sockets are told first, kept until a notification or a read mark is committed
# (docs/architecture.md, "Caches"). Also read: the account's created_at, which never changes.
INBOX = "inbox"
reads_from(INBOX, Notification, NotificationRead)


class NotifyError(BadInput, ValueError):
    """A notification we refuse to send; the message names the field and what is accepted."""


def frame(notification: Notification) -> dict[str, Any]:
    created = notification.created_at
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)  # SQLite hands back the stored UTC time naive
    return {
        "type": "notification",
        "id": notification.id,
        "title": notification.title,
        "body": notification.body,
        "level": notification.level,
        "link": notification.link,
        "created_at": created.isoformat().replace("+00:00", "Z") if created else None,
    }


def _check(title: str, body: str, level: str, link: str | None, audiences: int) -> None:
    if audiences != 1:
        raise NotifyError("recipient: give exactly one of user, group or everyone")
    if not title.strip():
        raise NotifyError("title: must not be empty")
    if len(title) > TITLE_MAX:
        raise NotifyError(f"title: at most {TITLE_MAX} characters")
    if len(body) > BODY_MAX:
        raise NotifyError(f"body: at most {BODY_MAX} characters")
    for name, text in (("title", title), ("body", body)):
        if not is_storable_text(text):  # PostgreSQL refuses a NUL in any statement
            raise NotifyError(f"{name}: text without NUL bytes")
    if level not in LEVELS:
        raise NotifyError(f"level: {level!r} is not one of {', '.join(LEVELS)}")
    if link is not None and len(link) > LINK_MAX:
        raise NotifyError(f"link: at most {LINK_MAX} characters")
    if link is not None and not _safe_link(link):
        raise NotifyError(
            f"link: {link!r} must be a path like /admin/… or an http(s) URL with a host "
            "(a port from 1 to 65535, no user name)"
        )


def _safe_link(link: str) -> bool:
    # Browsers read a backslash as a slash: "/\\evil" would leave the site, like "//evil".
    if "\\" in link:
        return False
    if link.startswith("/"):
        return not link.startswith("//") and not has_control_characters(link)
    return is_web_address(link, user_allowed=False)


async def notify(
    session_factory: async_sessionmaker[AsyncSession],
    broker: Broker,
    *,
    user: str | int | None = None,
    group: str | None = None,
    everyone: bool = False,
    title: str,
    body: str = "",
    level: str = "info",
    link: str | None = None,
) -> Notification:
    """Persisted first (committed), then published: a lost message is caught up from the DB."""
    _check(
        title,
        body,
        level,
        link,
        sum(x is not None and x is not False for x in (user, group, everyone)),
    )
    async with session_factory.begin() as session:
        notification = Notification(title=title.strip(), body=body, level=level, link=link)
        if user is not None:
            found = await session.scalar(
                select(User).where(
                    User.id == user if isinstance(user, int) else User.username == user
                )
            )
            if found is None:
                raise NotifyError(f"user: no account named {user!r}")
            notification.audience, notification.user_id = "user", found.id
            channel = user_channel(found.id)
        elif group is not None:
            found_group = await session.scalar(select(Group).where(Group.name == group))
            if found_group is None:
                raise NotifyError(f"group: no group named {group!r}")
            notification.audience, notification.group_id = "group", found_group.id
            channel = group_channel(found_group.name)
        else:
            notification.audience = EVERYONE
            channel = EVERYONE_CHANNEL
        session.add(notification)
        await session.flush()
        await session.refresh(notification)
    await broker.publish(channel, frame(notification))
    return notification


async def after(
    session: AsyncSession, user: CurrentUser, after_id: int, limit: int = 500
) -> Sequence[Notification]:
    """The user's notifications with an id above `after_id`, oldest first (for resume)."""
    stmt = (
        select(Notification)
        .where(visible_to(user), Notification.id > after_id)
        .order_by(Notification.id)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


def _unread(user_id: Any) -> ColumnElement[bool]:
    read = select(NotificationRead.notification_id).where(NotificationRead.user_id == user_id)
    return Notification.id.not_in(read)


async def unread_count(session: AsyncSession, user: CurrentUser) -> int:
    stmt = select(func.count()).select_from(Notification).where(visible_to(user), _unread(user.id))
    return int(await session.scalar(stmt) or 0)


# Kept: every socket opened runs it, and building and keying it anew cost about 1 ms of CPU.
@functools.lru_cache(maxsize=64)
def _inbox_state(groups: int) -> Select[int | None, int]:
    """The statement for a user in `groups` groups."""
    unread = func.count().filter(_unread(bindparam("user_id")))
    return select(func.max(Notification.id), unread).where(visible_in(groups))


async def inbox_state(db: AsyncSession | AsyncConnection, user: CurrentUser) -> tuple[int, int]:
    """The newest notification id the user can see (0 for none) and how many are unread, in one
    statement: what a socket tells its tab first."""
    statement = _inbox_state(len(user.groups))
    newest, unread = (await db.execute(statement, visible_parameters(user))).one()
    return int(newest or 0), int(unread or 0)


async def kept_inbox_state(
    cache: Cache,
    database: Callable[[], AbstractAsyncContextManager[AsyncConnection]],
    user: CurrentUser,
) -> tuple[int, int]:
    """`inbox_state`, kept in the cache: every page a user opens opens a socket, which asks it
    again. Keyed by the groups too, which decide what the user sees."""

    async def read() -> tuple[int, int]:
        async with database() as connection:
            return await inbox_state(connection, user)

    kept = await cache.fetch(INBOX, (user.id, tuple(sorted(user.groups))), read)
    assert kept is not None, "read() gives a pair, never None"
    return kept


async def mark_read(session: AsyncSession, user: CurrentUser, ids: Sequence[int] | None) -> int:
    """Marks the given notifications (or all unread ones) read; returns how many were marked."""
    already = select(NotificationRead.notification_id).where(NotificationRead.user_id == user.id)
    stmt = select(Notification.id).where(visible_to(user), Notification.id.not_in(already))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    unread = list((await session.scalars(stmt)).all())
    if unread:
        # Two tabs may mark the same one at once: the second insert is a no-op, not an error.
        dialect = session.get_bind().dialect.name
        insert_read = (pg_insert if dialect == "postgresql" else sqlite_insert)(NotificationRead)
        await session.execute(
            insert_read.on_conflict_do_nothing(),
            [{"notification_id": i, "user_id": user.id} for i in unread],
        )
    return len(unread)
