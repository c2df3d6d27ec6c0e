"""Every admin page drawn in its user's colour theme, from the user the sign-in check loaded.

The server writes the theme on `<html>`, so the page is never drawn in the wrong one first.
Tabler has no theme that follows the system, so "auto" is drawn light and `data-sb-theme="auto"`
asks the first script of the page (templates/base.html) to switch to dark before anything is
painted when the system prefers it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette_admin.theme import DefaultTheme

from app.auth.current import current_user
from app.models.auth import Theme

DRAWN = {Theme.LIGHT.value: "light", Theme.DARK.value: "dark"}


class UserTheme(DefaultTheme):
    """starlette-admin's Tabler theme, its mode the signed-in user's (visitors: auto)."""

    def html_attrs(self, request: Request) -> dict[str, str]:
        attrs = super().html_attrs(request)
        user = current_user(request)
        chosen = user.theme if user is not None else Theme.AUTO.value
        # A value stored around the preferences page is drawn as auto, never written out.
        chosen = chosen if chosen in DRAWN else Theme.AUTO.value
        attrs["data-bs-theme"] = DRAWN.get(chosen, "light")
        attrs["data-sb-theme"] = chosen
        return attrs
