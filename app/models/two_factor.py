"""Second factors: a user's TOTP secret and their one-time recovery codes (docs/reference.md,
"Two-factor authentication"). No admin page shows either table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now_utc


class TwoFactor(Base):
    """A user's enrolled authenticator app; no row: no factor enrolled."""

    __tablename__ = "two_factor"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    # Base32, as the authenticator app holds it: every code is checked against it.
    secret: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
    # The 30-second step of the last code accepted: a code of that step or older is refused.
    last_step: Mapped[int | None] = mapped_column(Integer)


class RecoveryCode(Base):
    """One unused recovery code, argon2-hashed; using it deletes the row."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(255))
