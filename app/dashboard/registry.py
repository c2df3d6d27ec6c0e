"""Cards by name: `@card(...)` on an async function `(session, clock, user) -> figures`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.clock import Clock

Read = Callable[[AsyncSession, Clock, CurrentUser], Awaitable[Any]]


@dataclass(frozen=True)
class Card:
    name: str
    title: str
    template: str  # renders the figures `read` returns, as `figures`
    read: Read
    permission: str | None  # None: every signed-in user sees it
    # What refreshes it live: `model:<key>` (an admin change to that model), `model` (any),
    # `job-finished` (a run ended), `unread` (the user's unread count changed).
    refresh_on: tuple[str, ...]
    wide: bool  # charts and lists take a whole row
    place: int  # cards are shown by place, then name

    def visible_to(self, user: CurrentUser) -> bool:
        return self.permission is None or user.can(self.permission)


CARDS: dict[str, Card] = {}


def card(
    name: str,
    *,
    title: str,
    template: str,
    permission: str | None = None,
    refresh_on: tuple[str, ...] = (),
    wide: bool = False,
    place: int = 100,
) -> Callable[[Read], Read]:
    """Declares a dashboard card; the function sends at most one statement, by indexed ranges."""

    def register(read: Read) -> Read:
        if name in CARDS and CARDS[name].read is not read:
            raise ValueError(f"card {name!r}: a card of that name is already declared")
        CARDS[name] = Card(name, title, template, read, permission, refresh_on, wide, place)
        return read

    return register


def load_cards() -> None:
    """Import every module of `app.dashboard.cards`, so the cards declared there register."""
    import app.dashboard.cards as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def cards_for(user: CurrentUser) -> list[Card]:
    """The cards this user may see, in their places."""
    load_cards()
    shown = [c for c in CARDS.values() if c.visible_to(user)]
    return sorted(shown, key=lambda c: (c.place, c.name))


def known_card(name: str) -> Card | None:
    load_cards()
    return CARDS.get(name)
