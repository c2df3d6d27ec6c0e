"""A sign-in waiting for its second factor: who proved who they are, and how, kept for a few
minutes in the signed session cookie until a code completes it (docs/reference.md,
"Two-factor authentication"). Nobody is signed in meanwhile: the cookie names no session."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

KEY = "pending_sign_in"
LIFETIME_S = 300  # the time to take the phone out and type a code


@dataclass(frozen=True)
class PendingSignIn:
    user_id: int
    epoch: int  # the account's session epoch then: a password change since refuses it
    remember: bool
    next_url: str | None
    method: str
    since: int  # epoch seconds
    # A user required to enrol does it on the code page: the key shown to them until confirmed.
    new_secret: str | None = None
    # A single sign-on's ID token, kept for the session the code starts: it signs out there too.
    id_token: str | None = None


def keep(session: MutableMapping[str, Any], pending: PendingSignIn) -> None:
    """Replaces whatever the cookie held: no earlier sign-in survives a new one."""
    session.clear()
    session[KEY] = asdict(pending)


def pending_of(session: MutableMapping[str, Any], now: float) -> PendingSignIn | None:
    """The sign-in waiting in this cookie, unless it is older than LIFETIME_S or malformed."""
    kept = session.get(KEY)
    if not isinstance(kept, dict):
        return None
    try:
        pending = PendingSignIn(**kept)
    except TypeError:
        return None
    fresh = isinstance(pending.since, int) and 0 <= now - pending.since <= LIFETIME_S
    if not fresh or not isinstance(pending.user_id, int) or not isinstance(pending.epoch, int):
        return None
    return pending


def forget(session: MutableMapping[str, Any]) -> None:
    session.pop(KEY, None)
