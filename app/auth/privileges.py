"""Who may hand out what: nobody grants a right they do not hold (docs/reference.md, Permissions).

A superuser is not limited. Anyone else, changing accounts and groups in the admin, is refused:
- setting or clearing `is_superuser`, and any change to a superuser's account, their groups
  included (from either side);
- adding a permission they do not hold, to an account or to a group;
- adding a member to a group that grants a permission they do not hold (from either side);
- setting the password of an account that holds a permission they do not.
The command line is not limited: whoever runs it can already write the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.models import Group, User, user_group

SUPERUSER_ONLY = "only a superuser may set or clear this"
SUPERUSER_ACCOUNT = "only a superuser may change a superuser's account"

_users = User.__table__.c
_groups = Group.__table__.c


@dataclass(frozen=True)
class StoredAccount:
    """An account as the database holds it, before the change being judged."""

    username: str
    is_superuser: bool
    own: frozenset[str]
    group_ids: frozenset[int]
    through_groups: frozenset[str]

    @property
    def permissions(self) -> frozenset[str]:
        return self.own | self.through_groups


@dataclass(frozen=True)
class StoredGroup:
    permissions: frozenset[str]
    member_ids: frozenset[int]
    superusers: frozenset[tuple[int, str]]  # the members who are superusers: id, username


NEW_ACCOUNT = StoredAccount("", False, frozenset(), frozenset(), frozenset())
NEW_GROUP = StoredGroup(frozenset(), frozenset(), frozenset())


async def stored_account(session: AsyncSession, user_id: int | None) -> StoredAccount:
    if user_id is None:
        return NEW_ACCOUNT
    rows = (
        await session.execute(
            select(
                _users.username,
                _users.is_superuser,
                _users.permissions,
                _groups.id,
                _groups.permissions,
            )
            .select_from(
                User.__table__.outerjoin(user_group, user_group.c.user_id == _users.id).outerjoin(
                    Group.__table__, _groups.id == user_group.c.group_id
                )
            )
            .where(_users.id == user_id)
        )
    ).all()
    if not rows:
        return NEW_ACCOUNT
    username, is_superuser, own = rows[0][:3]
    group_ids = {row[3] for row in rows if row[3] is not None}
    through = {name for row in rows for name in row[4] or []}
    return StoredAccount(
        username, bool(is_superuser), frozenset(own or []), frozenset(group_ids), frozenset(through)
    )


async def stored_group(session: AsyncSession, group_id: int | None) -> StoredGroup:
    if group_id is None:
        return NEW_GROUP
    permissions = await session.scalar(select(_groups.permissions).where(_groups.id == group_id))
    members = (
        await session.execute(
            select(user_group.c.user_id, _users.is_superuser, _users.username)
            .join(User.__table__, _users.id == user_group.c.user_id)
            .where(user_group.c.group_id == group_id)
        )
    ).all()
    return StoredGroup(
        frozenset(permissions or []),
        frozenset(user_id for user_id, _, _ in members),
        frozenset((user_id, name) for user_id, is_superuser, name in members if is_superuser),
    )


def lacking(editor: CurrentUser, permissions: Iterable[str]) -> list[str]:
    """The permissions the editor does not hold, sorted; none for a superuser."""
    if editor.is_superuser:
        return []
    return sorted(set(permissions) - editor.permissions)


def grant_refusal(editor: CurrentUser, before: Iterable[str], after: Iterable[str]) -> str | None:
    missing = lacking(editor, set(after) - set(before))
    if not missing:
        return None
    return f"you may grant only permissions you hold yourself; you do not hold {', '.join(missing)}"


def account_refusals(
    editor: CurrentUser, stored: StoredAccount, data: Mapping[str, Any]
) -> dict[str | int, str]:
    """Field-named refusals of a user form's values (`groups` as Group objects), if any."""
    if editor.is_superuser:
        return {}
    if stored.is_superuser:
        return {"is_superuser": SUPERUSER_ACCOUNT}
    errors: dict[str | int, str] = {}
    if "is_superuser" in data and bool(data["is_superuser"]):
        errors["is_superuser"] = SUPERUSER_ONLY
    if "permissions" in data:
        refusal = grant_refusal(editor, stored.own, data["permissions"] or [])
        if refusal:
            errors["permissions"] = refusal
    for group in data.get("groups") or []:
        missing = lacking(editor, group.permissions or [])
        if group.id not in stored.group_ids and missing:
            errors["groups"] = (
                "you may add members only to groups whose every permission you hold yourself; "
                f"{group.name!r} grants {', '.join(missing)}"
            )
            break
    return errors


def group_refusals(
    editor: CurrentUser, stored: StoredGroup, data: Mapping[str, Any]
) -> dict[str | int, str]:
    """Field-named refusals of a group form's values (`users` as User objects); empty if allowed."""
    if editor.is_superuser:
        return {}
    errors: dict[str | int, str] = {}
    permissions = stored.permissions
    if "permissions" in data:
        permissions = frozenset(data["permissions"] or [])
        refusal = grant_refusal(editor, stored.permissions, permissions)
        if refusal:
            errors["permissions"] = refusal
    added = [user for user in data.get("users") or [] if user.id not in stored.member_ids]
    if "users" in data:
        kept = {user.id for user in data["users"] or []}
        moved = [user.username for user in added if user.is_superuser]
        moved += sorted(name for user_id, name in stored.superusers if user_id not in kept)
        if moved:
            # A superuser's groups are part of their account: which alerts reach them, whether
            # a second factor is asked of them (TWO_FACTOR_FOR_GROUPS).
            errors["users"] = f"{SUPERUSER_ACCOUNT} ({', '.join(moved)})"
            return errors
    missing = lacking(editor, permissions)
    if added and missing:
        errors["users"] = (
            "you may add members only to groups whose every permission you hold yourself; "
            f"this group grants {', '.join(missing)}"
        )
    return errors


def password_refusal(editor: CurrentUser, stored: StoredAccount) -> str | None:
    """Why the editor may not set this account's password (it would let them sign in as it)."""
    if editor.is_superuser:
        return None
    if stored.is_superuser:
        return SUPERUSER_ACCOUNT.capitalize() + "."
    missing = lacking(editor, stored.permissions)
    if not missing:
        return None
    return (
        f"You may set the password only of accounts holding no permission you lack; "
        f"{stored.username} holds {', '.join(missing)}."
    )
