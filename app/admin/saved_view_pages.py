"""Saved views on every model list (docs/reference.md, "Saved views"): the bar above the list
(templates/admin/saved_views.html), the default view a bare list URL opens, and the forms that
save, rename, overwrite, share, delete and choose the default.

A list page reads its saved views in one statement, as it opens; a bare list URL (no query
string) with a default view is redirected to that view's query. `?_default=off` shows the list
without it ("All rows").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.status import HTTP_302_FOUND, HTTP_303_SEE_OTHER
from starlette_admin.flash import flash
from starlette_admin.routing import route
from starlette_admin.views import BaseModelView

from app.admin.library import ListOpeningAdmin
from app.admin.list_state import (
    MOST_QUERY_CHARS,
    opens,
    query_pairs,
    same_state,
    saved_query,
    shown_state,
    spelled,
)
from app.admin.model_view import AutoModelView
from app.admin.saved_views import (
    ShownView,
    change_view,
    checked_group,
    checked_name,
    delete_view,
    find_view,
    kept_visible_views,
    may_change,
    save_view,
    set_default,
)
from app.auth.current import CurrentUser, actor_of, current_user
from app.errors import BadInput, Forbidden, NotFound
from app.route_urls import route_path
from app.typed_values import is_whole_number

# The mark that shows a list without its default view.
NO_DEFAULT = ("_default", "off")


@dataclass
class SavedViewBar:
    """What the bar above one list shows one user."""

    list_url: str
    query: str  # the page's own query string, what "Save" keeps
    user: CurrentUser
    views: list[ShownView] = field(default_factory=list)
    active: ShownView | None = None

    @property
    def default(self) -> ShownView | None:
        return next((view for view in self.views if view.is_default), None)

    @property
    def all_rows_url(self) -> str:
        return f"{self.list_url}?{spelled([NO_DEFAULT])}"

    @property
    def is_all_rows(self) -> bool:
        return not shown_state(query_pairs(self.query))

    @property
    def groups(self) -> list[tuple[int, str]]:
        return sorted(self.user.groups, key=lambda group: group[1])

    def url_of(self, view: ShownView) -> str:
        return f"{self.list_url}?{view.query}"

    def may_change(self, view: ShownView) -> bool:
        return may_change(self.user, view.owner_id)


class SavedViewPages(ListOpeningAdmin):
    """The admin's saved-view routes, and the list pages' opening (docs/reference.md)."""

    model_views: tuple[Any, ...] = ()  # set by build_admin (app/admin/site.py)

    async def list_opening(self, request: Request, view: BaseModelView) -> Response | None:
        if not isinstance(view, AutoModelView):
            return None
        view.check_columns(request, request.query_params)
        user = signed_in(request)
        key = str(view.key)
        bar = SavedViewBar(self.list_url(request, key), request.url.query, user)
        bar.views = await kept_visible_views(
            request.app.state.cache, request.state.session, user, key
        )
        here = request.query_params.multi_items()
        bar.active = next((v for v in bar.views if same_state(query_pairs(v.query), here)), None)
        request.state.saved_views = bar
        default = bar.default
        if not request.url.query and default is not None and opens(view, request, default.query):
            return RedirectResponse(bar.url_of(default), status_code=HTTP_302_FOUND)
        return None

    @route("/{key}/views", methods=["POST"], name="saved-view-create")
    async def create_saved_view(self, request: Request) -> Response:
        view, user = self.list_of(request)
        form = await request.form()
        name = checked_name(text_of(form, "name"))
        query = saved_query(view, request, text_of(form, "query") or "")
        group_id = checked_group(user, text_of(form, "group"))
        session = request.state.session
        saved = await save_view(
            session, actor_of(request), user, str(view.key), name, query, group_id
        )
        if text_of(form, "default"):
            await set_default(session, actor_of(request), user, str(view.key), saved)
        flash(request, f"Saved the view “{name}”.", "success")
        return self.back(request, str(view.key), query)

    @route("/{key}/views/{view_id:int}", methods=["POST"], name="saved-view-edit")
    async def edit_saved_view(self, request: Request) -> Response:
        view, user = self.list_of(request)
        form = await request.form()
        session = request.state.session
        saved = await find_view(
            session, user, str(view.key), request.path_params["view_id"], to_change=True
        )
        name = text_of(form, "name")
        query = text_of(form, "query")
        reshare = "group" in form
        group = checked_group(user, text_of(form, "group")) if reshare else None
        await change_view(
            session,
            actor_of(request),
            saved,
            name=None if name is None else checked_name(name),
            query=None if query is None else saved_query(view, request, query),
            reshare=reshare,
            group_id=group,
        )
        flash(request, f"Saved the view “{saved.name}”.", "success")
        return self.back(request, str(view.key), saved.query)

    @route("/{key}/views/{view_id:int}/delete", methods=["POST"], name="saved-view-delete")
    async def delete_saved_view(self, request: Request) -> Response:
        view, user = self.list_of(request)
        form = await request.form()
        session = request.state.session
        saved = await find_view(
            session, user, str(view.key), request.path_params["view_id"], to_change=True
        )
        name = saved.name
        await delete_view(session, actor_of(request), saved)
        flash(request, f"Deleted the view “{name}”.", "success")
        return self.back(request, str(view.key), text_of(form, "back") or "")

    @route("/{key}/views/default", methods=["POST"], name="saved-view-default")
    async def default_saved_view(self, request: Request) -> Response:
        view, user = self.list_of(request)
        form = await request.form()
        session = request.state.session
        text = text_of(form, "id") or ""
        if text and not is_whole_number(text, 18):
            raise BadInput("id: a saved view's number, or empty for no default", field="id")
        chosen = (
            await find_view(session, user, str(view.key), int(text), to_change=False)
            if text
            else None
        )
        await set_default(session, actor_of(request), user, str(view.key), chosen)
        if chosen is None:
            flash(request, "No default view: the list opens with all rows.", "success")
            return self.back(request, str(view.key), spelled([NO_DEFAULT]))
        flash(request, f"“{chosen.name}” is now your default view of this list.", "success")
        return self.back(request, str(view.key), chosen.query)

    # --- shared -------------------------------------------------------------------------

    def list_of(self, request: Request) -> tuple[AutoModelView, CurrentUser]:
        """The model view the path names, if this user may view its list."""
        key = request.path_params.get("key")
        view = next((v for v in self.model_views if v.key == key), None)
        if not isinstance(view, AutoModelView):
            raise NotFound(f"key: no model list named {str(key)[:40]!r}", field="key")
        user = signed_in(request)
        if not view.is_accessible(request):
            raise Forbidden(f"saving views of {key} needs {key}:view")
        return view, user

    def list_url(self, request: Request, key: str) -> str:
        # A path, as every link of the site's pages, found through the remembered routes.
        return route_path({"request": request}, f"{self.route_name}:list", key=key)

    def back(self, request: Request, key: str, query: str) -> Response:
        """To the list with `query`: the path is always the list's, only the query is given."""
        kept = spelled(query_pairs(query)) if len(query) <= MOST_QUERY_CHARS * 2 else ""
        target = self.list_url(request, key) + (f"?{kept}" if kept else "")
        return RedirectResponse(target, status_code=HTTP_303_SEE_OTHER)


def signed_in(request: Request) -> CurrentUser:
    user = current_user(request)
    if user is None:
        raise Forbidden("sign in first")
    return user


def text_of(form: FormData, name: str) -> str | None:
    """A form field's text; None when the form has no such field (a file is no text)."""
    value: Any = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{name}: text, not a file", field=name)
    return value
