"""The admin view every mapped model gets, with defaults read from its mapper.

Declare a subclass with `model = SomeModel` anywhere in `app/admin/` to replace the default
view of that model; override only what differs (like Django's `ModelAdmin`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from markupsafe import escape
from sqlalchemy import (
    JSON,
    BigInteger,
    Enum,
    Integer,
    LargeBinary,
    String,
    bindparam,
    cast,
    column,
    func,
    inspect,
    literal,
    select,
    tuple_,
)
from sqlalchemy import table as table_clause
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ColumnProperty, Mapper, RelationshipProperty, joinedload
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.status import HTTP_403_FORBIDDEN
from starlette_admin.contrib.sqla import ModelView
from starlette_admin.exceptions import FormValidationError
from starlette_admin.export import BaseExporter
from starlette_admin.fields import BaseField, RelationField
from starlette_admin.filters import FilterGroup
from starlette_admin.helpers import prettify_class_name, slugify_class_name
from starlette_admin.importers import BaseImporter
from starlette_admin.types import RequestAction

from app.admin import list_counts
from app.admin.choices import LabelledConverter
from app.admin.date_drilldown import main_date_column
from app.admin.exports import LabelledJson, RelatedCell, SpreadsheetSafeCsv, StreamedXlsx
from app.admin.filter_panel import FilterPanel
from app.admin.frame_parts import KeptValues, reader_key
from app.admin.inline_rows import InlineRows, inline_relations
from app.admin.library import (
    ActionsFoundOnce,
    OwnFilterPanel,
    edit_times_zone,
    foreign_view,
    is_batch_action,
    is_row_action,
    row_actions_differ_by_row,
    searched_and_filtered,
    url_key_parts,
)
from app.admin.list_rows import (
    LinkPattern,
    ListRows,
    RowLinks,
    RowMarkup,
    RowParts,
    key_read,
    named_cells,
    plain_key,
    shown_by_name,
)
from app.admin.local_number_fields import LocalNumbersConverter
from app.admin.local_time_field import LocalTimesConverter
from app.admin.lookups import Filterable, Lookup, filterables, is_lookup_parameter, read_lookups
from app.admin.maintenance import changes_paused, refuse_if_writing
from app.admin.model_search import ModelSearch, Related
from app.admin.paging import MAX_PAGE, query_number
from app.admin.seen_rows import DELETE_FIELD as SEEN_STAMP
from app.admin.seen_rows import FIELD as SEEN_ROW
from app.admin.seen_rows import (
    EditConflict,
    SeenRows,
    changed_columns,
    changes_between,
    read_delete_stamps,
    row_stamp,
    seen_values,
)
from app.admin.unparsed_input import (
    below_least,
    cells_as_text,
    least_values,
    refused_by_column,
    too_long_text,
    unmatched_keys,
    unreadable_fields,
    unstorable_text,
)
from app.auth.current import current_user
from app.auth.permissions import model_permission
from app.auth.secrets import is_secret
from app.errors import BadQuery, Conflict, NotFound
from app.models import AuditEntry
from app.models.labels import model_label, plural, plural_label
from app.route_urls import request_memo, site_path
from app.row_keys import BIGGEST_OFFSET, is_storable_text, key_value
from app.security_headers import csp_nonce

# The bound parameters of a record's statement (AutoModelView.find_by_pk) and a list page's.
RECORD_KEY = "record_key"
LIST_SKIP, LIST_LIMIT, LIST_CAP = "list_skip", "list_limit", "list_cap"
# A view's kept list statements (one per sort, relations shown and search or filters) and read
# lookups; the oldest go first.
KEPT_LIST_STATEMENTS = 64

TAKEN = "another record already has this value; choose a different one"


def keep_bounded(kept: dict[Hashable, Any], key: Hashable, value: Any) -> None:
    """Keeps the value, dropping the oldest first past KEPT_LIST_STATEMENTS: what is kept
    follows what readers ask for."""
    if len(kept) >= KEPT_LIST_STATEMENTS:
        del kept[next(iter(kept))]
    kept[key] = value


# What maintenance mode pauses for everyone but superusers.
WRITE_ACTIONS = frozenset({"create", "edit", "delete"})

# The most rows one relation lookup (the form pickers' search) answers.
LOOKUP_LIMIT = 100

_PG_CLASS = table_clause("pg_class", column("reltuples"), column("oid"))


class DuplicateIsInput(logging.Filter):
    """starlette-admin logs every failed save as an error with its traceback, before the view's
    handle_exception answers it. A value another row already has is the operator's input,
    answered as a form error naming the field: a warning, without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        # SQLite: "UNIQUE constraint failed"; PostgreSQL: "violates unique constraint".
        if isinstance(error, IntegrityError) and "unique constraint" in str(error.orig).lower():
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("starlette_admin.contrib.sqla.view").addFilter(DuplicateIsInput())


def is_to_one(rel: RelationshipProperty[Any]) -> bool:
    return not rel.uselist


def is_many_to_many(rel: RelationshipProperty[Any]) -> bool:
    return rel.secondary is not None


