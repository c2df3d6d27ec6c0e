"""Two-factor authentication: a code from an authenticator app (TOTP, RFC 6238, through pyotp)
or a one-time recovery code, asked after the password or single sign-on (docs/reference.md,
"Two-factor authentication").

Secrets are stored as the app holds them (base32), not encrypted: no encryption library is among
the declared dependencies, and a key derived from SECRET_KEY would end every enrolment when the
key is rotated. No admin page shows the tables; a database copy must be guarded accordingly.
Recovery codes are stored argon2-hashed, as passwords are, and deleted when used.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Any

import anyio.to_thread
import pyotp
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import record
from app.auth.current import Actor
from app.auth.passwords import hash_password, verify_password
from app.errors import BadInput, Conflict
from app.models import Group, User, user_group
from app.models.two_factor import RecoveryCode, TwoFactor
from app.typed_values import is_whole_number

ISSUER = "Starboard"  # the name authenticator apps list the account under
CODE = "code"  # the form field a code is typed in
CODE_DIGITS = 6
RECOVERY_CODES = 10
# No 0/o, 1/l/i: a code read off paper is typed right.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 10
# A code of the step before or after now is accepted too: phones' clocks drift.
DRIFT_STEPS = 1
# Counted by the sign-in throttle under this name for each user, whatever the browser: a right
# password clears a browser's count, and must not clear the count of wrong codes.
THROTTLE_COUNT = "two-factor"

WRONG_CODE = (
    "Code: not accepted. Type the 6 digits your authenticator app shows now, "
    "or one of your recovery codes"
)
WRONG_SETUP_CODE = (
    "Code: not the code for this key. Type the 6 digits your authenticator app shows "
    "for Starboard now (check the phone's time is set automatically)"
)
ALREADY_ON = "Two-factor authentication is already on: turn it off first to use a new key"


class AlreadyEnrolled(Conflict):
    """A second enrolment while a factor is on."""


class CodeRefused(BadInput):
    """A wrong, reused or malformed code; the message names the field and what is accepted."""

    def __init__(self, message: str = WRONG_CODE) -> None:
        super().__init__(message, field=CODE)


class NotEnrolled(CodeRefused):
    """A code for an account that has no factor (reset, or turned off, since it was asked)."""

    def __init__(self) -> None:
        super().__init__("Code: no second factor is enrolled for this account")


def new_secret() -> str:
    return pyotp.random_base32()


def setup_uri(secret: str, username: str) -> str:
    """What the QR code holds: the otpauth:// address every authenticator app reads."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_code_svg(secret: str, username: str) -> str:
    """The setup address as an inline SVG (no request leaves the page), dark on white so it
    scans in the dark theme too."""
    import segno  # loaded when a QR code is drawn, not at every server's start

    qr = segno.make(setup_uri(secret, username), error="m")
    svg: str = qr.svg_inline(scale=5, dark="#000", light="#fff", omitsize=False)
    return svg


def spaced(secret: str) -> str:
    """The secret in groups of four, as people type it into an app."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def typed_code(value: object) -> str:
    """The code as typed, without spaces or dashes, lower case."""
    text = value if isinstance(value, str) else ""
    return "".join(text.split()).replace("-", "").lower()[:64]


def is_app_code(code: str) -> bool:
    return len(code) == CODE_DIGITS and is_whole_number(code)


def step_of(secret: str, code: str, now: dt.datetime) -> int | None:
    """The 30-second step whose code `code` is, near `now`; None when it is none of them."""
    if not is_app_code(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(now, counter_offset=offset), code):
            return current + offset
    return None


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        code = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append(f"{code[:5]}-{code[5:]}")
    return codes


async def factor_of(session: AsyncSession, user_id: int) -> TwoFactor | None:
    return await session.get(TwoFactor, user_id)


async def recovery_codes_left(session: AsyncSession, user_id: int) -> int:
    rows = await session.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user_id))
    return len(rows.all())


def named_groups(live: Any) -> list[str]:
    """The groups whose members the live setting TWO_FACTOR_FOR_GROUPS asks a code of."""
    if live is None:
        return []
    return [name.strip() for name in live.TWO_FACTOR_FOR_GROUPS or []]


async def required_for(session: AsyncSession, user: User, live: Any) -> bool:
    """Whether a live setting requires a second factor of this user (superusers, or members of
    the groups listed)."""
    if live is None:
        return False
    if user.is_superuser and live.TWO_FACTOR_FOR_SUPERUSERS:
        return True
    groups = named_groups(live)
    if not groups:
        return False
    member = await session.scalar(
        select(Group.id)
        .join(user_group, user_group.c.group_id == Group.id)
        .where(user_group.c.user_id == user.id, Group.name.in_(groups))
        .limit(1)
    )
    return member is not None


async def asked_of(
    session: AsyncSession, user: User, method: str, live: Any, factor: TwoFactor | None
) -> bool:
    """Whether this sign-in must give a second factor before its session starts; `factor` is
    the user's (factor_of), read once by the caller."""
    if method == "oidc" and live is not None and live.TWO_FACTOR_TRUST_SSO:
        return False  # the identity provider's own check stands for ours
    if factor is not None:
        return True
    return await required_for(session, user, live)


