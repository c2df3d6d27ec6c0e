"""Every use of starlette-admin's private API, in one place: names with a leading underscore,
and modules its documentation does not present. Each was written against the version named
beside it (requirements.lock); when the library is upgraded, this module is the list to check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from jinja2 import Environment
from sqlalchemy import Select
from starlette.datastructures import FormData, QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.status import HTTP_403_FORBIDDEN
from starlette_admin.contrib.sqla import Admin, InlineModelView, ModelView
from starlette_admin.contrib.sqla.middleware import DBSessionMiddleware
from starlette_admin.exceptions import FormValidationError
from starlette_admin.fields import BaseField
from starlette_admin.flash import _FLASH_COOKIE, _FLASH_SALT
from starlette_admin.i18n import (
    get_database_timezone,
    get_timezone,
    is_timezone_conversion_enabled,
    set_timezone,
)
from starlette_admin.routing import route
from starlette_admin.security.csrf import CSRFMiddleware
from starlette_admin.tools.iter import iterdecode, iterencode
from starlette_admin.types import ListParams, RequestAction
from starlette_admin.views import BaseModelView, BaseView
from starlette_admin.views import InlineModelView as AnyInline

from app.admin.filter_text import shape_problem
from app.errors import BadQuery

# starlette-admin 1.0.3: the flash messages' cookie and its signing salt (starlette_admin.flash),
# for app/admin/request_layers.py's FlashMessages, which writes the cookie the library reads.
FLASH_COOKIE = _FLASH_COOKIE
FLASH_COOKIE_SALT = _FLASH_SALT


def admin_page(
    view: BaseView,
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    """A full admin page (menus, theme, signed-in user, flash messages) from a custom view."""
    # starlette-admin 1.0.3: BaseView._admin, set by BaseAdmin.add_view, and
    # BaseAdmin._template_response, the admin's own page rendering; no public equivalent.
    admin = view._admin
    assert admin is not None, "set by the admin when the view is registered"
    return admin._template_response(request, template, context, status_code)


def edit_times_in(zone: str) -> None:
    """The zone the forms' date-time fields show and read typed times in, for this request."""
    # starlette-admin 1.0.3: starlette_admin.i18n.set_timezone, which its TimezoneMiddleware
    # calls with a cookie the browser sets; ours is the signed-in user's zone instead.
    set_timezone(zone)


def edit_times_zone() -> tuple[str, str, bool]:
    """What the library's reading of typed times depends on in this request: the user's zone,
    the database's, and whether it converts at all (its filters' date rules read them)."""
    # starlette-admin 1.0.3: starlette_admin.i18n, per-request context variables.
    return (get_timezone(), get_database_timezone(), is_timezone_conversion_enabled())


def exported_time_text(value: datetime) -> str | None:
    """What the library's DateTimeField writes into an export for a naive date-time read from
    a UTC database, or None when the database is in another zone (the library's path then)."""
    # starlette-admin 1.0.3: DateTimeField.serialize_value, for RequestAction.EXPORT, gives the
    # value in the database's zone, moved to UTC, as ISO 8601; from UTC that is the value's own
    # text and its offset, without the three conversions (3 us a cell of a million-row export).
    if value.tzinfo is not None or not is_timezone_conversion_enabled():
        return None
    if get_database_timezone() != "UTC":
        return None
    return value.isoformat() + "+00:00"


def row_action_links(view: BaseModelView) -> dict[str, Callable[[Request, Any], Awaitable[Any]]]:
    """Each row action's handler by name (link actions answer with the row's URL)."""
    # starlette-admin 1.0.3: BaseModelView._row_actions_handlers, filled at view construction.
    return view._row_actions_handlers


def row_actions_differ_by_row(view: BaseModelView) -> bool:
    """Whether a row's actions may depend on the row: the view decides per record, or an
    action's form is built for each record."""
    # starlette-admin 1.0.3: BaseModelView._row_actions, the row actions by name, each with its
    # `form`, a callable taking the record when built per row.
    per_record = (
        type(view).is_row_action_allowed_for_obj is not BaseModelView.is_row_action_allowed_for_obj
    )
    return per_record or any(callable(a.get("form")) for a in view._row_actions.values())


def is_batch_action(view: BaseModelView, name: str) -> bool:
    # starlette-admin 1.0.3: BaseModelView._actions_handlers, the batch actions by name.
    return name in view._actions_handlers