class MapperDefaults:
    """What the admin should do with each attribute of one mapped class."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self.columns = [prop for prop in mapper.column_attrs if isinstance(prop, ColumnProperty)]
        self.relations = list(mapper.relationships)

    def secrets(self) -> list[str]:
        return [prop.key for prop in self.columns if is_secret(prop.key)]

    def to_many(self) -> list[str]:
        return [rel.key for rel in self.relations if not is_to_one(rel)]

    def stamped_by_database(self) -> list[str]:
        """Columns the database fills in (created_at = now()): shown, never typed in a form."""
        return [
            prop.key
            for prop in self.columns
            if isinstance(getattr(prop.columns[0].server_default, "arg", None), FunctionElement)
        ]

    def refused_field(self, error: IntegrityError) -> tuple[str, str] | None:
        """The form field a unique or not-null violation is about, if it names one of ours,
        and what to say of it."""
        text = str(error.orig)
        table = str(getattr(self.mapper.local_table, "name", ""))
        unique = "UNIQUE constraint" in text or "unique constraint" in text
        missing = "NOT NULL constraint" in text or "not-null constraint" in text
        for prop in self.columns:
            name = prop.columns[0].name
            # SQLite: "UNIQUE constraint failed: product.sku"; PostgreSQL: "uq_product_sku".
            if unique and (f"{table}.{name}" in text or f"uq_{table}_{name}" in text):
                return str(prop.key), TAKEN
            # SQLite: "NOT NULL constraint failed: product.stock"; PostgreSQL: 'null value in
            # column "stock" of relation "product" violates not-null constraint'.
            if missing and (
                f"{table}.{name}" in text or f'column "{name}" of relation "{table}"' in text
            ):
                return str(prop.key), "required"
        return None

    def text_lengths(self) -> dict[str, int]:
        """Each text column's declared length (String(40)), by attribute."""
        return {
            str(prop.key): int(prop.columns[0].type.length)
            for prop in self.columns
            if isinstance(prop.columns[0].type, String) and prop.columns[0].type.length
        }

    def one_to_many(self) -> list[str]:
        return [rel.key for rel in self.relations if rel.uselist and not is_many_to_many(rel)]

    def string_columns(self) -> list[ColumnElement[Any]]:
        return [
            getattr(self.mapper.class_, prop.key)
            for prop in self.columns
            if self._is_searchable_string(prop)
        ]

    def sortable(self) -> list[str]:
        """The primary key and indexed columns: sorting elsewhere would scan the table."""
        table = self.mapper.local_table
        leading = {
            next(iter(index.columns)).key
            for index in getattr(table, "indexes", ())
            # A trigram (GIN) index finds text inside values; it cannot give them in order.
            if index.dialect_kwargs.get("postgresql_using", "btree") == "btree"
        }
        unique = {
            next(iter(c.columns)).key
            for c in getattr(table, "constraints", ())
            if c.__class__.__name__ == "UniqueConstraint" and len(c.columns) == 1
        }
        names = []
        for prop in self.columns:
            column = prop.columns[0]
            if column.foreign_keys and not column.primary_key:
                continue  # shown through its relation, not as a column of its own
            indexed = column.index or column.unique or column.key in leading | unique
            if column.primary_key or indexed:
                names.append(prop.key)
        return [n for n in names if not is_secret(n)]

    def orderable(self) -> list[str]:
        """Every column a list may offer to sort by: the indexed ones (sortable()) on any table,
        the others where the table is small (AutoModelView.small_table_rows)."""
        return [
            prop.key
            for prop in self.columns
            if not (prop.columns[0].foreign_keys and not prop.columns[0].primary_key)
            and not is_secret(prop.key)
            and not isinstance(prop.columns[0].type, JSON | LargeBinary)  # no order in PostgreSQL
        ]

    def label_columns(self, rel: RelationshipProperty[Any]) -> list[ColumnElement[Any]]:
        """Indexed or unique string columns of a to-one target: what people search it by."""
        target = MapperDefaults(rel.mapper)
        keys = set(target.sortable())
        return [col for col in target.string_columns() if col.key in keys]

    @staticmethod
    def _is_searchable_string(prop: ColumnProperty[Any]) -> bool:
        column = prop.columns[0]
        return (
            isinstance(column.type, String)
            and not isinstance(column.type, Enum)
            and not column.foreign_keys
            and not is_secret(prop.key)
        )


class FieldConverter(LabelledConverter, LocalTimesConverter, LocalNumbersConverter):
    """Columns to fields as the library converts them, with enum columns as labelled choices
    and date-times, counts and money shown the reader's way."""


def menu_label_of(class_name: str) -> str:
    """The menu's plural: the library adds "s" to anything ("Customer Statss", "Audit Entrys")."""
    return plural(prettify_class_name(class_name))


