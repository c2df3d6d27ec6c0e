"""Creating and finding accounts and groups: the service behind the CLI and the sign-in form."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth.passwords import check_strength, hash_password
from app.auth.permissions import CAPABILITY_PERMISSIONS, MODEL_ACTIONS
from app.errors import BadInput
from app.models import Group, User
from app.typed_values import EMAIL


class AccountError(BadInput, ValueError):
    """An account request we refuse; the message names the field and the fix."""


GROUP_NAME_MAX = 150  # auth_group.name's length
USERNAME_MAX = 150  # auth_user.username's length
EMAIL_MAX = 254  # auth_user.email's length


# Characters no one types into a name and that make two names look alike: controls, and the
# invisible formatting ones (zero-width space, joiners, direction marks).
UNSEEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def username_problem(username: str) -> str | None:
    """What is wrong with a username, as the user form and the commands refuse it."""
    if not username.strip():
        return "must not be empty"
    if len(username) > USERNAME_MAX:
        return f"at most {USERNAME_MAX} characters"
    if username != username.strip():
        return "no spaces at its start or end"
    if any(unicodedata.category(c) in UNSEEN for c in username):
        return "no control or invisible characters (line breaks, tabs, zero-width spaces)"
    return None


def email_problem(email: str | None) -> str | None:
    if email and (len(email) > EMAIL_MAX or not EMAIL.fullmatch(email)):
        return f"an e-mail address such as ops@example.com, at most {EMAIL_MAX} characters"
    return None


async def username_holder(
    session: AsyncSession, username: str, *, other_than: int | None = None
) -> str | None:
    """The username of another account (not `other_than`) with this one in any case."""
    others = select(User.username)
    if other_than is not None:
        others = others.where(User.id != other_than)
    if username.isascii():
        return await session.scalar(
            others.where(func.lower(User.username) == username.lower()).limit(1)
        )
    # SQLite's lower() folds ASCII letters only (ΣΑΣ, σας): these are compared here, among the
    # names as long (folding keeps nearly every name's length).
    wanted = username.casefold()
    same_length = await session.scalars(others.where(func.length(User.username) == len(username)))
    return next((held for held in same_length if held.casefold() == wanted), None)


def taken_problem(username: str, held: str) -> str:
    if held == username:
        return f"{username!r} is already taken"
    # `Admin` beside `admin` would pass for one person in the audit log and the inbox.
    return f"{username!r} is already taken as {held!r} (usernames differ by more than case)"


async def create_user(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    email: str | None = None,
    superuser: bool = False,
    groups: Sequence[str] = (),
) -> User:
    for field, problem in (
        ("username", username_problem(username)),
        ("email", email_problem(email)),
    ):
        if problem is not None:
            raise AccountError(f"{field}: {problem}")
    check_strength(password, username)
    held = await username_holder(session, username)
    if held is not None:
        raise AccountError(f"username: {taken_problem(username, held)}")
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


def check_permissions(names: Sequence[str], grantable: Sequence[str]) -> list[str]:
    """The names, without repeats, if each is grantable; else AccountError naming the others."""
    wanted = list(dict.fromkeys(name.strip() for name in names))
    unknown = [name for name in wanted if name not in grantable]
    if unknown:
        raise AccountError(
            f"permission: unknown {', '.join(repr(name) for name in unknown)}; "
            f"accepted: {accepted_permissions(grantable)}",
            field="permission",
        )
    return wanted


def accepted_permissions(grantable: Sequence[str]) -> str:
    """The grantable names in one line: each model's actions folded, then the capabilities'."""
    capabilities = [name for name in CAPABILITY_PERMISSIONS if name in grantable]
    models = sorted(
        {name.partition(":")[0] for name in grantable if name.endswith(f":{MODEL_ACTIONS[0]}")}
    )
    return (
        f"MODEL:{'|'.join(MODEL_ACTIONS)} for a model ({', '.join(models)}), "
        f"or {', '.join(capabilities)}"
    )


async def list_groups(session: AsyncSession) -> list[Group]:
    """Every group by name, its members loaded."""
    found = await session.scalars(
        select(Group).options(selectinload(Group.users)).order_by(Group.name)
    )
    return list(found)


async def create_group(
    session: AsyncSession, name: str, permissions: Sequence[str], grantable: Sequence[str]
) -> Group:
    if not name.strip():
        raise AccountError("group: the name must not be empty", field="group")
    if name != name.strip():
        raise AccountError("group: no spaces at its start or end", field="group")
    if len(name) > GROUP_NAME_MAX:
        raise AccountError(f"group: at most {GROUP_NAME_MAX} characters", field="group")
    granted = check_permissions(permissions, grantable)
    if await session.scalar(select(Group.id).where(Group.name == name)) is not None:
        raise AccountError(f"group: {name!r} already exists", field="group")
    group = Group(name=name, permissions=granted)
    session.add(group)
    await session.flush()
    return group


async def grant(
    session: AsyncSession, name: str, permissions: Sequence[str], grantable: Sequence[str]
) -> tuple[Group, list[str]]:
    """The group and the permissions it did not hold yet, now granted (none: nothing changed)."""
    wanted = check_permissions(permissions, grantable)
    (group,) = await find_groups(session, [name])
    added = [p for p in wanted if p not in (group.permissions or [])]
    if added:
        group.permissions = [*(group.permissions or []), *added]  # a new list: JSON is not tracked
        await session.flush()
    return group, added


async def revoke(
    session: AsyncSession, name: str, permissions: Sequence[str], grantable: Sequence[str]
) -> tuple[Group, list[str]]:
    """The group and the permissions it held, now taken away (none: nothing changed).

    A name no longer grantable is accepted while the group still holds it, so it can be cleaned up.
    """
    (group,) = await find_groups(session, [name])
    held = group.permissions or []
    check_permissions([p for p in permissions if p.strip() not in held], grantable)
    unwanted = {p.strip() for p in permissions}
    removed = [p for p in held if p in unwanted]
    if removed:
        group.permissions = [p for p in held if p not in unwanted]
        await session.flush()
    return group, removed
