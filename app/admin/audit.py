"""The audit log in the admin: the read-only `/admin/audit` page and every record's History link.

Filtering is starlette-admin's own `filter` query parameter, so any filtered view of the log is
a plain link, e.g. `/admin/audit/list?filter=model__eq=product AND object_pk__eq=7`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.status import HTTP_303_SEE_OTHER
from starlette_admin.base import BaseAdmin
from starlette_admin.fields import BaseField
from starlette_admin.helpers import view_list_url
from starlette_admin.plugins import BasePlugin
from starlette_admin.types import RequestAction

from app.admin.library import url_key
from app.admin.model_view import AutoModelView
from app.audit.admin_events import AdminAuditTrail
from app.auth.current import current_user
from app.auth.permissions import model_permission
from app.local_formats import local_time
from app.models import AuditEntry

AUDIT_KEY = "audit"


# How the log writes a date-time (app/audit/diff.py, a live setting's ISO value): to the second,
# its offset if it had one. A date alone, a time alone or text typed to the minute is not one.
STORED_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)?")


def stored_moment(value: Any) -> dt.datetime | None:
    """The moment an old or new value records, if it is one (a naive one was stored in UTC)."""
    if not (isinstance(value, str) and STORED_MOMENT.fullmatch(value)):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:  # the shape of one, not a real date: 2026-02-30T…
        return None


# A live setting set back to its default is logged as "(default) <its value>" (app/constance).
DEFAULT_MARK = "(default) "


def shown_moment(value: Any) -> Any:
    """An old or new value as the entry's page shows it: a moment on the reader's clock."""
    if isinstance(value, str) and value.startswith(DEFAULT_MARK):
        rest = value[len(DEFAULT_MARK) :]
        shown = shown_moment(rest)
        return value if shown is rest else Markup("{}{}").format(DEFAULT_MARK, shown)
    moment = stored_moment(value)
    if moment is None:
        return value
    try:
        return local_time(moment)
    except OverflowError:  # year 1 or 9999 seen from another zone: as stored
        return value


@dataclass
class ChangesField(BaseField):
    """An entry's `{"field": {"old": …, "new": …}}`, shown as a table of old → new; date-times
    in the reader's zone with the zone named, as lists show them (exports keep what is stored)."""

    detail_template: str = "audit/changes.html"
    read_only: bool | None = True
    searchable: bool | None = False
    orderable: bool | None = False

    async def serialize_value(self, request: Request, value: Any) -> Any:
        if request.state.action != RequestAction.DETAIL or not isinstance(value, dict):
            return await super().serialize_value(request, value)
        return {
            name: {side: shown_moment(change.get(side)) for side in ("old", "new")}
            if isinstance(change, dict)
            else change
            for name, change in value.items()
        }


class AuditView(AutoModelView):
    model = AuditEntry
    key = AUDIT_KEY
    menu_label = "Audit log"
    display_name = "Audit entry"
    # The log's own entries have no history of their own.
    detail_template = "detail.html"
    # starlette-admin takes column names here too, though its annotation names only fields.
    fields = cast(
        "list[BaseField]",
        [
            "id",
            "at",
            "user_id",
            "username",
            "client_address",
            "action",
            "model",
            "object_pk",
            "object_label",
            ChangesField("changes"),
        ],
    )
    # The library filters only on listed fields, so the key stays listed for History links.
    exclude_fields_from_list = ["id", "user_id", "changes"]
    # Searchable is what starlette-admin offers filters on: user, model, action, date range, pk.
    searchable_fields = [
        "username",
        "client_address",
        "action",
        "model",
        "object_pk",
        "object_label",
        "at",
    ]
    fields_default_sort = [("id", True)]  # newest first
    phone_columns = ["at", "username", "action"]

    written_by_the_app = True

    def can_delete(self, request: Request) -> bool:
        return False  # nobody rewrites history, whatever their permissions


async def open_log(request: Request) -> Response:
    """`/admin/audit`, the address docs/reference.md names, opens the log's list (query kept)."""
    target = view_list_url(request, AUDIT_KEY)
    query = request.url.query
    return RedirectResponse(f"{target}?{query}" if query else target, HTTP_303_SEE_OTHER)


def history_filter(model: str, pk: Any) -> str:
    """starlette-admin's filter string for one record's entries."""
    return f"model__eq={quoted(model)} AND object_pk__eq={quoted(str(pk))}"


def quoted(value: str) -> str:
    # The filter syntax reads spaces, commas, brackets, quotes and ".." as its own.
    if any(c in value for c in ' ()\t\n",') or ".." in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def history_url(request: Request, model: str, pk: Any) -> str | None:
    """The list of one record's entries; None for someone who may not read the log."""
    user = current_user(request)
    if user is None or not user.can(model_permission(AUDIT_KEY, "view")):
        return None
    query = urlencode({"filter": history_filter(model, pk)})
    return f"{view_list_url(request, AUDIT_KEY)}?{query}"


class AuditPlugin(BasePlugin):
    """Plugs the audit trail into the admin: the event subscriber, `audit_history_url` and
    the `/admin/audit` address."""

    name = "audit"

    def template_globals(self) -> dict[str, Any]:
        return {"history_url": history_url}

    def setup(self, admin: BaseAdmin) -> None:
        admin.events.subscribe(AdminAuditTrail(url_key))

    def on_mount(self, admin: BaseAdmin) -> None:
        # Plugin routes live under /plugins/audit/; this one is the log's own address.
        admin.app.router.routes.insert(0, Route("/" + AUDIT_KEY, open_log, name="audit-log"))
