"""Cards' figures kept a while in the cache (app/cache.py), so a dashboard read again costs no
statement, and with Redis one process's figures serve every process.

A card's figures are kept under its own namespace, dropped by a commit that changes a table the
card `reads`, and for at most KEPT_S. They are keyed by what they depend on: the minute (every
zone's days and hours begin on one), the reader's zone, language and currency (figures hold
formatted numbers), the card's live settings, and for a card of the reader's own, who they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import constance
from app.auth.current import CurrentUser
from app.cache import Cache
from app.clock import Clock
from app.dashboard.registry import Card
from app.local_formats import reader

KEPT_S = 10.0  # figures a change did not drop are at most this old


def key_of(card: Card, user: CurrentUser, clock: Clock) -> Hashable:
    minute = clock.now().astimezone(dt.UTC).replace(second=0, microsecond=0)
    page = reader()
    settings = tuple(str(getattr(constance.settings, name)) for name in card.settings)
    who = (user.id, tuple(sorted(user.groups))) if card.per_user else None
    return (minute.isoformat(), page.zone, str(page.locale), page.currency, settings, who)


async def figures_of(
    cards: Sequence[Card],
    cache: Cache,
    session_factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    user: CurrentUser,
) -> list[tuple[Card, Any]]:
    """Each card with its figures: those kept, and the others read in one session (opened only
    when one is not kept)."""
    session: AsyncSession | None = None
    try:
        shown = []
        for card in cards:

            async def read(card: Card = card) -> Any:
                nonlocal session
                if session is None:
                    session = session_factory()
                return await card.read(session, clock, user)

            if card.reads:
                figures = await cache.fetch(
                    card.namespace, key_of(card, user, clock), read, ttl_s=KEPT_S
                )
            else:
                figures = await read()
            shown.append((card, figures))
        return shown
    finally:
        if session is not None:
            await session.close()