class AutoModelView(ActionsFoundOnce, OwnFilterPanel, ModelView):
    """Admin defaults derived from the mapper; see the module docstring."""

    page_size = 25
    page_size_options: ClassVar[Sequence[int]] = [10, 25, 50, 100]  # type: ignore[misc]
    list_template = "admin/model_list.html"
    detail_template = "admin/model_detail.html"
    edit_template = "admin/model_edit.html"
    # Above this many matching rows the list stops counting (like Django's show_full_result_count).
    exact_count_limit: ClassVar[int] = 10_000
    # Up to this many rows a list sorts on any column; above, only on indexed ones: a sort
    # elsewhere reads the whole table, and the list says so instead of hanging.
    small_table_rows: ClassVar[int] = 10_000
    # Rows only the app writes (audit entries, notifications): readable, never typed in.
    written_by_the_app: ClassVar[bool] = False
    # Internal tables (who read which notification) stay reachable by URL, out of the menu.
    in_menu: ClassVar[bool] = True
    # To-many relations edited as rows on this view's forms, by name (`["items"]`); None: those
    # the mapper suggests (app/admin/inline_rows.py inline_relations), [] for none.
    inline_rows: ClassVar[Sequence[str] | None] = None
    # The library's csv leaves formulas in cells; json is not opened by spreadsheets; xlsx
    # writes text as text cells (app/exports/writers.py).
    exporters: Sequence[BaseExporter | str] = [SpreadsheetSafeCsv(), LabelledJson(), StreamedXlsx()]
    importers: Sequence[BaseImporter | str] = ["csv", "tsv", "json"]  # the import job reads these
    # The list's columns a phone shows (the others are hidden below 768 px wide); None: the
    # first `phone_column_count` shown columns (docs/reference.md, "Pages on phones").
    phone_columns: ClassVar[Sequence[str] | None] = None
    phone_column_count: ClassVar[int] = 3

    _overrides: ClassVar[dict[type[Any], type[AutoModelView]]] = {}

    @staticmethod
    def use_page_size(size: int) -> None:
        """Every list's default page size (the ADMIN_PAGE_SIZE live setting's hook)."""
        AutoModelView.page_size = size
        AutoModelView.page_size_options = sorted({10, 25, 50, 100, size})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("model")
        if declared is not None:
            AutoModelView._overrides[declared] = cls

    @classmethod
    def view_class_for(cls, model: type[Any]) -> type[AutoModelView]:
        return cls._overrides.get(model, cls)

    def __init__(self, model: type[Any] | None = None, **kwargs: Any) -> None:
        model = model or type(self).__dict__.get("model")
        if model is None:
            raise TypeError(f"{type(self).__name__} needs a model")
        defaults = MapperDefaults(inspect(model))
        self._defaults = defaults
        self._filterables: dict[frozenset[str], dict[str, Filterable]] = {}
        self._record_statements: dict[tuple[tuple[str, ...], bool], Select[Any]] = {}
        self._list_statements: dict[Hashable, Select[Any]] = {}
        self._read_lookups: dict[Hashable, list[Lookup]] = {}
        # A view that builds its own queries gets the library's find_by_pk, built each time.
        self._own_queries = (
            type(self).get_detail_query is not AutoModelView.get_detail_query
            or type(self).get_list_query is not ModelView.get_list_query
        )
        secrets = defaults.secrets()
        to_many = defaults.to_many()
        self.exclude_fields_from_list = self._merge(
            self.exclude_fields_from_list, secrets + to_many
        )
        self.exclude_fields_from_export = self._merge(
            self.exclude_fields_from_export, secrets + to_many
        )
        self.exclude_fields_from_import = self._merge(
            self.exclude_fields_from_import, secrets + to_many
        )
        names = self.inline_rows
        inlined = inline_relations(defaults.mapper) if names is None else list(names)
        relations = defaults.mapper.relationships
        unknown = [name for name in inlined if name not in relations]
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.inline_rows: {model.__name__} has no relation"
                f" {', '.join(map(repr, unknown))}; relations: {', '.join(relations.keys())}"
            )
        self.inlines = [InlineRows(relations[name]) for name in inlined]
        # An inlined relation's detail is its own table of rows (the library's inline_detail.html).
        self.exclude_fields_from_detail = self._merge(
            self.exclude_fields_from_detail, secrets + inlined
        )
        # A one-to-many collection is edited from the other side (its foreign key).
        form_excluded = secrets + defaults.one_to_many() + defaults.stamped_by_database()
        self.exclude_fields_from_create = self._merge(
            self.exclude_fields_from_create, form_excluded
        )
        self.exclude_fields_from_edit = self._merge(self.exclude_fields_from_edit, form_excluded)
        if self.sortable_fields is None:
            self.sortable_fields = defaults.orderable()
        self._indexed = set(defaults.sortable())
        self._known_rows: int | None = None  # the table's size as the last unfiltered count saw
        # Built on first use (after searchable_fields), one per set of related models shown.
        self._searches: dict[frozenset[str], ModelSearch] = {}
        self._related_searches: list[tuple[str, Related]] | None = None
        if self.searchable_fields is None:
            self.searchable_fields = [str(c.key) for c in defaults.string_columns()] + [
                rel.key
                for rel in defaults.relations
                if is_to_one(rel) and defaults.label_columns(rel)
            ]
        if self.fields_default_sort is None:
            self.fields_default_sort = [(str(defaults.mapper.primary_key[0].key), True)]
        # Named from the model (app/models/labels.py): the library adds "s" to any name.
        if not kwargs.get("menu_label") and not self.menu_label:
            self.menu_label = plural_label(model)
        if not kwargs.get("display_name") and not self.display_name:
            self.display_name = model_label(model)
        kwargs.setdefault("converter", FieldConverter())
        super().__init__(model, **kwargs)

    @staticmethod
    def _merge(declared: Sequence[str] | None, derived: list[str]) -> list[str]:
        return list(dict.fromkeys([*(declared or []), *derived]))

    # --- permissions: `<identity>:<action>` strings, checked on the server by the library ---

    def allowed(self, request: Request, action: str) -> bool:
        user = current_user(request)
        if user is None or not user.can(model_permission(str(self.key), action)):
            return False
        if action in WRITE_ACTIONS and changes_paused(request):
            refuse_if_writing(request)  # the write itself hears why; pages just hide the buttons
            return False
        return True

    def is_accessible(self, request: Request) -> bool:
        return self.allowed(request, "view")

    def can_view_detail(self, request: Request) -> bool:
        return self.allowed(request, "view")

    def can_create(self, request: Request) -> bool:
        return not self.written_by_the_app and self.allowed(request, "create")

    def can_edit(self, request: Request) -> bool:
        return not self.written_by_the_app and self.allowed(request, "edit")

    def can_delete(self, request: Request) -> bool:
        return self.allowed(request, "delete")

    def can_export(self, request: Request) -> bool:
        return self.allowed(request, "export")

    def can_import(self, request: Request) -> bool:
        # An import both adds and changes rows.
        return self.can_create(request) and self.can_edit(request)

    async def is_action_allowed(self, request: Request, name: str) -> bool:
        if name in ("delete", "export"):
            return await super().is_action_allowed(request, name)
        return self.can_edit(request)  # custom batch actions change rows

    async def is_row_action_allowed(self, request: Request, name: str) -> bool:
        # Asked for each row of a list page, and the answer is the page's: found once.
        known: dict[tuple[str, str], bool] | None = getattr(
            request.state, "row_actions_allowed", None
        )
        if known is None:
            known = request.state.row_actions_allowed = {}
        key = (str(self.key), name)
        if key not in known:
            if name in ("delete", "edit", "view"):
                known[key] = await super().is_row_action_allowed(request, name)
            else:
                known[key] = self.can_edit(request)
        return known[key]

    async def handle_action(self, request: Request, selection: Any, name: str) -> Any:
        # The library answers a forbidden action with a 400 message; a refusal is a 403.
        if is_batch_action(self, name) and not await self.is_action_allowed(request, name):
            raise HTTPException(HTTP_403_FORBIDDEN)
        if not selection.is_select_all:
            pks = await selection.pks()
            self.refuse_wrong_keys(pks, "pks")
            if name == "delete":
                # Rows picked from a page: each as it was shown. "All matching" showed no rows.
                await self.expect_as_shown(request, [str(pk) for pk in pks], one=False)
        if name == "export":
            from app.admin.export_jobs import export_in_background  # it builds on this view

            queued = await export_in_background(self, request, selection.is_select_all)
            if queued is not None:
                return queued
        return await super().handle_action(request, selection, name)

    async def handle_row_action(self, request: Request, pk: Any, name: str) -> Any:
        if is_row_action(self, name) and not await self.is_row_action_allowed(request, name):
            raise HTTPException(HTTP_403_FORBIDDEN)
        self.refuse_wrong_keys([pk], "pk")
        if name == "delete":
            await self.expect_as_shown(request, [str(pk)], one=True)
        return await super().handle_row_action(request, pk, name)

    async def handle_exception(self, request: Request, exc: Exception) -> None:
        # A value another row already has, or none where one is needed: bad input, not a 500.
        if isinstance(exc, IntegrityError):
            refused = self._defaults.refused_field(exc)
            if refused is not None:
                raise FormValidationError({refused[0]: refused[1]})
        await super().handle_exception(request, exc)

    # --- edits: a save over someone else's change is refused (app/admin/seen_rows.py) ---

    async def edit(self, request: Request, pk: Any, data: dict[str, Any]) -> Any:
        if getattr(request.state, "action", None) != RequestAction.EDIT:
            # A list's cell edit and an import show no form: they carry nothing seen.
            return await super().edit(request, pk, data)
        seen = seen_rows_of(request).read(
            _form_text(await request.form(), SEEN_ROW), str(self.key), str(pk)
        )
        session: AsyncSession = request.state.session
        # On SQLite a savepoint takes the write lock first (app/db.py): no save slips in between.
        async with session.begin_nested():
            rows = await self.locked_rows(request, [pk])
            obj = rows[0] if rows else None
            if obj is None:
                raise Conflict(
                    f"This {self.key} was deleted since you opened the form; nothing was saved"
                )
            fields = list(self.get_fields_list(request))
            now = seen_values(fields, obj)
            changes = changes_between(fields, seen, now)
            if changes:
                by = await self._last_changed_by(session, str(pk))
                current = seen_rows_of(request).sign(str(self.key), str(pk), now)
                request.state.edit_conflict = EditConflict(changes, by, current)
                request.state.edit_status = 409
                raise FormValidationError(
                    {
                        change.field: f"{by or 'Someone else'} changed it since you opened"
                        f" this form; it is now {change.now or '(empty)'}"
                        f" (it was {change.seen or '(empty)'})"
                        for change in changes
                    }
                )
            return await super().edit(request, pk, data)

    # --- deletes: a row changed since its page was shown is not deleted (seen_rows.py) ---

    async def get_row_actions_for_obj(self, request: Request, obj: Any) -> list[dict[str, Any]]:
        listing = request.state.action == RequestAction.LIST
        if listing:
            pages: dict[str, ListedRowActions | None] = request_memo(request, "page_row_actions")
            if str(self.key) not in pages:
                pages[str(self.key)] = await self._listed_row_actions(request, obj)
            listed = pages[str(self.key)]
            if listed is not None:
                # A list's rows all share their actions (~40 us a row): each adds its stamp.
                if listed.deletes:
                    pk = key_read(obj, listed.key)
                    if pk is None:
                        pk = await self.get_serialized_pk_value(request, obj)
                    listed.shown[str(pk)] = row_stamp(obj)
                return listed.actions
        actions = await super().get_row_actions_for_obj(request, obj)
        if not _deletes(actions):
            return actions
        stamp = row_stamp(obj)
        # The list's "Delete" for the selected rows carries the stamps of every row it shows.
        shown = request_memo(request, "shown_rows")
        shown[str(await self.get_serialized_pk_value(request, obj))] = stamp
        return _stamped(actions, "" if listing else stamp)

    def row_actions_shared(self, request: Request) -> bool:
        """Whether this list page's rows all have the same actions (and it has rows)."""
        pages: dict[str, ListedRowActions | None] = request_memo(request, "page_row_actions")
        return pages.get(str(self.key)) is not None

    async def _listed_row_actions(self, request: Request, obj: Any) -> ListedRowActions | None:
        """A list page's row actions, given its first row, when every row has the same; None
        when they may differ by row."""
        if row_actions_differ_by_row(self):
            return None
        actions = await super().get_row_actions_for_obj(request, obj)
        deletes = _deletes(actions)
        # The row carries its stamp (data-sb-seen); the page's one copy of the delete's form
        # takes it as the row's delete is clicked (static/starboard.js).
        return ListedRowActions(
            _stamped(actions, "") if deletes else actions,
            deletes,
            request_memo(request, "shown_rows"),
            plain_key(self),
        )

    async def get_all_actions(self, request: Request) -> list[dict[str, Any]]:
        # The library renders the batch actions' forms from templates on every list page (~0.5
        # ms); they follow the reader, the model and the live settings (frame_parts.py).
        key = reader_key(request, "batch_actions", (str(self.key),))
        actions: list[dict[str, Any]] | None = _BATCH_ACTIONS.get(key)
        if actions is None:
            actions = await super().get_all_actions(request)
            if not _carries_secrets(request, actions):
                _BATCH_ACTIONS.keep(key, actions)
        actions = list(actions)
        if not getattr(request.state, "shown_rows", None):
            return actions
        # The shown rows' stamps are read from the rows as the delete is clicked (starboard.js).
        return [
            {**action, "form": _with_stamp(action.get("form"), "")}
            if action.get("name") == "delete"
            else action
            for action in actions
        ]

    async def expect_as_shown(self, request: Request, pks: list[str], one: bool) -> None:
        """Read the stamps a delete carries; `delete()` compares them with the rows it locks."""
        text = _form_text(await request.form(), SEEN_STAMP)
        request.state.delete_seen = read_delete_stamps(text, pks, one)

    async def delete(self, request: Request, pks: list[Any]) -> int | None:
        seen: dict[str, str] | None = getattr(request.state, "delete_seen", None)
        if seen is None:
            return await super().delete(request, pks)  # "all matching" rows: none was shown
        session: AsyncSession = request.state.session
        async with session.begin_nested():
            rows = await self.locked_rows(request, pks)
            changed = []
            for row in rows:
                pk = str(await self.get_serialized_pk_value(request, row))
                columns = changed_columns(row, seen[pk])
                if columns is None:
                    raise BadQuery(
                        f"{SEEN_STAMP}: not made for a {self.key} (reload the page and delete"
                        " again)",
                        field=SEEN_STAMP,
                    )
                if columns:
                    changed.append((pk, columns))
            if changed:
                raise Conflict(await self._changed_since_shown(request, session, changed))
            return await super().delete(request, pks)

    async def _changed_since_shown(
        self, request: Request, session: AsyncSession, changed: list[tuple[str, list[str]]]
    ) -> str:
        labels = {f.name: str(f.label or f.name) for f in self.get_fields_list(request)}
        rows = []
        for pk, columns in changed[:5]:
            by = await self._last_changed_by(session, pk)
            fields = ", ".join(labels.get(c, c) for c in columns)
            rows.append(f"{self.key} {pk} ({fields}{f', by {by}' if by else ''})")
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        return (
            f"Changed since this page was shown: {'; '.join(rows)}{more}. Nothing was deleted;"
            " reload the page to see the change, then delete again if you still mean to."
        )

    async def locked_rows(self, request: Request, pks: Sequence[Any]) -> Sequence[Any]:
        """The rows as stored now, held until the request's transaction ends (a savepoint
        opened first takes SQLite's write lock: app/db.py)."""
        request.state.locking_row = True
        try:
            if len(pks) == 1:
                found = await self.find_by_pk(request, pks[0])
                return [] if found is None else [found]
            return await self.find_by_pks(request, list(pks))
        finally:
            request.state.locking_row = False

    def get_detail_query(self, request: Request) -> Select[Any]:
        stmt: Select[Any] = super().get_detail_query(request)
        if getattr(request.state, "locking_row", False):
            # The record as stored now, held until the save commits (PostgreSQL's row lock).
            stmt = stmt.with_for_update(of=self.model).execution_options(populate_existing=True)
        return stmt

    async def _last_changed_by(self, session: AsyncSession, pk: str) -> str | None:
        """Who last changed this record, as the audit log says; None when it does not say."""
        stmt = (
            select(AuditEntry.username)
            .where(AuditEntry.model == str(self.key), AuditEntry.object_pk == pk)
            .where(AuditEntry.action.in_(("create", "edit")))
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        username: str | None = await session.scalar(stmt)
        return username

    def seen_row(self, request: Request, obj: Any) -> str:
        """The edit form's `seen_row` field (templates/admin/edit_guard.html): the record as
        shown; after a conflict as it is now, so saving again re-applies what was typed; after
        a field error what the form first saw, so fixing it does not skip a conflict."""
        conflict: EditConflict | None = getattr(request.state, "edit_conflict", None)
        if conflict is not None:
            return conflict.current
        submitted = getattr(request.state, "seen_row_submitted", None)
        if request.method == "POST" and submitted:
            return str(submitted)
        fields = list(self.get_fields_list(request))
        pk = str(request.query_params.get("pk", ""))
        return seen_rows_of(request).sign(str(self.key), pk, seen_values(fields, obj))

    def edit_conflict(self, request: Request) -> EditConflict | None:
        """What a refused save shows (templates/admin/edit_guard.html)."""
        conflict: EditConflict | None = getattr(request.state, "edit_conflict", None)
        return conflict

    # --- keys: one of the wrong shape (`pk=abc`, 2**63, a NUL) is a row that is not there ---

    def is_key(self, raw: Any) -> bool:
        """Whether some row could have `raw` (as the admin's URLs spell keys) as its key."""
        pk = self._defaults.mapper.primary_key
        parts = (raw,) if len(pk) == 1 else url_key_parts(str(raw))
        return len(parts) == len(pk) and all(
            key_value(column, part) is not None for column, part in zip(pk, parts, strict=True)
        )

    def refuse_wrong_keys(self, keys: Sequence[Any], parameter: str) -> None:
        for key in keys:
            if key is None or not self.is_key(key):
                shown = "no key" if key is None else f"the key {str(key)[:40]!r}"
                raise NotFound(f"{parameter}: no {self.key} has {shown}", field=parameter)

    async def find_by_pk(self, request: Request, pk: Any) -> Any:
        if not self.is_key(pk):
            return None  # the library answers "not found"
        stmt = self._record_statement(request)
        if stmt is None:
            return await super().find_by_pk(request, pk)
        key = key_value(self._defaults.mapper.primary_key[0], pk)
        session: AsyncSession = request.state.session
        found = await session.execute(stmt, {RECORD_KEY: key})
        return found.scalars().unique().one_or_none()

    def _record_statement(self, request: Request) -> Select[Any] | None:
        """The library's statement for one record (its detail query, each relation the reader
        sees joined), its key left to bind and kept per shape, so SQLAlchemy works out its cache
        key once (~0.4 ms a record's page). None where the library's own is used: a key of
        several columns or of another type than a whole number or text, or a view with its
        own detail or list query."""
        pk = self._defaults.mapper.primary_key
        if len(pk) != 1 or not isinstance(pk[0].type, Integer | String) or self._own_queries:
            return None
        joined = tuple(
            f.name for f in self.get_fields_list(request) if isinstance(f, RelationField)
        )
        shape = (joined, bool(getattr(request.state, "locking_row", False)))
        stmt = self._record_statements.get(shape)
        if stmt is None:
            stmt = self.get_detail_query(request).where(pk[0] == bindparam(RECORD_KEY))
            for name in joined:
                stmt = stmt.options(joinedload(getattr(self.model, name)))
            self._record_statements[shape] = stmt
        return stmt

    async def find_by_pks(self, request: Request, pks: list[Any]) -> Sequence[Any]:
        self.refuse_wrong_keys(pks, "pks")
        return await super().find_by_pks(request, pks)

    # --- display ----------------------------------------------------------------------

    async def repr(self, obj: Any, request: Request) -> str:
        if hasattr(obj, "__admin_repr__") or "__str__" not in _defined_methods(type(obj)):
            return await super().repr(obj, request)
        return str(obj)

    async def select2_result(self, obj: Any, request: Request) -> str:
        # The library hands this to jQuery's $(): it must be markup, or text reads as a selector.
        return f"<span>{escape(await self.repr(obj, request))}</span>"

    async def select2_selection(self, obj: Any, request: Request) -> str:
        return f"<span>{escape(await self.repr(obj, request))}</span>"

    def get_fields_list(
        self,
        request: Request,
        *,
        include_nested: bool = False,
        action: RequestAction | None = None,
    ) -> Sequence[BaseField]:
        # Asked about a dozen times by a list page with the same answer (~0.4 ms of it): the
        # fields a reader may see for an action do not change within a request.
        action = action if action is not None else getattr(request.state, "action", None)
        memo = request_memo(request, "fields_lists")
        narrowed = getattr(request.state, "inline_edit_field", None)
        narrowed = narrowed if isinstance(narrowed, str) else None
        key = (str(self.key), action, include_nested, narrowed)
        fields = memo.get(key)
        if fields is None:
            fields = memo[key] = tuple(
                super().get_fields_list(request, include_nested=include_nested, action=action)
            )
        return list(fields)

    def phone_column_names(self, shown: Sequence[Any]) -> set[str]:
        """Which of the list's shown fields stay on a phone (templates/admin/model_list.html)."""
        names = [str(field.name) for field in shown]
        kept = [name for name in self.phone_columns or () if name in names]
        return set(kept or names[: self.phone_column_count])

    async def serialize(
        self,
        obj: Any,
        request: Request,
        include_relationships: bool = True,
        include_select2: bool = False,
    ) -> dict[str, Any]:
        listing = request.state.action == RequestAction.LIST
        if listing and include_relationships and not include_select2:
            return await ListRows.of(request, self).row(request, obj)
        return await super().serialize(obj, request, include_relationships, include_select2)

    async def serialize_field_value(self, value: Any, field: BaseField, request: Request) -> Any:
        if (
            request.state.action == RequestAction.EXPORT
            and isinstance(field, RelationField)
            and not field.multiple
            and value is not None
        ):
            # Exported by name and key (app/admin/exports.py); the library gives the key alone.
            target = foreign_view(self, str(field.key))
            key = await target.get_serialized_pk_value(request, value)
            return RelatedCell(key, await target.repr(value, request))
        if value is not None and shown_by_name(field, request.state.action):
            return await named_cells(request, self, field, value)
        return await super().serialize_field_value(value, field, request)

    def row_markup(self, **parts: Any) -> RowMarkup:
        """The list template's rows (templates/admin/model_list.html)."""
        return RowMarkup(RowParts(pk_attr=str(self.pk_attr), **parts))

    def row_links(self, request: Request) -> RowLinks:
        """The list template's row action links (templates/admin/model_list.html)."""
        return RowLinks(self, request)

    # --- input -------------------------------------------------------------------------

    async def validate_fields(
        self, request: Request, data: dict[str, Any], exclude: Collection[str] = ()
    ) -> None:
        fields = [f for f in self.get_fields_list(request) if f.name not in exclude]
        errors: dict[str | int, Any] = {}
        try:
            await super().validate_fields(request, data, exclude)
        except FormValidationError as error:
            errors.update(error.errors)
        form = await request.form()
        if getattr(request.state, "action", None) == RequestAction.EDIT:
            request.state.seen_row_submitted = _form_text(form, SEEN_ROW)
        # Keys no row can have, before the library's lookup answers them with a bare 404.
        errors.update(unmatched_keys(fields, form, data, self._defaults.mapper, shape_only=True))
        errors.update(unreadable_fields(fields, form, data))
        errors.update(unstorable_text(fields, data))
        errors.update(too_long_text(fields, data, self._defaults.text_lengths()))
        errors.update(below_least(fields, data, least_values(self._defaults.mapper)))
        if getattr(request.state, "action", None) == RequestAction.IMPORT:
            cells = cells_as_text(data)  # a row of a small import: no form text to read
            refused = refused_by_column(fields, cells, data, self._defaults.mapper, by_name=True)
        else:
            refused = refused_by_column(fields, form, data, self._defaults.mapper)
        errors |= {name: problem for name, problem in refused.items() if name not in errors}
        if errors:
            raise FormValidationError(errors)

    async def validate(self, request: Request, data: dict[str, Any]) -> None:
        # Here the library has looked the picked rows up; validate_fields sees their keys only.
        fields = self.get_fields_list(request)
        unmatched = unmatched_keys(fields, await request.form(), data, self._defaults.mapper)
        if unmatched:
            errors: dict[str | int, Any] = {}
            errors.update(unmatched)
            raise FormValidationError(errors)
        await super().validate(request, data)

    # --- search ------------------------------------------------------------------------

    def get_search_query(self, request: Request, term: str) -> Any:
        term = term.strip()
        if not is_storable_text(term):
            return literal(False)  # no stored text holds a NUL or a lone surrogate
        return self.model_search(request).clause(term, _dialect(request))

    def search_glance(
        self, request: Request, term: str, limit: int
    ) -> tuple[Select[Any], dict[str, Any]]:
        """Up to `limit` rows the list's search finds, found fast (global search): the statement
        and its parameters."""
        term = term.strip()
        if not is_storable_text(term):
            return select(self.model).where(literal(False)), {}
        return self.model_search(request).glance(term, _dialect(request), limit)

    def model_search(self, request: Request) -> ModelSearch:
        """How this list's search matches rows for this reader: its text columns, its key, and
        the searchable to-one relations' labels where the reader may view the related model
        (else an order searched by a customer's e-mail would tell who buys what)
        (app/admin/model_search.py)."""
        related = self.related_searches()
        shown = self.searched_models(request)
        search = self._searches.get(shown)
        if search is None:
            search = self._searches[shown] = ModelSearch(
                self._defaults.mapper,
                self._defaults.string_columns(),
                [way for key, way in related if key in shown],
            )
        return search

    def related_searches(self) -> list[tuple[str, Related]]:
        """The searchable to-one relations, each with its related model's key."""
        if self._related_searches is None:
            self._related_searches = []
            for rel in self._defaults.relations:
                if not is_to_one(rel) or rel.key not in (self.searchable_fields or []):
                    continue
                labels = self._defaults.label_columns(rel)
                if labels and len(rel.local_remote_pairs or []) == 1:
                    (local, remote) = (rel.local_remote_pairs or [])[0]
                    key = slugify_class_name(rel.mapper.class_.__name__)  # as the library keys it
                    self._related_searches.append((key, Related(local, remote, labels)))
        return self._related_searches

    def searched_models(self, request: Request) -> frozenset[str]:
        """The related models whose labels this reader's search reads: those they may view."""
        return frozenset(key for key, _ in self.related_searches() if self._may_view(request, key))

    def _may_view(self, request: Request, key: str) -> bool:
        try:
            return foreign_view(self, key).can_view_detail(request)
        except HTTPException:  # a model with no admin view: nobody reads it here
            return False

    # --- filters: Django-style lookups in the query string (app/admin/lookups.py) ------

    def filterables(self, request: Request) -> dict[str, Filterable]:
        """What this user may filter the list by: the fields they may view."""
        visible = frozenset(
            f.name for f in self.get_fields_list(request, action=RequestAction.DETAIL)
        )
        # Worked out once per set of visible fields: asked twice a filtered page (~0.1 ms each).
        found = self._filterables.get(visible)
        if found is None:
            found = self._filterables[visible] = filterables(self._defaults.mapper, visible)
        return found

    def lookups(self, request: Request) -> list[Lookup]:
        """The list's lookups; an export or a batch action reads the list page's own."""
        cached: list[Lookup] | None = getattr(request.state, "list_lookups", None)
        if cached is None:
            params = request.query_params
            if getattr(request.state, "action", None) != RequestAction.LIST:
                # Actions (export too) carry the list page's query string; their own is theirs.
                params = QueryParams(params.get("_list_query", "").lstrip("?"))
            fields = self.filterables(request)
            given = tuple((n, v) for n, v in params.multi_items() if is_lookup_parameter(n))
            # Read once per query and set of fields (a filtered list is paged and reloaded):
            # each lookup's where-clause costs ~0.1 ms to build, and a bad one raises each time.
            known = (given, frozenset(fields))
            cached = self._read_lookups.get(known)
            if cached is None:
                cached = read_lookups(given, fields, str(self.key))
                keep_bounded(self._read_lookups, known, cached)
            request.state.list_lookups = cached
        return cached

    def lookup_parameters(self, request: Request) -> list[tuple[str, str]]:
        """The page's lookups as given, for the forms that must send them on (search)."""
        return [(lookup.parameter, lookup.value) for lookup in self.lookups(request)]

    def filter_panel(self, request: Request) -> FilterPanel:
        """The list's filter panel (templates/admin/filter_panel.html)."""

        def lookup_urls() -> dict[str, str]:
            found = {}
            for field in self.get_fields_list(request, action=RequestAction.DETAIL):
                identity = field.key if isinstance(field, RelationField) else None
                if identity and self._admin_may_view(request, identity):
                    found[field.name] = str(request.url_for("admin:relation-lookup", key=identity))
            return found

        return FilterPanel(request, self.filterables(request), self.lookups(request), lookup_urls)

    @staticmethod
    def _admin_may_view(request: Request, identity: str) -> bool:
        # No autocomplete from a model the user may not view: its lookup would answer 403.
        user = current_user(request)
        return user is not None and user.can(model_permission(identity, "view"))

    # --- columns: `cols` names the columns shown (the library's column chooser writes it) ---

    def list_columns(self, request: Request) -> list[str]:
        """The columns this user's list may show, in order."""
        return [f.name for f in self.get_fields_list(request, action=RequestAction.LIST)]

    def sortable_columns(self, request: Request) -> list[str]:
        fields = self.get_fields_list(request, action=RequestAction.LIST, include_nested=True)
        return [f.name for f in fields if f.orderable]

    def check_columns(self, request: Request, params: QueryParams) -> None:
        """Each `cols` names columns of this list; the library drops unknown ones silently, so a
        typo would show every column: refused (400) naming the parameter instead."""
        chosen = params.getlist("cols")
        if not chosen:
            return
        known = self.list_columns(request)
        for text in chosen:
            for part in text.split(","):
                name = part.strip()
                if name and name not in known:
                    raise BadQuery(
                        f"cols: {self.key} has no list column {name[:40]!r};"
                        f" columns: {', '.join(known)}",
                        field="cols",
                    )

    def filter_form_url(self, request: Request) -> str:
        """Where the list's filter form loads from when its panel is first opened."""
        url = site_path(request.url_for("admin:filters", key=str(self.key)))
        return f"{url}?{request.url.query}" if request.url.query else url

    def date_drilldown_url(self, request: Request) -> str | None:
        """Where the list's date drill-down loads from; None without an indexed date column."""
        if main_date_column(self._defaults.mapper) is None:
            return None
        # Its path is found through the router once per model and mount point.
        path = LinkPattern.kept(
            request, self, "dates", lambda: request.url_for("admin:dates", key=str(self.key))
        ).pattern
        return f"{path}?{request.url.query}" if request.url.query else path

    # --- listing -----------------------------------------------------------------------

    async def find_all(
        self,
        request: Request,
        skip: int = 0,
        limit: int = 100,
        q: str | None = None,
        sorts: Sequence[tuple[str, str]] | None = None,
        filters: FilterGroup | None = None,
    ) -> Sequence[Any]:
        skip, limit = self.window(request, skip, limit)
        # The count only needs to know there is a page after this one.
        window = skip + max(limit, 0)
        request.state.list_window = window
        session: AsyncSession = request.state.session
        # A list page's count rides in its own statement (docs/architecture.md, "Page weight
        # and speed"): one statement, not two.
        listing = limit > 0 and getattr(request.state, "action", None) == RequestAction.LIST
        unfiltered = self._unfiltered(request, q, filters)
        # Far past the count's cap, one row more than the page and the size estimate tell
        # all a count would, without reading up to the cap.
        telling = listing and unfiltered and self._far_past_cap(window)
        sorts = self.affordable_sorts(request, sorts or [])
        cap = window + 1 if telling else self._cap(window)
        # A filter's count past its cap is kept a while (app/admin/list_counts.py).
        counts = None if unfiltered or not listing else self._kept_count(request, q, filters, cap)
        kept = counts.get() if counts is not None else None
        # An unfiltered list's statement is kept per shape, its window bound: SQLAlchemy then
        # works out its cache key once (docs/architecture.md, "Page weight and speed").
        shape: tuple[Hashable, ...] | None = None
        if listing and not self._own_queries:
            dialect = session.get_bind().dialect.name
            shape = (tuple(sorts), telling, kept is None, self._eager_names(request), dialect)
            if not unfiltered:
                # The same search and filters for a reader who sees the same fields and related
                # models (the search reads those), typing times in the same zone (the filter
                # builder's date rules read it).
                visible = tuple(f.name for f in self.get_fields_list(request))
                searched = self.searched_models(request) if q else frozenset()
                where = (
                    q,
                    repr(filters),
                    tuple(self.lookup_parameters(request)),
                    visible,
                    searched,
                )
                shape = (*shape, where, edit_times_zone())
        stmt = self._list_statements.get(shape) if shape is not None else None
        if stmt is None:
            stmt = await self._page_statement(
                request, q, filters, sorts, limit > 0, listing, telling, kept is None, unfiltered
            )
            if shape is not None:
                keep_bounded(self._list_statements, shape, stmt)
        window_values = {LIST_SKIP: skip, LIST_LIMIT: limit + 1 if telling else limit}
        if not listing:
            found: Sequence[Any] = (
                (await session.execute(stmt, window_values)).scalars().unique().all()
            )
            return found
        rows = (await session.execute(stmt, {**window_values, LIST_CAP: cap})).unique().all()
        if kept is not None:
            request.state.page_count = (kept, 0, cap)
            return [row[0] for row in rows[:limit]]
        # An empty page past the end says nothing of the rows before it: the count is asked.
        if rows:
            if telling:
                counted = window + 1 if len(rows) > limit else skip + len(rows)
                estimate = rows[0][1]
            else:
                counted, estimate = rows[0][1], rows[0][2] if unfiltered else 0
            request.state.page_count = (int(counted), int(estimate or 0), cap)
            if counts is not None:
                counts.keep(int(counted))
        return [row[0] for row in rows[:limit]]

    async def _page_statement(
        self,
        request: Request,
        q: str | None,
        filters: FilterGroup | None,
        sorts: Sequence[tuple[str, str]],
        limited: bool,
        listing: bool,
        telling: bool,
        counting: bool,
        unfiltered: bool,
    ) -> Select[Any]:
        """A list page's rows, the window (LIST_SKIP, LIST_LIMIT) and the count's cap
        (LIST_CAP) left to bind; a list page's count or size estimate rides in it."""
        pk = self._defaults.mapper.primary_key
        page = self.get_list_query(request).with_only_columns(*pk)
        page = page.offset(bindparam(LIST_SKIP, type_=BigInteger))
        if limited:
            page = page.limit(bindparam(LIST_LIMIT, type_=BigInteger))
        page = await searched_and_filtered(self, request, page, q, filters)
        page = page.where(*(lookup.clause for lookup in self.lookups(request)))
        page = self.build_order_clauses(request, sorts, page)
        # Skip rows on the key alone (an index walk), then load and join only this page's rows.
        keys = tuple_(*pk) if len(pk) > 1 else pk[0]
        stmt = select(self.model).where(keys.in_(page))
        stmt = self.build_order_clauses(request, sorts, stmt)
        stmt = stmt.options(*self._eager_loads(request))
        if not listing:
            return stmt
        if telling:
            return stmt.add_columns(self._estimate(request.state.session).scalar_subquery())
        if not counting:
            return stmt
        cap = bindparam(LIST_CAP, type_=BigInteger)
        return stmt.add_columns(*await self._count_columns(request, q, filters, cap, unfiltered))

    def _kept_count(
        self, request: Request, q: str | None, filters: FilterGroup | None, cap: int
    ) -> list_counts.KeptCount:
        where = (q, repr(filters), tuple(self.lookup_parameters(request)))
        return list_counts.KeptCount(request, self._defaults.mapper, where, cap)

    def _unfiltered(self, request: Request, q: str | None, filters: FilterGroup | None) -> bool:
        return q is None and (filters is None or filters.is_empty()) and not self.lookups(request)

    def _cap(self, window: int) -> int:
        """How far a page ending at row `window` counts: the next page must be known to exist."""
        return min(max(self.exact_count_limit, window + 1), BIGGEST_OFFSET)

    def _far_past_cap(self, window: int) -> bool:
        """Whether the table is known to be far past the count's cap for this page: the page
        then shows the estimate whatever the count, and is counted one row past its end."""
        return (self._known_rows or 0) > 2 * self._cap(window)

    def affordable_sorts(
        self, request: Request, sorts: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """The sorts asked for, less those on unindexed columns of a table not known to be
        small; those are named in `request.state.slow_sort` for the list to say so."""
        small = self._known_rows is not None and self._known_rows <= self.small_table_rows
        slow = [name for name, _ in sorts if name not in self._indexed]
        if not slow or small:
            return list(sorts)
        request.state.slow_sort = slow
        request.state.known_rows = self._known_rows
        kept = [(name, way) for name, way in sorts if name in self._indexed]
        return kept or [
            (d, "asc") if isinstance(d, str) else (d[0], "desc" if d[1] else "asc")
            for d in self.fields_default_sort or []
        ]

    @staticmethod
    def window(request: Request, skip: int, limit: int) -> tuple[int, int]:
        """The rows asked for; out of bounds is refused (400) naming the query parameter."""
        for name, value in request.query_params.multi_items():
            if not is_storable_text(value):  # PostgreSQL fails on a NUL in any statement
                raise BadQuery(f"{name}: text without NUL bytes", field=name)
        if getattr(request.state, "action", None) == RequestAction.RELATION_LOOKUP:
            # The library clamps these silently, and its floor, limit 0, meant every row here.
            params = request.query_params
            skip = query_number(params, "skip", 0, 0, BIGGEST_OFFSET)
            return skip, query_number(params, "limit", 20, 1, LOOKUP_LIMIT)
        if limit > 0 and skip // limit >= MAX_PAGE:
            raise BadQuery(f"page: a whole number from 1 to {MAX_PAGE:,}", field="page")
        return skip, limit

    def _eager_loads(self, request: Request) -> list[Any]:
        return [joinedload(getattr(self.model, name)) for name in self._eager_names(request)]

    def _eager_names(self, request: Request) -> tuple[str, ...]:
        """Every to-one relation shown is joined; to-many ones are never loaded for a list."""
        names = {f.name for f in self.get_fields_list(request)}
        return tuple(
            rel.key for rel in self._defaults.relations if rel.key in names and is_to_one(rel)
        )

    async def count(
        self,
        request: Request,
        q: str | None = None,
        filters: FilterGroup | None = None,
    ) -> int:
        window = getattr(request.state, "list_window", 0)
        unfiltered = self._unfiltered(request, q, filters)
        told: tuple[int, int, int] | None = getattr(request.state, "page_count", None)
        if told is not None:
            del request.state.page_count  # the page's own: another count reads afresh
            counted, estimate, cap = told
        else:
            cap = self._cap(window)
            if unfiltered and self._far_past_cap(window):
                # Far past the cap, the page shows the estimate either way: counting only past
                # its last row spares reading 10,000 keys (a shrunk table is seen next time).
                cap = window + 1
            columns = await self._count_columns(request, q, filters, cap, unfiltered)
            row = (await request.state.session.execute(select(*columns))).one()
            counted, estimate = int(row[0]), int(row[1] or 0) if unfiltered else 0
        if unfiltered:
            self._known_rows = max(counted, estimate) if counted >= cap else counted
        if counted < cap:
            request.state.count_kind = "exact"
            return counted
        if estimate > counted:
            request.state.count_kind = "estimate"
            return estimate
        request.state.count_kind = "at_least"
        return counted

    async def _count_columns(
        self,
        request: Request,
        q: str | None,
        filters: FilterGroup | None,
        cap: int | BindParameter[int],
        unfiltered: bool,
    ) -> list[Any]:
        """The matching rows counted up to `cap` (a number, or a parameter bound later), and
        unfiltered the table's size estimate beside it: columns of a list page's statement, or
        a statement of their own."""
        session: AsyncSession = request.state.session
        matching: Select[Any] = select(literal(1)).select_from(self._defaults.mapper)
        matching = await searched_and_filtered(self, request, matching, q, filters)
        matching = matching.where(*(lookup.clause for lookup in self.lookups(request)))
        capped = select(func.count()).select_from(matching.limit(cap).subquery())
        columns = [capped.scalar_subquery()]
        if unfiltered:
            columns.append(self._estimate(session).scalar_subquery())
        return columns

    def _estimate(self, session: AsyncSession) -> Select[Any]:
        table_name = str(getattr(self._defaults.mapper.local_table, "name", ""))
        if session.get_bind().dialect.name == "postgresql":
            # Planner statistics: no scan; may lag a little behind reality.
            return select(cast(func.greatest(_PG_CLASS.c.reltuples, 0), BigInteger)).where(
                _PG_CLASS.c.oid == cast(literal(table_name), REGCLASS)
            )
        pk = self._defaults.mapper.primary_key
        if len(pk) == 1 and pk[0].type.python_type is int:
            # An integer key's maximum is one index probe and close to the row count.
            return select(func.max(pk[0]))
        return select(literal(0))


# Every model view's batch actions, by reader (app/admin/frame_parts.py `reader_key`).
_BATCH_ACTIONS = KeptValues()


def _carries_secrets(request: Request, actions: list[dict[str, Any]]) -> bool:
    """Whether a form holds this request's CSRF token or script nonce: never kept."""
    secrets = [csp_nonce(request), str(getattr(request.state, "csrf_token", "") or "")]
    forms = [str(action.get("form") or "") for action in actions]
    return any(secret and secret in form for secret in secrets for form in forms)


def seen_rows_of(request: Request) -> SeenRows:
    """The admin's signer of what edit forms saw (set by app/admin/site.py)."""
    signer: SeenRows = request.app.state.seen_rows
    return signer


@dataclass(frozen=True)
class ListedRowActions:
    """A list page's row actions when every row has the same, and the stamps of its rows."""

    actions: list[dict[str, Any]]
    deletes: bool  # a delete among them: each row's stamp is kept in `shown`
    shown: dict[str, str]  # the stamps by row key (request.state.shown_rows)
    key: str | None  # the attribute holding a row's key as the library gives it (plain_key)


def _deletes(actions: list[dict[str, Any]]) -> bool:
    return any(action.get("name") == "delete" for action in actions)


def _stamped(actions: list[dict[str, Any]], stamp: str) -> list[dict[str, Any]]:
    """The actions with the delete's form carrying `stamp`."""
    return [
        {**action, "form": _with_stamp(action.get("form"), stamp)}
        if action.get("name") == "delete"
        else action
        for action in actions
    ]


def _with_stamp(form: Any, stamp: str) -> str:
    """A delete action's form with the stamp of what the page showed (app/admin/seen_rows.py):
    the library's action script posts the form the modal shows."""
    field = f'<input type="hidden" name="{SEEN_STAMP}" value="{escape(stamp)}">'
    text = str(form or "")
    if "</form>" in text:
        return text.replace("</form>", field + "</form>", 1)
    return f"<form>{text}{field}</form>"


def _form_text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _dialect(request: Request) -> str:
    return str(request.state.session.get_bind().dialect.name)


_DEFINED: dict[type[Any], frozenset[str]] = {}  # a model class's names never change once mapped


def _defined_methods(model: type[Any]) -> frozenset[str]:
    known = _DEFINED.get(model)
    if known is not None:
        return known
    names: set[str] = set()
    for klass in model.__mro__:
        if klass is object:
            break
        names.update(vars(klass))
    known = _DEFINED[model] = frozenset(names)
    return known
