"""Creating and finding accounts: the service behind the CLI and the sign-in form."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import check_strength, hash_password
from app.errors import BadInput
from app.models import Group, User


class AccountError(BadInput, ValueError):
    """An account request we refuse; the message names the field and the fix."""


async def create_user(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    email: str | None = None,
    superuser: bool = False,
    groups: Sequence[str] = (),
) -> User:
    username = username.strip()
    if not username:
        raise AccountError("username: must not be empty")
    check_strength(password, username)
    taken = await session.scalar(
        select(func.count()).select_from(User).where(User.username == username)
    )
    if taken:
        raise AccountError(f"username: {username!r} is already taken")
    members_of = await find_groups(session, groups)
    user = User(
        username=username,
        email=email,
        password_hash=hash_password(password),
        is_superuser=superuser,
        groups=members_of,
    )
    session.add(user)
    await session.flush()
    return user


async def find_groups(session: AsyncSession, names: Sequence[str]) -> list[Group]:
    wanted = list(dict.fromkeys(name.strip() for name in names))
    if not wanted:
        return []
    found = {g.name: g for g in await session.scalars(select(Group).where(Group.name.in_(wanted)))}
    missing = [name for name in wanted if name not in found]
    if missing:
        known = (
            ", ".join(await session.scalars(select(Group.name).order_by(Group.name))) or "none yet"
        )
        raise AccountError(f"group: no group named {missing[0]!r} (existing: {known})")
    return [found[name] for name in wanted]


async def find_user(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def has_any_user(session: AsyncSession) -> bool:
    return await session.scalar(select(func.count()).select_from(User)) != 0


async def set_password(session: AsyncSession, username: str, password: str) -> User:
    user = await find_user(session, username)
    if user is None:
        raise AccountError(f"username: no account named {username!r}")
    check_strength(password, username)
    user.password_hash = hash_password(password)
    return user
