"""Sign-ins on the server: each one a row the session cookie names, ended at sign-out.

The cookie carries a random token; the row is keyed by its SHA-256, so the table opens no
session if it leaks. A cookie whose row has ended opens nothing, wherever it was saved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.sessions import LONGEST_LIFETIME_S
from app.channels import Broker
from app.channels.names import user_channel
from app.models import SignInSession

# On a user's channel: their sessions may have ended (sign-out, a new password); every open
# socket of theirs, in every process, looks its session up again (app/views/ws.py).
SESSIONS_FRAME = {"type": "sessions"}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def begin(session: AsyncSession, user_id: int, now: dt.datetime) -> str:
    """A new sign-in for the user; returns the token for the cookie."""
    # Rows past every session's lifetime open nothing any more: cleared as new ones come.
    oldest = now - dt.timedelta(seconds=LONGEST_LIFETIME_S)
    await session.execute(delete(SignInSession).where(SignInSession.started_at < oldest))
    token = secrets.token_urlsafe(32)
    session.add(SignInSession(token_hash=token_hash(token), user_id=user_id, started_at=now))
    return token


async def end(session: AsyncSession, token: object, now: dt.datetime) -> None:
    """Ends the sign-in the token names; a missing or unknown token ends nothing."""
    if isinstance(token, str):
        await session.execute(
            update(SignInSession)
            .where(SignInSession.token_hash == token_hash(token), SignInSession.ended_at.is_(None))
            .values(ended_at=now)
        )


async def tell_sockets(broker: Broker, user_id: int) -> None:
    """After the commit that ended sessions of the user: their sockets check theirs at once."""
    await broker.publish(user_channel(user_id), SESSIONS_FRAME)