def is_row_action(view: BaseModelView, name: str) -> bool:
    # starlette-admin 1.0.3: BaseModelView._row_actions, the row actions by name.
    return name in view._row_actions


async def searched_and_filtered(
    view: ModelView, request: Request, stmt: Select[Any], q: str | None, filters: Any
) -> Select[Any]:
    """The statement narrowed by the list's search text and filters, as the library's list does."""
    # starlette-admin 1.0.3: ModelView._apply_search_and_filters(request, stmt, q, filters).
    return await view._apply_search_and_filters(request, stmt, q, filters)


def list_params(view: BaseModelView, request: Request, query: QueryParams) -> ListParams:
    """The list page's sort, search and filter-builder filter, read from its query string."""
    # starlette-admin 1.0.3: BaseModelView._parse_list_params(request, query_params), as its
    # export action reads the list page's query string.
    return view._parse_list_params(request, query)


def serialized_by_the_field(field: BaseField, action: RequestAction) -> bool:
    """Whether a view's serialize_field_value gives this field's cell as the field itself
    makes it (`serialize_value`, or `serialize_none_value` for None): no formatter for `action`."""
    # starlette-admin 1.0.3: BaseModelView.serialize_field_value applies the action's formatter,
    # else calls the field's serialize_none_value for None and serialize_value otherwise.
    return (field.formatter or {}).get(action) is None


def link_views(views: Iterable[BaseModelView]) -> None:
    """Each view finds the others by identity (a relation field its target's view), as an
    admin links the views added to it; for views used without an admin (an export job)."""
    by_key = {str(view.key): view for view in views}
    for view in by_key.values():
        # starlette-admin 1.0.3: BaseAdmin._setup_view sets _find_foreign_view on each.
        view._find_foreign_view = by_key.__getitem__


def url_key(parts: Iterable[str]) -> str:
    """A composite primary key as the admin's URLs spell it (`?pk=`)."""
    # starlette-admin 1.0.3: starlette_admin.tools.iter.iterencode, an internal module.
    return iterencode(parts)


def url_key_parts(key: str) -> tuple[str, ...]:
    """A composite primary key's parts, read from the admin's URLs (`?pk=`)."""
    # starlette-admin 1.0.3: starlette_admin.tools.iter.iterdecode, an internal module.
    return iterdecode(key)


class AfterFormCopy(ModelView):
    """A model view told after the library copies a submitted form onto the object, before it
    is saved: the one moment to drop form-only fields and derive columns from them. It is told
    before the copy too: the object still holds what was stored, the data what will replace it
    (relations as objects), on every path that writes (create and edit forms, inline edit, import).
    """

    async def before_form_copy(self, request: Request, obj: Any, data: dict[str, Any]) -> None:
        return None

    async def after_form_copy(self, request: Request, obj: Any, data: dict[str, Any]) -> None:
        return None

    # starlette-admin 1.0.3: ModelView._populate_obj(request, obj, data, is_edit) does the copy;
    # no public hook runs between the copy and the save.
    async def _populate_obj(
        self, request: Request, obj: Any, data: dict[str, Any], is_edit: bool = False
    ) -> Any:
        await self.before_form_copy(request, obj, data)
        obj = await super()._populate_obj(request, obj, data, is_edit)
        await self.after_form_copy(request, obj, data)
        return obj


class ActionsFoundOnce(BaseModelView):
    """A model view whose batch and row actions are found once per class, not again for every
    view each app builds (a fifth of building an app, and tests build one per test)."""

    # starlette-admin 1.0.3: BaseModelView._init_actions finds actions by walking every member
    # of the view (inspect.getmembers, which asks dir()) for the `_action` or `_row_action` mark
    # its decorators leave; while it walks, dir() names only the marked methods.
    _finding_actions = False

    def _init_actions(self) -> None:
        self._finding_actions = True
        try:
            super()._init_actions()
        finally:
            del self._finding_actions

    def __dir__(self) -> Iterable[str]:
        if self._finding_actions:
            return marked_actions(type(self))
        return super().__dir__()


