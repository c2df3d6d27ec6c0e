"""One user's own audit entries, newest first: what their activity page shows, and nobody
else's."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEntry


async def count_entries_by(session: AsyncSession, user_id: int) -> int:
    found = await session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.user_id == user_id)
    )
    return int(found or 0)


async def entries_by(
    session: AsyncSession, user_id: int, *, offset: int, limit: int
) -> Sequence[AuditEntry]:
    """The entries whose actor is the user (their sign-ins, failed ones for their account
    included), newest first."""
    found = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.user_id == user_id)
        .order_by(AuditEntry.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return found.all()
