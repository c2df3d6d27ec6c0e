"""Frames published without Redis, kept a minute so every other process can read them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class RelayedFrame(Base):
    __tablename__ = "relayed_frame"
    # AUTOINCREMENT on SQLite: ids are never reused once the table is pruned empty, so a
    # process reading "id > the last it saw" never skips a new row.
    __table_args__ = (
        Index("ix_relayed_frame_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The publishing process, which delivered the frame to its own sockets already.
    sender: Mapped[str] = mapped_column(String(40))