class OwnFilterPanel(BaseModelView):
    """A model view whose list page draws its own filter panel (templates/admin/filter_panel.html)
    and never the library's filter builder."""

    # starlette-admin 1.0.3: BaseAdmin._render_list works out every field's filters for the
    # builder's script on each list page (~0.15 ms); templates/admin/model_list.html drops them.
    def _filter_builder_fields(self, request: Request) -> list[dict[str, Any]]:
        return []

    # starlette-admin 1.0.3: BaseModelView._parse_filter_string reads an unclosed "(" or a
    # dangling AND as nothing there (app/admin/filter_text.py); a ValueError is its 400.
    @staticmethod
    def _parse_filter_string(raw: str) -> Any:
        problem = shape_problem(raw)
        if problem is not None:
            raise ValueError(problem)
        return BaseModelView._parse_filter_string(raw)


_marked: dict[type[BaseModelView], list[str]] = {}


def marked_actions(view_class: type[BaseModelView]) -> list[str]:
    """The names of a view class's methods that the library's action decorators marked."""
    names = _marked.get(view_class)
    if names is None:
        names = _marked[view_class] = [
            name
            for name in dir(view_class)
            if hasattr(getattr(view_class, name, None), "_action")
            or hasattr(getattr(view_class, name, None), "_row_action")
        ]
    return names


class ListOpeningAdmin(Admin):
    """An admin told when a list page opens, for a user who may view it, before the library
    renders it: the moment to read what the page shows beside the rows, or to answer instead
    (a redirect)."""

    async def list_opening(self, request: Request, view: BaseModelView) -> Response | None:
        return None

    # starlette-admin 1.0.3: BaseAdmin._render_list is the list page's route and
    # BaseAdmin._find_view_by_key its 404 for an unknown model; no public hook runs before it.
    @route("/{key}/list", methods=["GET"], name="list")
    async def _render_list(self, request: Request) -> Response:
        view = self._find_view_by_key(request.path_params.get("key"))
        if view.is_accessible(request):
            request.state.action = RequestAction.LIST
            answer = await self.list_opening(request, view)
            if answer is not None:
                return answer
        response: Response = await super()._render_list(request)
        return response


class EditStatusAdmin(Admin):
    """An admin whose edit page answers a refused save with the status its view chose
    (`request.state.edit_status`, e.g. 409 for a save that came too late), the form shown again
    as for a field error."""

    # starlette-admin 1.0.3: BaseAdmin._render_edit is the edit page's route; it shows a
    # FormValidationError as the form again with 422 and knows no other refusal.
    @route("/{key}/edit", methods=["GET", "POST"], name="edit")
    async def _render_edit(self, request: Request) -> Response:
        response: Response = await super()._render_edit(request)
        status = getattr(request.state, "edit_status", None)
        if status is not None and response.status_code == 422:
            response.status_code = status
        return response


class UploadClosingCSRF(CSRFMiddleware):
    """starlette-admin's CSRF check, closing the upload spools it parses to read the token, and
    answering 400 to a form body it cannot parse."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        try:
            return await super().dispatch(request, call_next)
        except HTTPException as refused:
            # Raised while reading the token from a multipart body without a boundary or cut
            # short; out here no exception handler catches it, so it was a 500.
            return PlainTextResponse(str(refused.detail), status_code=refused.status_code)

    async def _get_submitted_token(self, request: Request) -> str | None:
        # starlette-admin 1.0.3: CSRFMiddleware._get_submitted_token parses the form on a
        # Request of its own and never closes it, so each upload's spool leaks until collected.
        try:
            token: str | None = await super()._get_submitted_token(request)
        finally:
            await request.close()
        return token

    async def submitted_token(self, request: Request) -> str | None:
        """The token the request carries: the X-CSRFToken header or the form's field."""
        return await self._get_submitted_token(request)