async def accept_code(session: AsyncSession, user_id: int, typed: str, now: dt.datetime) -> str:
    """Checks a code typed at sign-in or to confirm a change: "app" for the authenticator's
    code (its step then refused from now on), "recovery" for a recovery code (then deleted).
    Raises CodeRefused for anything else, a code already used included."""
    code = typed_code(typed)
    factor = await factor_of(session, user_id)
    if factor is None:
        raise NotEnrolled()
    if is_app_code(code):
        step = step_of(factor.secret, code, now)
        if step is not None:
            # One statement decides, so two requests with the same code cannot both pass.
            used = await session.execute(
                update(TwoFactor)
                .where(
                    TwoFactor.user_id == user_id,
                    or_(TwoFactor.last_step.is_(None), TwoFactor.last_step < step),
                )
                .values(last_step=step)
                .execution_options(synchronize_session="fetch")
            )
            if used.rowcount == 1:  # type: ignore[attr-defined]
                return "app"
        raise CodeRefused()
    if len(code) == RECOVERY_LENGTH:
        rows = await session.execute(
            select(RecoveryCode.id, RecoveryCode.code_hash).where(RecoveryCode.user_id == user_id)
        )
        kept = {row.id: row.code_hash for row in rows}
        # Up to ten argon2 checks: off the event loop, as every other request goes on.
        match = await anyio.to_thread.run_sync(matching_code, kept, code)
        if match is not None:
            gone = await session.execute(delete(RecoveryCode).where(RecoveryCode.id == match))
            if gone.rowcount == 1:  # type: ignore[attr-defined]
                return "recovery"
    raise CodeRefused()


def matching_code(kept: dict[int, str], code: str) -> int | None:
    """The id of the recovery code whose hash `code` matches, if any."""
    return next((key for key, hashed in kept.items() if verify_password(hashed, code)), None)


async def store_recovery_codes(session: AsyncSession, user_id: int) -> list[str]:
    """Ten new codes replace the user's old ones; only their hashes are kept."""
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = new_recovery_codes()
    hashes = await anyio.to_thread.run_sync(
        lambda: [hash_password(code.replace("-", "")) for code in codes]
    )
    session.add_all(RecoveryCode(user_id=user_id, code_hash=hashed) for hashed in hashes)
    await session.flush()
    return codes


async def enrol(
    session: AsyncSession,
    user_id: int,
    username: str,
    secret: str,
    typed: str,
    now: dt.datetime,
    actor: Actor,
) -> list[str]:
    """Stores the factor once `typed` proves the app holds `secret`; returns the recovery codes
    to show once. A wrong code stores nothing."""
    step = step_of(secret, typed_code(typed), now)
    if step is None:
        raise CodeRefused(WRONG_SETUP_CODE)
    if await factor_of(session, user_id) is not None:
        # Replacing a factor needs proof of the current one: it is turned off first.
        raise AlreadyEnrolled(ALREADY_ON, field="two_factor")
    try:
        # Two requests at once (a double click) both pass the check above: one row wins.
        async with session.begin_nested():
            session.add(TwoFactor(user_id=user_id, secret=secret, enrolled_at=now, last_step=step))
    except IntegrityError:
        raise AlreadyEnrolled(ALREADY_ON, field="two_factor") from None
    codes = await store_recovery_codes(session, user_id)
    audit(session, "two-factor-enrolled", actor, user_id, username)
    return codes


async def regenerate_recovery_codes(
    session: AsyncSession, user_id: int, username: str, actor: Actor
) -> list[str]:
    codes = await store_recovery_codes(session, user_id)
    audit(session, "recovery-codes-regenerated", actor, user_id, username)
    return codes


async def remove(
    session: AsyncSession, user_id: int, username: str, actor: Actor, *, action: str
) -> bool:
    """Removes the user's factor and recovery codes (`action`: "two-factor-disabled" by the
    user, "two-factor-reset" by a superuser); False when there was none. Sessions go on."""
    gone = await session.execute(delete(TwoFactor).where(TwoFactor.user_id == user_id))
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    if gone.rowcount != 1:  # type: ignore[attr-defined]
        return False
    audit(session, action, actor, user_id, username)
    return True


def audit(
    session: AsyncSession,
    action: str,
    actor: Actor,
    user_id: int,
    username: str,
    changes: dict[str, Any] | None = None,
) -> None:
    record(
        session,
        action,
        actor,
        model="user",
        object_pk=user_id,
        object_label=username,
        changes=changes,
    )
