"""`/admin/settings`: live settings, grouped, each field saved on its own and kept live.

Typed text is parsed here (`Setting.parse`, so a bad value never reaches the store); every change
then goes through `SettingsStore.save`, which checks the editor's `seen_version` (a conflict loses
nothing), writes history and audit, and tells every open tab (`settings` frames on /ws), whose
fields then refresh themselves (static/starboard.js).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.status import (
    HTTP_303_SEE_OTHER,
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_CONTENT,
)
from starlette_admin.flash import flash
from starlette_admin.routing import route
from starlette_admin.views import CustomView

from app.admin.library import admin_page
from app.admin.paging import page_number
from app.auth.current import actor_of, current_user
from app.constance.declared import MASK, Setting, SettingError
from app.constance.records import (
    RESET,
    Change,
    Conflict,
    Reset,
    Snapshot,
    Stored,
    change_by_id,
    history,
    is_modified,
    read_snapshot,
    stale_keys,
    stored_value,
)
from app.constance.store import SettingsStore
from app.constance.transfer import (
    FILE_LIMIT_BYTES,
    ImportRefused,
    export,
    export_text,
    plan_import,
    read_document,
    read_import,
)
from app.errors import BadInput, Forbidden, NotFound
from app.local_formats import reader
from app.models import SettingChange
from app.row_keys import fits
from app.typed_values import is_whole_number

HISTORY_PAGE_SIZE = 20
DEFAULT_SHOWN = "(default)"


def store_of(request: Request) -> SettingsStore:
    store = getattr(request.app.state, "settings_store", None)
    if not isinstance(store, SettingsStore):
        raise NotFound("live settings are not served by this admin")
    return store


def may(request: Request, action: str) -> bool:
    user = current_user(request)
    return user is not None and user.can(f"settings:{action}")


def require_edit(request: Request) -> None:
    if not may(request, "edit"):
        raise Forbidden("changing live settings needs settings:edit")


def require_change(request: Request, setting: Setting) -> None:
    if not may_change(request, setting):
        raise Forbidden(superusers_only_problem(setting.key))


def may_change(request: Request, setting: Setting) -> bool:
    """Whether this reader may change this setting: the ones that decide who signs in and how
    are a superuser's, else an editor could map their own provider group onto any group, or
    switch off the code asked of superusers."""
    user = current_user(request)
    if user is None or not user.can("settings:edit"):
        return False
    return user.is_superuser or not setting.superusers_only


def superusers_only_problem(key: str) -> str:
    return f"{key}: only a superuser may change it (it decides who signs in and how)"


def is_moment(setting: Setting, value: Any) -> bool:
    return setting.type.name == "datetime" and isinstance(value, dt.datetime)


def input_text(setting: Setting, value: Any) -> str:
    """The value as the page's input holds it: a date-time on the reader's clock, without the
    offset datetime-local cannot hold (the page names the zone beside it; a save reads it so)."""
    if is_moment(setting, value):
        try:
            return reader().local(value).replace(tzinfo=None).isoformat(timespec="seconds")
        except OverflowError:  # year 1 or 9999 seen from another zone: as stored, with offset
            return setting.show(value)
    return setting.show(value)


def shown_to_reader(setting: Setting, value: Any) -> str:
    """What the page says a value is: a date-time as lists show one, in the reader's zone with
    the zone named (`Dec 24, 2026, 6:00 PM CET`); anything else as typed, secrets masked."""
    if is_moment(setting, value) and not setting.secret:
        try:
            return reader().time_text(value, seconds=bool(value.second or value.microsecond))
        except OverflowError:
            return setting.show(value)
    return setting.shown(value)


@dataclass(frozen=True)
class FieldBlock:
    """Everything one field's block shows: value, marks, and the outcome of the last post."""

    setting: Setting
    row: Stored | None
    value: Any  # what is served: the default when the stored value no longer fits
    problem: str | None
    version: int  # the global version this block was read at: older frames are reflected
    editable: bool
    typed: str | None = None  # the operator's own text, kept after an error or a conflict
    error: str | None = None
    conflict_by: str | None = None
    saved: str | None = None  # what the save did, shown as a mark

    @property
    def key(self) -> str:
        return self.setting.key

    @property
    def seen_version(self) -> int:
        return self.row.version if self.row else 0

    @property
    def modified(self) -> bool:
        return is_modified(self.setting, self.row, self.value, self.problem)

    @property
    def shown(self) -> str:
        return shown_to_reader(self.setting, self.value)

    @property
    def default_shown(self) -> str:
        return shown_to_reader(self.setting, self.setting.default)

    @property
    def zone(self) -> str:
        """The zone the reader's typing and the shown values are in."""
        return reader().zone

    @property
    def accepted(self) -> str:
        return self.setting.accepted_in(self.zone)

    @property
    def widget(self) -> str:
        return "password" if self.setting.secret else self.setting.type.input_type

    @property
    def text(self) -> str:
        if self.setting.secret:
            return ""  # never sent to the browser; blank keeps it
        return self.typed if self.typed is not None else input_text(self.setting, self.value)

    @property
    def checked(self) -> bool:
        return self.text == "true"


