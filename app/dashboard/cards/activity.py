"""Recent activity: the newest entries of the audit log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.clock import Clock
from app.dashboard.registry import card
from app.models.audit import AuditEntry

LISTED = 10


@dataclass(frozen=True)
class Entry:
    """What the card shows of an audit entry (kept figures hold no database rows)."""

    at: dt.datetime
    username: str | None
    action: str
    model: str | None
    object_pk: str | None
    object_label: str | None


@dataclass(frozen=True)
class Activity:
    entries: tuple[Entry, ...]  # newest first


@card(
    "recent_activity",
    title="Recent activity",
    template="dashboard/cards/activity.html",
    permission="audit:view",
    refresh_on=("model",),
    wide=True,
    place=80,
    reads=(AuditEntry,),
)
async def recent_activity(session: AsyncSession, clock: Clock, user: CurrentUser) -> Activity:
    a = AuditEntry
    shown = (a.at, a.username, a.action, a.model, a.object_pk, a.object_label)
    stmt = select(*shown).order_by(a.id.desc()).limit(LISTED)
    return Activity(tuple(Entry(*row) for row in await session.execute(stmt)))
