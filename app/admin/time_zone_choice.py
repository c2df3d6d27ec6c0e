"""`POST /admin/time-zone`: a user keeps their browser's zone, or the site's, for their pages.

Until a user has a zone of their own, every page offers the browser's (`time_zone/proposal.html`,
filled in by static/starboard.js); either button posts here. Any other page that sets a
user's zone stores it through the same `store_time_zone` (app/auth/time_zones.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.status import HTTP_303_SEE_OTHER, HTTP_400_BAD_REQUEST
from starlette_admin.helpers import index_url
from starlette_admin.plugins import BasePlugin
from starlette_admin.routing import route
from starlette_admin.views import CustomView

from app.admin.next_pages import safe_next
from app.auth.current import current_user
from app.auth.time_zones import UnknownTimeZone, store_time_zone


def proposal(connection: HTTPConnection, default_zone: str) -> str | None:
    """The zone a user without one of their own sees times in, while the proposal is shown;
    None when they chose already (or nobody is signed in)."""
    user = current_user(connection)
    return default_zone if user is not None and user.time_zone is None else None


class TimeZoneProposal(BasePlugin):
    """`time_zone_proposal(request)` for templates/base.html."""

    name = "time_zone"

    def __init__(self, default_zone: str) -> None:
        super().__init__()
        self.default_zone = default_zone  # TIMEZONE

    def template_globals(self) -> dict[str, Any]:
        return {"proposal": lambda connection: proposal(connection, self.default_zone)}


class TimeZoneChoice(CustomView):
    path = "/time-zone"
    route_name = "time-zone"
    add_to_menu = False

    @route("", methods=["POST"])
    async def choose(self, request: Request) -> Response:
        user = current_user(request)
        assert user is not None, "the auth provider lets no one through without a user"
        form = await request.form()
        session: AsyncSession = request.state.session
        try:
            await store_time_zone(session, user.id, form.get("time_zone"))
        except UnknownTimeZone as refused:
            return PlainTextResponse(refused.message, HTTP_400_BAD_REQUEST)
        home = index_url(request)
        back = safe_next(str(form.get("next") or home), request, home)
        return RedirectResponse(back, status_code=HTTP_303_SEE_OTHER)