def field_block(setting: Setting, snapshot: Snapshot, editable: bool, **outcome: Any) -> FieldBlock:
    row = snapshot.rows.get(setting.key)
    try:
        value, problem = stored_value(setting, row), None
    except SettingError as exc:
        value, problem = setting.default, exc.reason  # as the store serves it
    return FieldBlock(setting, row, value, problem, snapshot.version, editable, **outcome)


@dataclass(frozen=True)
class HistoryLine:
    change: SettingChange
    old: str
    new: str
    revertable: bool


def history_text(setting: Setting, typed: dict[str, Any] | None) -> str:
    if typed is None:
        return DEFAULT_SHOWN
    if setting.secret:
        return MASK
    try:
        return shown_to_reader(setting, setting.load(typed.get("value")))
    except SettingError:
        return json.dumps(typed.get("value"))  # a value of an older declaration: shown raw


def value_before(setting: Setting, change: SettingChange) -> Any:
    """What a revert sets: the change's old value, or RESET for the default; SettingError."""
    if change.old_value is None:
        return RESET
    if change.old_value.get("type") != setting.type.name:
        raise SettingError(
            setting.key,
            f"that value was a {change.old_value.get('type')}, the setting is now a "
            f"{setting.type.name}; type the value instead",
        )
    return setting.load(change.old_value.get("value"))


def seen_version(form: FormData) -> int:
    text = str(form.get("seen_version") or "")
    if not is_whole_number(text, 18):
        raise HTTPException(
            HTTP_400_BAD_REQUEST, "seen_version: the version of the value you loaded, 0 or more"
        )
    return int(text)


def reason_of(form: FormData) -> str | None:
    return str(form.get("reason") or "").strip() or None  # checked by the store


def submitted_value(form: FormData) -> str:
    # A checkbox follows its hidden "false": when ticked, the last value is the box's.
    values = [v for v in form.getlist("value") if isinstance(v, str)]
    return values[-1] if values else ""


async def document_bytes(form: FormData) -> bytes:
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read(FILE_LIMIT_BYTES + 1)
    # The text re-posted by the preview; surrogates escaped, so the reader refuses them.
    return str(form.get("document") or "").encode("utf-8", "surrogatepass")


