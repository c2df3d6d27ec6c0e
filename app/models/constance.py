"""Live settings' tables: stored values, the global version, and the history of every change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now_utc


class SettingsVersion(Base):
    """One row whose number goes up with every change: what processes compare to heal."""

    __tablename__ = "live_settings_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __str__(self) -> str:
        return f"settings version {self.version}"


class StoredSetting(Base):
    """A value set by an operator; a key with no row has its code default."""

    __tablename__ = "live_setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    # Typed JSON: {"type": "decimal", "value": "19.99"}; the type tells a changed declaration.
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)  # the global version of its last change
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now()
    )
    updated_by: Mapped[str | None] = mapped_column(String(150))

    def __str__(self) -> str:
        return self.key


class SettingChange(Base):
    """One change of one setting: old and new value (secrets masked), who, when and why."""

    __tablename__ = "live_setting_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    # Typed JSON as in StoredSetting; null: the code default (never set, or reset).
    old_value: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new_value: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now(), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    username: Mapped[str | None] = mapped_column(String(150))
    reason: Mapped[str | None] = mapped_column(Text)

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"
