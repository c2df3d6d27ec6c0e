"""Pages a list loads beside itself (`/admin/<model>/dates`, `/admin/<model>/filters`): each
answers for the model view its path names, read as the list reads it."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.status import HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND
from starlette_admin.contrib.sqla import Admin
from starlette_admin.types import RequestAction


class ListFragments(Admin):
    """An admin with the model views set by build_admin (app/admin/site.py)."""

    model_views: tuple[Any, ...] = ()

    def listed_view(self, request: Request) -> Any:
        """The model view the path names, for a user who may view its list: 404, 403 else.
        The request then reads the list's own lookups from its query string."""
        request.state.action = RequestAction.LIST
        key = request.path_params.get("key")
        view = next((v for v in self.model_views if v.key == key), None)
        if view is None:
            raise HTTPException(HTTP_404_NOT_FOUND)
        if not view.is_accessible(request):
            raise HTTPException(HTTP_403_FORBIDDEN)
        return view
