"""What signed-in users change of their own account: their password, which asks for the current
one, and their preferences (docs/reference.md, "Your account").

A wrong current password counts like a failed sign-in from a known browser, on this sign-in's
own count: whoever holds a signed-in browser guesses no faster than the sign-in form lets them,
and their guesses lock neither the user's sign-ins nor the user's other sessions.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.diff import shown
from app.audit.log import record
from app.auth.current import Actor, CurrentUser
from app.auth.passwords import check_strength, hash_password, verify_password
from app.auth.sign_ins import token_hash
from app.auth.throttle import SignInThrottle, retry_message
from app.auth.time_zones import FIELD as TIME_ZONE_FIELD
from app.auth.time_zones import check_time_zone
from app.errors import BadInput
from app.models import User
from app.models.auth import Theme

CURRENT_PASSWORD = "current_password"
THEME = "theme"
TIME_ZONE = TIME_ZONE_FIELD
KEEP = object()  # a preferences form without the time zone field leaves the zone as it is
THEMES = tuple(theme.value for theme in Theme)


class CurrentPasswordRefused(BadInput):
    """The current password typed is not the account's, or too many wrong ones came just now."""

    def __init__(self, message: str, *, locked: bool) -> None:
        super().__init__(message, field=CURRENT_PASSWORD)
        self.locked = locked


def throttle_count(sign_in: object) -> str:
    """The throttle's per-browser count this sign-in's guesses go to; a known browser's id
    (app/auth/known_browsers.py) never holds a dot, so the two never share one."""
    return "sign-in." + (token_hash(sign_in)[:32] if isinstance(sign_in, str) else "none")


async def check_current_password(
    session: AsyncSession,
    throttle: SignInThrottle,
    user: CurrentUser,
    typed: str,
    *,
    sign_in: object,
    address: str | None,
) -> User:
    """The account, when `typed` is its password and this sign-in is not locked out."""
    count = throttle_count(sign_in)
    wait = await throttle.retry_after(user.username, address, count)
    if wait is not None:
        message = retry_message(wait, "wrong passwords")
        raise CurrentPasswordRefused(f"Current password: {message}", locked=True)
    account = await session.get(User, user.id)
    if account is None or not verify_password(account.password_hash, typed):
        await throttle.failed(user.username, address, count)
        raise CurrentPasswordRefused(
            "Current password: not the password of this account", locked=False
        )
    await throttle.succeeded(user.username, address, count)
    return account


async def change_password(
    session: AsyncSession, account: User, password: str, actor: Actor
) -> None:
    """Stores the new password and its audit entry in the caller's transaction. The account's
    session epoch moves with it (app/models/auth.py): every session of it ends at its next
    request, unless its cookie is given the new epoch."""
    check_strength(password, account.username)
    before = account.password_hash
    account.password_hash = hash_password(password)
    await session.flush()  # the epoch moves here
    record(
        session,
        "password-change",
        actor,
        model="user",
        object_pk=account.id,
        object_label=account.username,
        changes={"password_hash": shown("password_hash", before, account.password_hash)},
    )


def checked_theme(value: object) -> str:
    if not isinstance(value, str) or value not in THEMES:
        raise BadInput(f"Theme: one of {', '.join(THEMES)}", field=THEME)
    return value


async def save_preferences(
    session: AsyncSession,
    user: CurrentUser,
    theme: object,
    actor: Actor,
    time_zone: object = KEEP,
) -> bool:
    """Stores the user's preferences, audited; False when nothing changed. `time_zone`: an IANA
    name, "" for the site's `TIMEZONE`, or KEEP (a form without the field) to leave it."""
    chosen: dict[str, str | None] = {THEME: checked_theme(theme)}
    if time_zone is not KEEP:
        chosen[TIME_ZONE] = check_time_zone(time_zone) if time_zone != "" else None
    account = await session.get(User, user.id)
    if account is None:  # removed since this request's sign-in check
        raise BadInput("user: this account no longer exists", field="user")
    changes = {
        name: shown(name, getattr(account, name), value)
        for name, value in chosen.items()
        if getattr(account, name) != value
    }
    if not changes:
        return False
    record(
        session,
        "preferences-edit",
        actor,
        model="user",
        object_pk=account.id,
        object_label=account.username,
        changes=changes,
    )
    for name in changes:
        setattr(account, name, chosen[name])
    return True
