"""Cards by name: `@card(...)` on an async function `(session, clock, user) -> figures`.

A card that names the tables it `reads` has its figures kept a while in the cache
(app/dashboard/kept.py), dropped when a row of one changes; one that names none is read each time.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.cache import reads_from
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
    reads: tuple[Any, ...] = ()  # the tables its figures come from; none: never kept
    per_user: bool = False  # figures of the reader's own (their inbox), kept per user
    settings: tuple[str, ...] = ()  # live settings its figures depend on

    @property
    def namespace(self) -> str:
        """Where its figures are kept (app/cache.py)."""
        return f"dashboard:{self.name}"

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
    reads: tuple[Any, ...] = (),
    per_user: bool = False,
    settings: tuple[str, ...] = (),
) -> Callable[[Read], Read]:
    """Declares a dashboard card; the function sends at most one statement, by indexed ranges.

    `reads`: the tables (mapped classes or Table objects) the function reads; its figures are
    then kept until a row of one changes. `per_user`: figures depend on who reads them, beyond
    `permission`. `settings`: live settings the figures depend on.
    """

    def register(read: Read) -> Read:
        if name in CARDS and CARDS[name].read is not read:
            raise ValueError(f"card {name!r}: a card of that name is already declared")
        declared = Card(
            name,
            title,
            template,
            read,
            permission,
            refresh_on,
            wide,
            place,
            reads=tuple(reads),
            per_user=per_user,
            settings=tuple(settings),
        )
        if declared.reads:
            reads_from(declared.namespace, *declared.reads)
        CARDS[name] = declared
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
