"""Rows of a to-many relation edited on their parent's form: an order's items on the order.

A view names the relations it edits this way, `inline_rows = ["items"]`; without that line it
gets every relation `inline_relations` finds in the mapper. The rows are a table on the create
and edit forms (templates/admin/inline_rows.html): add a row, change one, tick "Remove". They
are checked as they are read, each error shown beside its row and field and listed above the
table; then the parent is saved, then the rows, all in the request's one transaction, so one
refused row saves nothing. The parent's audit entry lists what happened to each row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Integer, Select, String, bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ColumnProperty, Mapper, RelationshipProperty, joinedload
from sqlalchemy.sql.functions import FunctionElement
from starlette.requests import Request
from starlette_admin.contrib.sqla import ModelView
from starlette_admin.fields import BaseField, HasOne
from starlette_admin.helpers import prettify_class_name, slugify_class_name
from starlette_admin.types import RequestAction

from app.admin.inline_fields import InlineCells, InlineFields
from app.admin.library import CheckedInline
from app.admin.list_rows import named_cells, shown_by_name
from app.admin.unparsed_input import (
    below_least,
    least_values,
    refused_by_column,
    too_long_text,
    unreadable_fields,
    unstorable_text,
)
from app.audit import diff
from app.audit.admin_events import add_row_change
from app.auth.secrets import is_secret
from app.row_keys import fits, integer_bounds, key_value

# A relation gets inline rows by default when its rows belong to the parent (removed with it:
# `cascade="all, delete-orphan"`) and its table is small: at most this many fields a person
# types per row, so one row is one line of a table at the form's width.
INLINE_FIELDS_LIMIT = 6
# And at most this many rows for one parent: past it a form of pickers is no longer something a
# person reads before saving, and each picker loads its choice when the page opens. A parent
# with more shows the first ones and says where the rest are edited (the child's own list).
INLINE_ROWS_LIMIT = 50

# Where a request notes which formsets had more rows than INLINE_ROWS_LIMIT.
OVERFLOW = "inline_rows_overflow"
BEFORE = "inline_rows.before"
# The bound parameter of a parent's rows' statement.
PARENT_KEY = "inline_parent_key"
# The parent's pages, which read each row's fields alone (its form, its page's table).
PARENT_PAGES = (RequestAction.CREATE, RequestAction.EDIT, RequestAction.DETAIL)


def row_columns(relation: RelationshipProperty[Any]) -> list[str]:
    """The child's fields a person types: to-one relations (not the one back to the parent)
    and plain columns; not the key, foreign keys, secrets or what the database stamps."""
    child: Mapper[Any] = relation.mapper
    to_parent = {column for _, column in relation.local_remote_pairs or []}
    names = [
        rel.key
        for rel in child.relationships
        if not rel.uselist and not to_parent & {local for local, _ in rel.local_remote_pairs or []}
    ]
    for prop in child.column_attrs:
        column = prop.columns[0]
        # Filled in by the database (created_at = now()): shown, never typed.
        stamped = isinstance(getattr(column.server_default, "arg", None), FunctionElement)
        if column.primary_key or column.foreign_keys or is_secret(prop.key) or stamped:
            continue
        names.append(prop.key)
    return names


def inline_relations(mapper: Mapper[Any]) -> list[str]:
    """The relations a view edits inline unless it says otherwise (see INLINE_FIELDS_LIMIT)."""
    return [
        rel.key
        for rel in mapper.relationships
        if rel.uselist
        and rel.secondary is None
        and rel.cascade.delete_orphan
        and len(rel.local_remote_pairs or []) == 1
        and len(row_columns(rel)) <= INLINE_FIELDS_LIMIT
    ]


class InlineRows(CheckedInline):
    """One relation's rows on its parent's form."""

    extra = 0  # rows are added with the table's button
    collapsible = False
    inline_template = "admin/inline_rows.html"

    def __init__(self, relation: RelationshipProperty[Any]) -> None:
        pairs = relation.local_remote_pairs or []
        if not relation.uselist or relation.secondary is not None or len(pairs) != 1:
            raise TypeError(f"{relation}: inline rows need a one-to-many relation on one column")
        self.relation = relation
        self._statements: dict[tuple[str, ...], Select[Any]] = {}
        child: Mapper[Any] = relation.mapper
        remote = pairs[0][1]
        self.parent_fk: str = next(p.key for p in child.column_attrs if remote in p.columns)
        self.fk_attr = self.parent_fk
        self.parent_view = None
        key = str(child.primary_key[0].key) if len(child.primary_key) == 1 else None
        if key is None:
            raise TypeError(f"{relation}: inline rows need a child with a one-column key")
        # starlette-admin reads column names here too, though its annotation names only fields.
        self.fields = cast("list[BaseField]", [key, *row_columns(relation)])
        self.exclude_fields_from_create = [key]
        self.exclude_fields_from_edit = [key]
        self.exclude_fields_from_list = [key]
        self.exclude_fields_from_detail = [key]
        ModelView.__init__(
            self,
            child.class_,
            key=relation.key,
            menu_label=prettify_class_name(relation.key).capitalize(),
            display_name=prettify_class_name(child.class_.__name__).capitalize(),
        )

    @property
    def child(self) -> Mapper[Any]:
        return self.relation.mapper

    def row_label(self) -> str:
        """How the rows are named in messages: "order item"."""
        return str(self.display_name or "row").lower()

    async def serialize_field_value(self, value: Any, field: BaseField, request: Request) -> Any:
        if value is not None and shown_by_name(field, request.state.action):
            return await named_cells(request, self, field, value)
        return await super().serialize_field_value(value, field, request)

    async def serialize(
        self,
        obj: Any,
        request: Request,
        include_relationships: bool = True,
        include_select2: bool = False,
    ) -> dict[str, Any]:
        if request.state.action not in PARENT_PAGES or include_select2 or not include_relationships:
            return await super().serialize(obj, request, include_relationships, include_select2)
        # Not the row's own name and link, which no parent's page shows (~0.1 ms a row).
        return {
            field.name: await self.serialize_field_value(
                await field.parse_obj(request, obj), field, request
            )
            for field in self.get_fields_list(request)
        }

    # --- reading the parent's rows ---------------------------------------------------------

    async def find_by_parent(self, request: Request, parent: Any) -> Sequence[Any]:
        session: AsyncSession = request.state.session
        stmt = self._rows_statement(request)
        found = await session.execute(stmt, {PARENT_KEY: self.parent_key(parent)})
        rows: Sequence[Any] = found.scalars().unique().all()
        if len(rows) > INLINE_ROWS_LIMIT:
            overflow: set[str] = getattr(request.state, OVERFLOW, set())
            overflow.add(str(self.key))
            setattr(request.state, OVERFLOW, overflow)
        return rows[:INLINE_ROWS_LIMIT]

    def _rows_statement(self, request: Request) -> Select[Any]:
        """A parent's rows, the parent's key left to bind: one statement per set of joined
        relations, kept, so SQLAlchemy works out its cache key once (~0.1 ms a page)."""
        joined = self.joined_relations(request)
        stmt = self._statements.get(joined)
        if stmt is None:
            stmt = self._statements[joined] = (
                select(self.model)
                .where(getattr(self.model, self.parent_fk) == bindparam(PARENT_KEY))
                .order_by(*self.child.primary_key)
                .limit(INLINE_ROWS_LIMIT + 1)
                .options(*(joinedload(getattr(self.model, name)) for name in joined))
            )
        return stmt

    def joined_relations(self, request: Request) -> tuple[str, ...]:
        """The to-one relations the reader's fields show, loaded with the rows."""
        names = {f.name for f in self.get_fields_list(request)}
        return tuple(
            rel.key for rel in self.child.relationships if rel.key in names and not rel.uselist
        )

    def field_markup(
        self,
        classes: Callable[[str], str],
        lookup_url: Callable[[str], object],
        included: Callable[[BaseField, Any, Any], object],
    ) -> InlineFields:
        """The form's writer of this formset's fields (templates/admin/inline_rows.html)."""
        return InlineFields(self, classes, lookup_url, included)

    def detail_cells(
        self,
        request: Request,
        detail_url: Callable[[Any, str, Any], object],
        included: Callable[[BaseField, Any], object],
    ) -> InlineCells:
        """The parent's page's writer of this table's cells (templates/inline_detail.html)."""
        return InlineCells(self, request, detail_url, included)

    def has_more_rows(self, request: Request) -> bool:
        """Whether the parent has more rows than the form shows (templates ask)."""
        return str(self.key) in getattr(request.state, OVERFLOW, set())

    def rest_url(self, request: Request, parent: Any) -> str:
        """The child's list filtered to this parent: where rows past the limit are edited."""
        back = next(
            (
                rel.key
                for rel in self.child.relationships
                if rel.mapper is self.relation.parent and not rel.uselist
            ),
            None,
        )
        url = str(request.url_for("admin:list", key=self.child_view_key()))
        if back is None or parent is None:
            return url
        return f"{url}?{back}__id__exact={self.parent_key(parent)}"

    def child_view_key(self) -> str:
        return slugify_class_name(self.child.class_.__name__)  # the admin's default key

    def parent_key(self, parent: Any) -> Any:
        local = (self.relation.local_remote_pairs or [])[0][0]
        prop = self.relation.parent.get_property_by_column(local)
        return getattr(parent, prop.key)

    # --- checks ------------------------------------------------------------------------------

    async def check_row(
        self, request: Request, typed: Mapping[str, str], data: dict[str, Any]
    ) -> dict[str, str]:
        fields = [f for f in self.get_fields_list(request) if not f.read_only]
        errors = below_least(fields, data, least_values(self.child))
        for field in fields:
            found = await self.check_field(request, field, typed.get(field.name, ""), data)
            if found:
                errors[field.name] = found
        errors.update(unstorable_text(fields, data))
        errors.update(too_long_text(fields, data, self.text_lengths()))
        # Text the library could not read wins: it read "abc" as nothing ("required").
        errors.update(unreadable_fields(fields, typed, data, by_name=True))
        refused = refused_by_column(fields, typed, data, self.child, by_name=True)
        errors |= {name: problem for name, problem in refused.items() if name not in errors}
        return errors

    async def check_field(
        self, request: Request, field: BaseField, typed: str, data: dict[str, Any]
    ) -> str | None:
        value = data.get(field.name)
        if isinstance(field, HasOne):
            return await self.check_choice(request, field, typed)
        prop = self.child.attrs.get(field.name, None)
        if not isinstance(prop, ColumnProperty):
            return None
        column = prop.columns[0]
        if value is None:
            # Sent as NULL, which a NOT NULL column refuses (its Python default is not used).
            needed = field.required or not column.nullable
            return f"{field.label}: required" if needed and not typed.strip() else None
        least = column.info.get("min")
        if isinstance(column.type, Integer) and not fits(column, value):
            low, high = integer_bounds(column)
            return f"{field.label}: a whole number from {max(low, least or low):,} to {high:,}"
        return None

    async def check_choice(self, request: Request, field: BaseField, typed: str) -> str | None:
        """A to-one choice: required when its column is, and a row that exists."""
        relation = self.child.relationships[field.name]
        if not typed.strip():
            return f"{field.label}: choose one" if field.required else None
        target: Mapper[Any] = relation.mapper
        key = key_value(target.primary_key[0], typed.strip())
        session: AsyncSession = request.state.session
        if key is None or await session.get(target.class_, key) is None:
            name = prettify_class_name(target.class_.__name__).lower()
            return f"{field.label}: no {name} has the key {typed.strip()[:40]!r}"
        return None

    def text_lengths(self) -> dict[str, int]:
        """Each text column's declared length (String(40)), by attribute."""
        return {
            str(prop.key): int(prop.columns[0].type.length)
            for prop in self.child.column_attrs
            if isinstance(prop.columns[0].type, String) and prop.columns[0].type.length
        }

    async def check_saved_rows(
        self, request: Request, parent: Any, rows: list[dict[str, Any]]
    ) -> dict[int, dict[str, str]]:
        """Each row sent with a key is one of this parent's: a form cannot reach another's."""
        column = self.child.primary_key[0]
        keyed = {row["index"]: key_value(column, row["pk"]) for row in rows if row.get("pk")}
        if not keyed:
            return {}
        session: AsyncSession = request.state.session
        wanted = [key for key in keyed.values() if key is not None]
        owned = set(
            (
                await session.execute(
                    select(column).where(
                        column.in_(wanted),
                        getattr(self.model, self.parent_fk) == self.parent_key(parent),
                    )
                )
            ).scalars()
        )
        parent_name = str(getattr(self.parent_view, "display_name", "record")).lower()
        errors = {
            index: {"pk": f"no {self.row_label()} with that key belongs to this {parent_name}"}
            for index, key in keyed.items()
            if key not in owned
        }
        first: dict[Any, int] = {}
        for index, key in sorted(keyed.items()):
            # Two rows naming one stored row: the second would overwrite the first's change.
            if key is not None and first.setdefault(key, index) != index:
                errors.setdefault(
                    index, {"pk": f"the same {self.row_label()} as row {first[key] + 1}"}
                )
        return errors

    # --- one audit entry: each row's change goes into the parent's ---------------------------

    async def after_create(self, request: Request, obj: Any) -> None:
        self.tell_parent(request, obj, None, self.row_values(obj))

    async def before_edit(self, request: Request, data: dict[str, Any], obj: Any) -> None:
        inspect(obj).info[BEFORE] = diff.committed_values(obj)

    async def after_edit(self, request: Request, obj: Any) -> None:
        old = inspect(obj).info.pop(BEFORE, {})
        self.tell_parent(request, obj, old, self.row_values(obj))

    async def before_delete(self, request: Request, obj: Any) -> None:
        self.tell_parent(request, obj, self.row_values(obj), None)

    def row_values(self, obj: Any) -> diff.Values:
        values = diff.values(obj)
        values.pop(self.parent_fk, None)  # the parent the entry is about
        return values

    def tell_parent(
        self, request: Request, obj: Any, old: diff.Values | None, new: diff.Values | None
    ) -> None:
        change = diff.row_change(old, new)
        if change is None or self.parent_view is None:
            return
        pk = inspect(obj).mapper.primary_key_from_instance(obj)[0]
        # The verb keeps a removed row and one added under its freed key (SQLite) apart.
        done = "added" if old is None else "removed" if new is None else "changed"
        name = f"{self.key} #{pk} {done}"
        add_row_change(
            request, str(self.parent_view.key), getattr(obj, self.parent_fk), name, change
        )
