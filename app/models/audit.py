"""The audit log: who changed what, when and from where."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now_utc


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_model_object_pk", "model", "object_pk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now(), index=True
    )
    # Kept when the account is deleted: the username below still says who it was.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    username: Mapped[str | None] = mapped_column(String(150))
    client_address: Mapped[str | None] = mapped_column(String(64))
    # create, edit, delete, sign-in, sign-out, sign-in-failed, settings-edit, job-edit, job-run …
    action: Mapped[str] = mapped_column(String(40), index=True)
    model: Mapped[str | None] = mapped_column(String(80))
    object_pk: Mapped[str | None] = mapped_column(String(120))
    object_label: Mapped[str | None] = mapped_column(String(255))
    # {"field": {"old": …, "new": …}}, secrets masked.
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def __str__(self) -> str:
        what = f" {self.model} {self.object_label or self.object_pk}" if self.model else ""
        return f"{self.action}{what} by {self.username or 'anonymous'}"
