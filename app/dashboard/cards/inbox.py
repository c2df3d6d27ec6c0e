"""The signed-in user's unread notifications: everyone has an inbox, so everyone sees it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.clock import Clock
from app.dashboard.figures import whole
from app.dashboard.registry import card
from app.models import Notification, NotificationRead
from app.notifications.service import unread_count


@dataclass(frozen=True)
class Unread:
    count: int

    @property
    def shown(self) -> str:
        return whole(self.count)


@card(
    "unread_notifications",
    title="Unread notifications",
    template="dashboard/cards/unread.html",
    refresh_on=("unread",),
    place=45,
    # Also the account's created_at (for notifications to all), which never changes.
    reads=(Notification, NotificationRead),
    per_user=True,
)
async def unread_notifications(session: AsyncSession, clock: Clock, user: CurrentUser) -> Unread:
    return Unread(await unread_count(session, user))
