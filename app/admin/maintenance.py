"""Maintenance mode in the admin: the banner on every page, and pausing changes while it is on.

The MAINTENANCE_MODE live setting switches it; superusers keep writing, and the settings page
stays writable (with `settings:edit`) so it can be switched off again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.status import HTTP_403_FORBIDDEN
from starlette_admin.plugins import BasePlugin
from starlette_admin.routing import route
from starlette_admin.types import RequestAction
from starlette_admin.views import CustomView

from app.auth.current import current_user
from app.constance.values import LiveSettings

# The settings a banner shows: a change to any of them refreshes every open banner.
BANNER_KEYS = ("MAINTENANCE_MODE", "MAINTENANCE_MESSAGE", "STATUS_PAGE_URL")
REFUSAL = (
    "Maintenance mode is on: changes are paused; ask a superuser if this cannot wait, "
    "or try again when maintenance is over."
)
# Requests that are the write itself (or its form): refused with the reason, not a bare 403.
WRITING = frozenset(
    {
        RequestAction.CREATE,
        RequestAction.EDIT,
        RequestAction.INLINE_EDIT,
        RequestAction.ACTION,
        RequestAction.ROW_ACTION,
        RequestAction.IMPORT,
    }
)


@dataclass(frozen=True)
class Banner:
    on: bool
    message: str
    status_page: str


def live_settings(connection: HTTPConnection) -> LiveSettings | None:
    """The app's live settings; None for an admin mounted without them (benchmarks)."""
    live = getattr(connection.app.state, "live_settings", None)
    return live if isinstance(live, LiveSettings) else None


def banner(connection: HTTPConnection) -> Banner | None:
    live = live_settings(connection)
    if live is None:
        return None
    return Banner(
        bool(live.MAINTENANCE_MODE), str(live.MAINTENANCE_MESSAGE), str(live.STATUS_PAGE_URL)
    )


def changes_paused(request: Request) -> bool:
    """Whether this request's user may not change admin data right now."""
    live = live_settings(request)
    user = current_user(request)
    return live is not None and bool(live.MAINTENANCE_MODE) and not (user and user.is_superuser)


def refuse_if_writing(request: Request) -> None:
    """Raises the maintenance refusal when this request is a write; list pages just hide buttons."""
    if getattr(request.state, "action", None) in WRITING:
        raise HTTPException(HTTP_403_FORBIDDEN, REFUSAL)


class MaintenanceChrome(BasePlugin):
    """`maintenance_banner(request)` for templates/base.html."""

    name = "maintenance"

    def template_globals(self) -> dict[str, Any]:
        return {"banner": banner}  # `maintenance_banner(request)` in templates


class MaintenanceBanner(CustomView):
    """GET /admin/settings/banner: the banner fragment, for any signed-in user (live refresh)."""

    path = "/settings/banner"
    route_name = "settings-banner"
    add_to_menu = False

    @route("")
    async def index(self, request: Request) -> Response:
        assert self.templates is not None, "set by the admin when the view is registered"
        return self.templates.TemplateResponse(request, "constance/banner.html")
