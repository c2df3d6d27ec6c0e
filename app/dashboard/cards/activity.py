"""Recent activity: the newest entries of the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.clock import Clock
from app.dashboard.registry import card
from app.models.audit import AuditEntry

LISTED = 10


@dataclass(frozen=True)
class Activity:
    entries: Sequence[AuditEntry]  # newest first


@card(
    "recent_activity",
    title="Recent activity",
    template="dashboard/cards/activity.html",
    permission="audit:view",
    refresh_on=("model",),
    wide=True,
    place=80,
)
async def recent_activity(session: AsyncSession, clock: Clock, user: CurrentUser) -> Activity:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(LISTED)
    return Activity(tuple(await session.scalars(stmt)))