class SettingsPage(CustomView):
    """The live settings page; `settings:view` to see it, `settings:edit` to change anything."""

    path = "/settings"
    route_name = "settings"
    menu_label = "Settings"
    icon = "fa-solid fa-gear"
    # The admin puts each route in front of the last, in method-name order: the fixed paths
    # (transfer_*) sort after the field_* ones, so `/{key}` does not swallow /export or /import.

    def is_accessible(self, request: Request) -> bool:
        return may(request, "view")

    # -- the page ------------------------------------------------------------------------

    @route("")
    async def index(self, request: Request) -> Response:
        store = store_of(request)
        async with store.session_factory() as session:
            snapshot = await read_snapshot(session)
        editable = may(request, "edit")
        groups = {
            group: [field_block(s, snapshot, may_change(request, s)) for s in settings]
            for group, settings in store.declared.groups().items()
        }
        return admin_page(
            self,
            request,
            "constance/settings.html",
            {
                "title": self.title(request),
                "groups": groups,
                "stale": stale_keys(store.declared, snapshot),
                "editable": editable,
                "version": snapshot.version,
            },
        )

    # -- one field -----------------------------------------------------------------------

    def setting(self, request: Request) -> Setting:
        # UnknownSetting: a 404 naming the closest declared key (app/views/errors.py).
        return store_of(request).declared[str(request.path_params["key"])]

    async def block(self, request: Request, setting: Setting, **outcome: Any) -> FieldBlock:
        store = store_of(request)
        async with store.session_factory() as session:
            snapshot = await read_snapshot(session, [setting.key])
        return field_block(setting, snapshot, may_change(request, setting), **outcome)

    def render(self, request: Request, block: FieldBlock, status_code: int = 200) -> Response:
        # A fragment: not the admin's page response, which would consume pending flash messages.
        assert self.templates is not None, "set by the admin when the view is registered"
        return self.templates.TemplateResponse(
            request, "constance/field.html", {"field": block}, status_code=status_code
        )

    @route("/{key}", name="settings-field")
    async def field_fragment(self, request: Request) -> Response:
        return self.render(request, await self.block(request, self.setting(request)))

    @route("/{key}", methods=["POST"], name="settings-save")
    async def field_save(self, request: Request) -> Response:
        require_edit(request)
        setting = self.setting(request)
        require_change(request, setting)
        form = await request.form()
        seen = seen_version(form)
        text = submitted_value(form)
        if setting.secret and not text:
            return self.render(request, await self.block(request, setting, saved="Unchanged"))
        try:
            value = setting.parse(text, reader().zone)
        except SettingError as exc:
            block = await self.block(request, setting, typed=text, error=exc.reason)
            return self.render(request, block, HTTP_422_UNPROCESSABLE_CONTENT)
        return await self.apply(request, Change(setting.key, value, seen), text, reason_of(form))

    @route("/{key}/reset", methods=["POST"], name="settings-reset")
    async def field_reset(self, request: Request) -> Response:
        require_edit(request)
        setting = self.setting(request)
        require_change(request, setting)
        form = await request.form()
        change = Change(setting.key, RESET, seen_version(form))
        return await self.apply(request, change, None, reason_of(form))

    async def apply(
        self, request: Request, change: Change, typed: str | None, reason: str | None
    ) -> Response:
        setting = store_of(request).declared[change.key]
        try:
            changed = await store_of(request).save([change], actor_of(request), reason)
        except Conflict as exc:
            by = exc.current.updated_by if exc.current and exc.current.updated_by else None
            block = await self.block(
                request, setting, typed=typed, conflict_by=by or "someone else"
            )
            return self.render(request, block, HTTP_409_CONFLICT)
        except BadInput as exc:  # the reason, refused by the store: the field shows why
            block = await self.block(request, setting, typed=typed, error=exc.message)
            return self.render(request, block, HTTP_422_UNPROCESSABLE_CONTENT)
        done = "Reset" if isinstance(change.value, Reset) else "Saved"
        block = await self.block(request, setting, saved=done if changed else "No change")
        return self.render(request, block)

    # -- history -------------------------------------------------------------------------

    async def history_response(
        self, request: Request, setting: Setting, notice: str | None = None, status_code: int = 200
    ) -> Response:
        page = page_number(request)
        store = store_of(request)
        async with store.session_factory() as session:
            lines = await self.history_lines(session, setting, page)
            snapshot = await read_snapshot(session, [setting.key])
        return admin_page(
            self,
            request,
            "constance/history.html",
            {
                "title": f"{setting.key} history",
                "field": field_block(setting, snapshot, may_change(request, setting)),
                "lines": lines[:HISTORY_PAGE_SIZE],
                "page": page,
                "has_next": len(lines) > HISTORY_PAGE_SIZE,
                "notice": notice,
            },
            status_code=status_code,
        )

    @staticmethod
    async def history_lines(
        session: AsyncSession, setting: Setting, page: int
    ) -> list[HistoryLine]:
        changes = await history(
            session,
            setting.key,
            limit=HISTORY_PAGE_SIZE + 1,  # one more: tells whether there is a next page
            offset=(page - 1) * HISTORY_PAGE_SIZE,
        )
        return [
            HistoryLine(
                change,
                history_text(setting, change.old_value),
                history_text(setting, change.new_value),
                not setting.secret,
            )
            for change in changes
        ]

    @route("/{key}/history", name="settings-history")
    async def field_history(self, request: Request) -> Response:
        return await self.history_response(request, self.setting(request))

    @route("/{key}/revert/{change_id:int}", methods=["POST"], name="settings-revert")
    async def field_revert(self, request: Request) -> Response:
        require_edit(request)
        setting = self.setting(request)
        require_change(request, setting)
        form = await request.form()
        seen = seen_version(form)
        store = store_of(request)
        change_id = int(request.path_params["change_id"])
        change = None
        if fits(SettingChange.__table__.c.id, change_id):  # a larger id names no change
            async with store.session_factory() as session:
                change = await change_by_id(session, change_id)
        if change is None or change.key != setting.key:
            raise NotFound(f"{setting.key} has no such change")
        if setting.secret:
            why = "Secret values are not kept in history: type the value again on the page."
            return await self.history_response(request, setting, why, HTTP_400_BAD_REQUEST)
        try:
            value = value_before(setting, change)
        except SettingError as exc:
            return await self.history_response(
                request, setting, exc.reason, HTTP_422_UNPROCESSABLE_CONTENT
            )
        reason = reason_of(form) or f"revert to before change #{change.id}"
        try:
            changed = await store.save(
                [Change(setting.key, value, seen)], actor_of(request), reason
            )
        except Conflict as exc:
            by = exc.current.updated_by if exc.current and exc.current.updated_by else None
            notice = (
                f"{by or 'Someone else'} changed it since you loaded this page; "
                "review the history and try again."
            )
            return await self.history_response(request, setting, notice, HTTP_409_CONFLICT)
        shown = DEFAULT_SHOWN if isinstance(value, Reset) else shown_to_reader(setting, value)
        notice = f"Reverted to {shown}." if changed else f"Already {shown}: nothing changed."
        return await self.history_response(request, setting, notice)

    # -- export and import ---------------------------------------------------------------

    @route("/export", name="settings-export")
    async def transfer_export(self, request: Request) -> Response:
        store = store_of(request)
        async with store.session_factory() as session:
            document = await export(session, store.declared)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        return Response(
            export_text(document),
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="starboard-settings-{stamp}.json"'
            },
        )

    @route("/import", methods=["POST"], name="settings-import")
    async def transfer_import(self, request: Request) -> Response:
        require_edit(request)
        store = store_of(request)
        form = await request.form()
        try:
            try:
                data = await document_bytes(form)
            finally:
                await form.close()  # the uploaded file's spool; the text fields stay readable
            values = read_import(store.declared, read_document(data))
            text = data.decode("utf-8-sig")  # read_document has decoded it once already
        except ImportRefused as refused:
            return self.import_page(
                request, [], refused.problems, "", HTTP_422_UNPROCESSABLE_CONTENT
            )
        async with store.session_factory() as session:
            changes, differences = await plan_import(session, store.declared, values)
        kept = [
            superusers_only_problem(change.key)
            for change in changes
            if not may_change(request, store.declared[change.key])
        ]
        if kept:  # the whole file or nothing, as for any other problem
            return self.import_page(request, [], kept, "", HTTP_403_FORBIDDEN)
        if form.get("apply") == "1" and changes:
            # All at once: one transaction, so the file is applied whole or not at all.
            changed = await store.save(changes, actor_of(request), reason_of(form) or "import")
            flash(request, f"Imported: {len(changed)} setting(s) changed.", "success")
            target = request.url_for(f"{request.app.state.ROUTE_NAME}:settings")
            return RedirectResponse(str(target), status_code=HTTP_303_SEE_OTHER)
        return self.import_page(request, differences, [], text)

    def import_page(
        self,
        request: Request,
        differences: list[Any],
        problems: list[str],
        text: str,
        status_code: int = 200,
    ) -> Response:
        response = admin_page(
            self,
            request,
            "constance/import.html",
            {
                "title": "Import settings",
                "differences": differences,
                "problems": problems,
                "document": text,
            },
            status_code=status_code,
        )
        # The re-posted file may hold a secret the operator typed: keep it out of caches.
        response.headers["Cache-Control"] = "no-store"
        return response