class UploadClosingAdmin(Admin):
    """The SQLAlchemy admin with the CSRF check above (or a subclass of it, `csrf_check`) in
    place of the library's own, and its import closing the upload it reads."""

    csrf_check: Any = UploadClosingCSRF  # an ASGI layer class, given `secret_key`

    async def import_arriving(self, request: Request, view: BaseModelView) -> Response | None:
        """Told before the library reads an import the user may make: the moment to answer
        instead (a big file runs as a job)."""
        return None

    async def import_answered(self, request: Request, response: Response) -> Response:
        """Told of the library's answer to an import, before the request's transaction ends
        (committed for an answer under 400, else rolled back): the moment to change it."""
        return response

    # starlette-admin 1.0.3: BaseAdmin._render_import reads the upload with request.form() and
    # never closes it, so each import's spool leaks until collected; the same route, closed
    # after. BaseAdmin._find_view_by_key is its 404 for an unknown model.
    @route("/_api/{key}/import", methods=["POST"], name="import")
    async def _render_import(self, request: Request) -> Response:
        try:
            view = self._find_view_by_key(request.path_params.get("key"))
            request.state.action = RequestAction.IMPORT
            answer = None
            if view.is_accessible(request) and view.can_import(request):
                answer = await self.import_arriving(request, view)
            response: Response = answer or await super()._render_import(request)
        finally:
            await request.close()
        return answer or await self.import_answered(request, response)

    # starlette-admin 1.0.3: BaseAdmin.handle_action reads `name` with not_none(), whose
    # ValueError on a missing name escaped as a 500; the same route, asking for it first.
    @route("/_api/{key}/action", methods=["POST"], name="action")
    async def handle_action(self, request: Request) -> Response:
        if not request.query_params.get("name"):
            raise BadQuery("name: the action to run, such as delete or export", field="name")
        self.refuse_unless_viewable(request, RequestAction.ACTION)
        response: Response = await super().handle_action(request)
        return response

    @route("/_api/{key}/row-action", methods=["POST"], name="row-action")
    async def handle_row_action(self, request: Request) -> Response:
        self.refuse_unless_viewable(request, RequestAction.ROW_ACTION)
        response: Response = await super().handle_row_action(request)
        return response

    def refuse_unless_viewable(self, request: Request, action: RequestAction) -> None:
        """starlette-admin 1.0.3 answers an action on a model the user may not view with a 400
        "Forbidden"; a refusal is a 403, as on the model's pages (docs/reference.md)."""
        request.state.action = action  # as the library sets it before its own check
        view = self._find_view_by_key(request.path_params.get("key"))
        if not view.is_accessible(request):
            raise HTTPException(HTTP_403_FORBIDDEN)

    def _init_csrf(self) -> None:
        # starlette-admin 1.0.3: BaseAdmin._init_csrf adds CSRFMiddleware unless that exact
        # class is already listed; a subclass would be added beside it, so this replaces it.
        assert self.secret_key is not None
        self.middlewares.append(Middleware(self.csrf_check, secret_key=self.secret_key))


class CheckedInline(InlineModelView):
    """An inline formset whose rows are checked as they are read and again, against the saved
    parent, before they are saved (app/admin/inline_rows.py)."""

    async def check_row(
        self, request: Request, typed: Mapping[str, str], data: dict[str, Any]
    ) -> dict[str, str]:
        """Errors by field name for one row: `typed` is the row's raw form text by field name,
        `data` what the fields read from it."""
        return {}

    async def check_saved_rows(
        self, request: Request, parent: Any, rows: list[dict[str, Any]]
    ) -> dict[int, dict[str, str]]:
        """Errors by row index, once the parent is saved and before any row is."""
        return {}

    def form_prefix(self) -> str:
        """What starts the names of this formset's inputs: `<prefix>.<row index>.<field>`."""
        # starlette-admin 1.0.3: InlineModelView._prefix(), also what its templates name.
        return self._prefix()


class CatalogsMergedOnce(Admin):
    """An admin that merges its plugin and theme translation catalogs into the process's
    catalogs once, not again for every admin made (each test makes one: ~14 ms each)."""

    # The catalogs last merged, in order: merging the same ones again changes nothing.
    _merged: tuple[tuple[str, str], ...] | None = None

    # starlette-admin 1.0.3: BaseAdmin._register_translations() merges each (package, domain)
    # in _plugin_translation_catalogs then _theme_translation_catalogs into i18n.translations,
    # a process-wide dict; later merges win.
    def _register_translations(self) -> None:
        catalogs = (*self._plugin_translation_catalogs, *self._theme_translation_catalogs)
        if CatalogsMergedOnce._merged == catalogs:
            return
        super()._register_translations()
        CatalogsMergedOnce._merged = catalogs


