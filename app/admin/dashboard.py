"""`/admin/`: the dashboard, the cards the signed-in user may see (app/dashboard/).

Each card is also served alone at `/admin/dashboard/cards/<name>`: static/starboard.js asks
htmx to fetch it again when a /ws frame it follows arrives, at most once a second.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette_admin.routing import route
from starlette_admin.views import CustomView

from app.admin.library import admin_page
from app.auth.current import CurrentUser, current_user
from app.cache import Cache
from app.clock import SYSTEM_CLOCK, Clock
from app.dashboard import Card, cards_for, known_card
from app.dashboard.kept import figures_of
from app.errors import Forbidden, NotFound
from app.local_formats import reader


class Dashboard(CustomView):
    path = "/"
    route_name = "index"
    menu_label = "Dashboard"
    icon = "fa-solid fa-gauge"

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        cache: Cache,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__()
        self.session_factory = session_factory
        self.cache = cache  # cards' figures, kept a while (app/dashboard/kept.py)
        self.clock = clock
        # The admin's model keys, set once its views are registered: activity links only there.
        self.model_keys: frozenset[str] = frozenset()

    def is_accessible(self, request: Request) -> bool:
        return current_user(request) is not None

    def signed_in(self, request: Request) -> CurrentUser:
        user = current_user(request)
        if user is None:  # the admin's sign-in check runs first; this is for the type checker
            raise Forbidden("the dashboard needs a signed-in user")
        return user

    async def shown(self, user: CurrentUser, cards: list[Card]) -> list[tuple[Card, Any]]:
        """Each card with its figures: kept ones as kept, the others read in one session, one
        statement a card."""
        return await figures_of(cards, self.cache, self.session_factory, self.clock, user)

    def context(self, user: CurrentUser) -> dict[str, Any]:
        # The zone the cards' days and hours are in (the reader's, app/dashboard/periods.py).
        return {"user": user, "model_keys": self.model_keys, "zone": reader().zone}

    @route("")
    async def index(self, request: Request) -> Response:
        user = self.signed_in(request)
        context = self.context(user)
        context["title"] = "Dashboard"
        context["cards"] = await self.shown(user, cards_for(user))
        return admin_page(self, request, "dashboard/index.html", context)

    @route("/dashboard/cards/{name}", name="dashboard-card")
    async def card(self, request: Request) -> Response:
        user = self.signed_in(request)
        name = request.path_params["name"]
        card = known_card(name)
        if card is None:
            raise NotFound(f"no dashboard card {name!r}")
        if not card.visible_to(user):
            raise Forbidden(f"the {name} card needs {card.permission}")
        ((_, figures),) = await self.shown(user, [card])
        context = self.context(user) | {"card": card, "figures": figures}
        assert self.templates is not None, "set by the admin when the view is registered"
        return self.templates.TemplateResponse(request, "dashboard/card.html", context)
