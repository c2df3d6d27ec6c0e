"""Saved views of model lists: a list's state (filters, sort, search, columns) under a name, for
its owner or shared with one of their groups, and each user's default view of each list."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now_utc


class SavedView(Base):
    __tablename__ = "saved_view"
    # One name per owner and list; the constraint's index also finds an owner's views.
    __table_args__ = (UniqueConstraint("owner_id", "model", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(64))  # the list's identity: `order`, `product`
    name: Mapped[str] = mapped_column(String(80))
    # The list's query string as the list page reads it: `status__in=paid&sort=id__desc&cols=…`.
    query: Mapped[str] = mapped_column(String(2000))
    # Shared with this group's members; None: its owner's alone. A deleted group unshares it.
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_group.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now(), onupdate=now_utc
    )

    def __str__(self) -> str:
        return self.name


class DefaultView(Base):
    """The view a user's bare list URL opens: one per user and list, theirs or shared with them."""

    __tablename__ = "saved_view_default"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    view_id: Mapped[int] = mapped_column(
        ForeignKey("saved_view.id", ondelete="CASCADE"), index=True
    )