class InlineRowsAdmin(Admin):
    """The admin's inline formsets with the checks of CheckedInline, and one flash message
    for a save: the parent's, not one more for every row the form sent back."""

    # starlette-admin 1.0.3: BaseAdmin._parse_inline_row_fields(request, inline, form_data,
    # row_prefix, validate) reads one row and runs its fields' own validators; our errors
    # replace the library's for the same field (it reads "abc" as empty: "required").
    async def _parse_inline_row_fields(
        self,
        request: Request,
        inline: AnyInline,
        form_data: FormData,
        row_prefix: str,
        validate: bool = True,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        data, errors = await super()._parse_inline_row_fields(
            request, inline, form_data, row_prefix, validate
        )
        if validate and isinstance(inline, CheckedInline):
            typed = {
                name.removeprefix(row_prefix): value
                for name, value in form_data.multi_items()
                if name.startswith(row_prefix) and isinstance(value, str)
            }
            errors.update(await inline.check_row(request, typed, data))
        return data, errors

    # starlette-admin 1.0.3: BaseAdmin._save_inlines(request, view, parent, inline_data) saves
    # every row after the parent and raises FormValidationError with the rows' errors; the
    # create and edit routes then answer 422, and the request's transaction is rolled back.
    async def _save_inlines(
        self,
        request: Request,
        view: BaseModelView,
        parent: Any,
        inline_data: dict[str, list[dict[str, Any]]],
    ) -> None:
        refused: dict[str, dict[int, Any]] = {}
        for inline in view._inline_instances:
            rows = inline_data.get(str(inline.key), [])
            if isinstance(inline, CheckedInline) and rows:
                for index, errors in (await inline.check_saved_rows(request, parent, rows)).items():
                    row = next(row for row in rows if row["index"] == index)
                    row["errors"].update(errors)
                    refused.setdefault(str(inline.key), {})[index] = row["errors"]
        if refused:
            raise FormValidationError({"inlines": refused})
        pending = getattr(request.state, "admin_flash_pending", None)
        before = len(pending) if isinstance(pending, list) else 0
        await super()._save_inlines(request, view, parent, inline_data)
        if isinstance(pending, list):
            del pending[before:]  # "The item … was changed successfully", once per row sent


def foreign_view(view: BaseModelView, identity: str) -> BaseModelView:
    """The admin's view of the model a relation field points at (by its identity, the key)."""
    # starlette-admin 1.0.3: BaseModelView._find_foreign_view, set when the admin adds the view.
    return view._find_foreign_view(identity)


def menu_lists_only_menu_views(env: Environment) -> None:
    """The menu leaves out model views whose `in_menu` is false; their pages stay reachable."""
    # starlette-admin 1.0.3: layout.html's menu lists every accessible model view, picked by the
    # `is_model_view` filter (macros/views.html's dropdowns use it too); no per-view switch.
    env.filters["is_model_view"] = lambda view: (
        isinstance(view, BaseModelView) and bool(getattr(view, "in_menu", True))
    )


async def error_page(admin: Admin, request: Request, refusal: HTTPException) -> Response:
    """The admin's error page (templates/error.html) in its layout, as for its own refusals."""
    # starlette-admin 1.0.3: BaseAdmin._render_error, the handler of the admin's HTTPExceptions.
    response: Response = await admin._render_error(request, refusal)
    return response


class PlainRequestLayers(Admin):
    """The SQLAlchemy admin with its request session and flash messages as the plain ASGI
    layers given (app/admin/request_layers.py), in the places the library puts its own."""

    session_layer: Any  # an ASGI layer class, given `session_provider`
    flash_layer: Any  # an ASGI layer class, given `secret_key`

    # starlette-admin 1.0.3: contrib.sqla.Admin.__init__ puts DBSessionMiddleware first in
    # self.middlewares, and BaseAdmin._init_flash adds FlashMiddleware unless one is listed.
    def _init_flash(self) -> None:
        assert self.secret_key is not None
        self.middlewares.append(Middleware(self.flash_layer, secret_key=self.secret_key))

    def mount_to(self, app: Any) -> None:
        self.middlewares = [
            Middleware(self.session_layer, **layer.kwargs)
            if getattr(layer, "cls", None) is DBSessionMiddleware
            else layer
            for layer in self.middlewares
        ]
        super().mount_to(app)


def set_cookie_value(name: str, value: str, **options: Any) -> str:
    """The Set-Cookie header value Starlette's Response.set_cookie would write, for a layer
    that adds it to an answer already on its way (a plain ASGI layer has no Response)."""
    writer = Response()
    writer.set_cookie(name, value, **options)
    return writer.headers["set-cookie"]
