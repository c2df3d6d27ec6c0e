"""Single sign-on accounts: the user an OpenID Connect provider's verified ID token names, made at
their first sign-in and brought up to date at each (docs/reference.md, "Single sign-on")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.audit.log import record
from app.auth.accounts import username_holder
from app.auth.current import Actor
from app.db import now_utc
from app.errors import BadQuery, Forbidden
from app.models import Group, SingleSignOnIdentity, User

# Not an argon2 hash: no password ever verifies against it, so the account signs in only
# through the provider (until a superuser sets it a password).
NO_PASSWORD = "!single-sign-on"
USERNAME_LENGTH = 150
FALLBACK_USERNAME = "sso-user"


class SignInRefused(Forbidden):
    """Who the provider says you are is not accepted here; `reason` is what the audit log keeps."""

    title = "Sign-in refused"

    def __init__(self, message: str, reason: str, username: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.username = username  # who was refused, when it is known


class BrokenSignIn(BadQuery):
    """The answer that came back from the provider is not one this sign-in can use (a state it
    did not start, a code refused): 400, and `reason` for the audit log."""

    title = "Sign-in not completed"

    def __init__(self, message: str, reason: str, username: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.username = username  # who was refused, when it is known


@dataclass(frozen=True)
class ProviderAccount:
    """What a verified ID token says about the person signing in."""

    issuer: str
    subject: str
    username: str  # preferred_username, else the e-mail, else FALLBACK_USERNAME
    email: str | None
    name: str | None
    groups: tuple[str, ...]  # the values of OIDC_GROUPS_CLAIM

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], groups_claim: str) -> ProviderAccount:
        email = _text(claims.get("email"))
        username = _text(claims.get("preferred_username")) or email or FALLBACK_USERNAME
        raw_groups = claims.get(groups_claim)
        if isinstance(raw_groups, str):
            raw_groups = [raw_groups]  # some providers send one group as a bare string
        groups = tuple(g for g in raw_groups or () if isinstance(g, str))
        return cls(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            username=username[:USERNAME_LENGTH],
            email=email[:254] if email else None,
            name=(_text(claims.get("name")) or "")[:255] or None,
            groups=groups,
        )


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def mapped_group_names(groups: tuple[str, ...], mapping: Mapping[str, Any]) -> list[str]:
    """The Starboard group names SSO_GROUPS gives these provider groups, in mapping order."""
    names: list[str] = []
    for provider_group, mapped in mapping.items():
        if provider_group not in groups:
            continue
        for name in [mapped] if isinstance(mapped, str) else mapped:
            if name not in names:
                names.append(name)
    return names


def groups_mapped_to(mapping: Mapping[str, Any]) -> set[str]:
    """Every Starboard group name SSO_GROUPS gives anyone: people signing in join these."""
    return {
        name
        for mapped in mapping.values()
        for name in ([mapped] if isinstance(mapped, str) else mapped)
    }


async def provision(
    session: AsyncSession,
    account: ProviderAccount,
    mapping: Mapping[str, Any],
    address: str | None,
) -> User:
    """The user this provider account is, created on its first sign-in, with its e-mail, name
    and groups as the provider says now; each change audited. A deactivated user is refused."""
    identity = await session.scalar(
        select(SingleSignOnIdentity).where(
            SingleSignOnIdentity.issuer == account.issuer,
            SingleSignOnIdentity.subject == account.subject,
        )
    )
    groups = await _groups_named(session, mapped_group_names(account.groups, mapping))
    if identity is None:
        user = User(
            username=await _free_username(session, account.username),
            email=account.email,
            password_hash=NO_PASSWORD,
            is_superuser=False,
            permissions=[],
            groups=groups,
        )
        session.add(user)
        await session.flush()
        identity = SingleSignOnIdentity(
            user_id=user.id, issuer=account.issuer, subject=account.subject, name=account.name
        )
        session.add(identity)
        record(
            session,
            "user-provisioned",
            Actor(user.id, user.username, address),
            model="user",
            object_pk=user.id,
            object_label=user.username,
            changes={
                "issuer": account.issuer,
                "subject": account.subject,
                "email": account.email,
                "name": account.name,
                "groups": [group.name for group in groups],
            },
        )
    else:
        found = await session.scalar(
            select(User).options(selectinload(User.groups)).where(User.id == identity.user_id)
        )
        assert found is not None, "the identity's user is deleted with it (ON DELETE CASCADE)"
        user = found
        if not user.is_active:
            raise SignInRefused(
                f"The account {user.username} is deactivated in Starboard: ask an administrator "
                "to reactivate it.",
                "account deactivated",
                user.username,
            )
        changes = _update(user, identity, account, groups)
        if changes:
            record(
                session,
                "user-synced",
                Actor(user.id, user.username, address),
                model="user",
                object_pk=user.id,
                object_label=user.username,
                changes=changes,
            )
    identity.last_sign_in = now_utc()
    return user


def _update(
    user: User, identity: SingleSignOnIdentity, account: ProviderAccount, groups: list[Group]
) -> dict[str, Any]:
    """Brings the user in line with the provider; the changes, as the audit log shows them."""
    changes: dict[str, Any] = {}
    if user.email != account.email:
        changes["email"] = {"old": user.email, "new": account.email}
        user.email = account.email
    if identity.name != account.name:
        changes["name"] = {"old": identity.name, "new": account.name}
        identity.name = account.name
    old = sorted(group.name for group in user.groups)
    new = sorted(group.name for group in groups)
    if old != new:
        changes["groups"] = {"old": old, "new": new}
        user.groups = groups
    return changes


async def _groups_named(session: AsyncSession, names: list[str]) -> list[Group]:
    """The groups that exist among `names`: a name SSO_GROUPS maps to but no group has is
    skipped (groups, and their permissions, are made by an administrator)."""
    if not names:
        return []
    found = await session.scalars(select(Group).where(Group.name.in_(names)))
    return sorted(found, key=lambda group: names.index(group.name))


async def _free_username(session: AsyncSession, wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`, … when another account has it already."""
    candidate, number = wanted, 1
    while await username_holder(session, candidate) is not None:
        number += 1
        suffix = f"-{number}"
        candidate = wanted[: USERNAME_LENGTH - len(suffix)] + suffix
    return candidate
