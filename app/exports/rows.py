"""A list's rows as its export serializes them, read in batches outside any request.

The model view does the work as it does for the list page and its instant export: its list
query, its search, its filters and lookups (read from the list page's query string), its sort,
its fields as this user may see them, its serialization for `RequestAction.EXPORT`. The rows
come from one statement read in batches (`yield_per`: a server-side cursor on PostgreSQL), so
a million rows take the memory of one batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import MANYTOONE, ColumnProperty, RelationshipProperty, joinedload
from starlette.datastructures import QueryParams, State
from starlette.requests import Request
from starlette_admin.fields import BaseField, RelationField
from starlette_admin.i18n import set_database_timezone, set_timezone
from starlette_admin.types import RequestAction

from app.admin.library import list_params, searched_and_filtered, serialized_by_the_field
from app.admin.model_view import AutoModelView
from app.auth.current import CurrentUser

BATCH = 1000  # rows per fetch: a batch's objects are all that is held at once


class ExportRequest(Request):
    """A request whose `state` is a plain attribute: the views read it for every cell, and
    Starlette's property costs a few percent of a million-row export."""

    state = State()  # each instance's own, set in __init__ (this shadows the property)

    def __init__(self, scope: dict[str, Any]) -> None:
        super().__init__(scope)
        self.state = State(scope.setdefault("state", {}))


def export_request(
    view: AutoModelView, user: CurrentUser, list_query: str, session: AsyncSession
) -> Request:
    """A request as the list's Export makes it: this user, the list page's query string."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": f"/admin/_api/{view.key}/action",
        "root_path": "",
        "query_string": urlencode({"name": "export", "_list_query": list_query}).encode(),
        "headers": [],
        "state": {},
    }
    request = ExportRequest(scope)
    request.state.user = user
    request.state.session = session
    request.state.action = RequestAction.EXPORT
    return request


def use_export_zone(database_zone: str, user_zone: str) -> None:
    """Times are exported as the admin's export writes them (UTC, from the database's zone)."""
    # starlette-admin 1.0.3: its i18n middleware sets these context variables per request.
    set_timezone(user_zone)
    set_database_timezone(database_zone)


def export_fields(view: AutoModelView, request: Request, chosen: Sequence[str]) -> list[BaseField]:
    """The fields the export writes: those chosen on the form, else all the user may export."""
    every = list(view.get_fields_list(request))
    picked = [f for f in every if f.name in set(chosen)]
    return picked or every


class ListRows:
    """The filtered, searched and sorted rows of one list, for one user."""

    def __init__(
        self,
        view: AutoModelView,
        request: Request,
        fields: list[BaseField],
        *,
        as_columns: bool = True,  # False: always as model objects (the two must agree)
    ) -> None:
        self.view = view
        self.request = request
        self.fields = fields
        self.as_columns = as_columns

    async def statement(self) -> Any:
        view, request = self.view, self.request
        params = list_params(
            view, request, QueryParams(request.query_params.get("_list_query", "").lstrip("?"))
        )
        stmt = view.get_list_query(request)
        stmt = await searched_and_filtered(view, request, stmt, params.q, params.filters)
        return stmt.where(*(lookup.clause for lookup in view.lookups(request))), params.sorts

    async def count(self) -> int:
        stmt, _ = await self.statement()
        counted = select(func.count()).select_from(stmt.order_by(None).subquery())
        session: AsyncSession = self.request.state.session
        return int((await session.execute(counted)).scalar_one())

    async def batches(self, size: int = BATCH) -> AsyncIterator[list[dict[str, Any]]]:
        """Serialized rows, `size` at a time, in the list's order (its key breaking ties)."""
        view, request = self.view, self.request
        stmt, sorts = await self.statement()
        stmt = view.build_order_clauses(request, sorts, stmt)
        stmt = stmt.order_by(*inspect(view.model).primary_key)
        columns = ColumnCells.of(view, request, self.fields) if self.as_columns else None
        if columns is not None:
            async for rows in columns.batches(stmt, size):
                yield rows
            return
        related = [f.name for f in self.fields if isinstance(f, RelationField) and not f.multiple]
        stmt = stmt.options(*(joinedload(getattr(view.model, name)) for name in related))
        session: AsyncSession = request.state.session
        result = await session.stream(stmt.execution_options(yield_per=size))
        cells = [SerializedCells(self.view, field, request) for field in self.fields]
        async for partition in result.scalars().partitions():
            rows = []
            for obj in partition:
                rows.append({cell.name: await cell.of(obj) for cell in cells})
            yield rows


class SerializedCells:
    """One field's cells as the view serializes them for an export, the recent ones kept: most
    columns repeat (a status, a customer) and their serialization is most of an export's time.
    A column whose values rarely repeat (keys, times) stops being kept after a first window."""

    WINDOW = 2048  # values kept at once; the memory of one small batch

    def __init__(self, view: AutoModelView, field: BaseField, request: Request) -> None:
        self.view = view
        self.field = field
        self.name = field.name
        self.request = request
        self.kept: dict[Any, Any] | None = {}
        self.hits = 0
        # The view passes this field's values to the field unchanged (AutoModelView makes only
        # relations' cells itself): the field is asked directly, two calls fewer per cell.
        self.direct = (
            type(view).serialize_field_value is AutoModelView.serialize_field_value
            and not isinstance(field, RelationField)
            and serialized_by_the_field(field, RequestAction.EXPORT)
        )

    async def of(self, obj: Any) -> Any:
        return await self.of_value(await self.field.parse_obj(self.request, obj))

    async def serialized(self, value: Any) -> Any:
        if not self.direct:
            return await self.view.serialize_field_value(value, self.field, self.request)
        if value is None:
            return await self.field.serialize_none_value(self.request)
        return await self.field.serialize_value(self.request, value)

    async def of_value(self, value: Any) -> Any:
        kept = self.kept
        if kept is None:
            if not self.direct:
                return await self.view.serialize_field_value(value, self.field, self.request)
            if value is None:
                return await self.field.serialize_none_value(self.request)
            return await self.field.serialize_value(self.request, value)
        try:
            cell = kept[value]
        except KeyError:
            pass
        except TypeError:  # unhashable (a list of values): never kept
            self.kept = None
            return await self.serialized(value)
        else:
            self.hits += 1
            return cell
        cell = await self.serialized(value)
        if len(kept) >= self.WINDOW:
            # Half the lookups found a kept value: keep a fresh window; else stop keeping.
            self.kept = {} if self.hits >= self.WINDOW else None
            self.hits = 0
            return cell
        kept[value] = cell
        return cell


class RelatedCells:
    """A to-one relation's cells, kept by the related row's key: the related record is loaded
    (a batch's missing ones in one statement) only for a key not kept yet."""

    WINDOW = 65_536  # related rows' cells kept at once (a name and a key each)

    def __init__(self, view: AutoModelView, field: BaseField, request: Request, prop: Any) -> None:
        self.view = view
        self.field = field
        self.name = field.name
        self.request = request
        ((self.local, self.remote),) = prop.local_remote_pairs
        self.target = prop.mapper.class_
        self.kept: dict[Any, Any] = {}

    async def load_missing(self, session: AsyncSession, keys: set[Any]) -> dict[Any, Any]:
        missing = [key for key in keys if key is not None and key not in self.kept]
        if not missing:
            return {}
        attribute = inspect(self.target).get_property_by_column(self.remote).key
        found = await session.scalars(
            select(self.target).where(getattr(self.target, attribute).in_(missing))
        )
        return {getattr(obj, attribute): obj for obj in found}

    async def of_key(self, key: Any, loaded: dict[Any, Any]) -> Any:
        kept = self.kept
        if key in kept:
            return kept[key]
        cell = await self.view.serialize_field_value(loaded.get(key), self.field, self.request)
        if len(kept) >= self.WINDOW:
            kept.clear()  # a new window: memory stays bounded
        kept[key] = cell
        return cell


class ColumnCells:
    """The rows read as columns rather than as objects, when every exported field is a column
    of the model or a to-one relation read as the library reads it: a million model objects
    would cost more than the rest of the export. The cells are still the view's own."""

    def __init__(
        self,
        view: AutoModelView,
        request: Request,
        plain: list[tuple[int, SerializedCells]],
        related: list[tuple[int, RelatedCells]],
        columns: list[Any],
    ) -> None:
        self.view = view
        self.request = request
        self.plain = plain
        self.related = related
        self.columns = columns

    @classmethod
    def of(
        cls, view: AutoModelView, request: Request, fields: list[BaseField]
    ) -> ColumnCells | None:
        mapper = inspect(view.model)
        columns: list[Any] = []
        plain: list[tuple[int, SerializedCells]] = []
        related: list[tuple[int, RelatedCells]] = []
        for field in fields:
            if type(field).parse_obj is not BaseField.parse_obj or field.getter is not None:
                return None  # a field that computes its value needs the object
            prop = mapper.attrs.get(field.name)
            if isinstance(field, RelationField):
                if (
                    field.multiple
                    or not isinstance(prop, RelationshipProperty)
                    or prop.direction is not MANYTOONE
                    or len(prop.local_remote_pairs or []) != 1
                ):
                    return None
                cells = RelatedCells(view, field, request, prop)
                related.append((len(columns), cells))
                columns.append(cells.local)
            elif isinstance(prop, ColumnProperty) and len(prop.columns) == 1:
                plain.append((len(columns), SerializedCells(view, field, request)))
                columns.append(prop.columns[0])
            else:
                return None
        return cls(view, request, plain, related, columns)

    async def batches(self, stmt: Any, size: int) -> AsyncIterator[list[dict[str, Any]]]:
        session: AsyncSession = self.request.state.session
        # The list's own statement (its search, filters, lookups, sort), its columns alone.
        stmt = stmt.with_only_columns(*self.columns, maintain_column_froms=True)
        result = await session.stream(stmt.execution_options(yield_per=size))
        async for partition in result.partitions():
            loaded = [
                await cells.load_missing(session, {row[at] for row in partition})
                for at, cells in self.related
            ]
            rows = []
            for row in partition:
                cells_of_row = {}
                for at, cells in self.plain:
                    cells_of_row[cells.name] = await cells.of_value(row[at])
                for (at, related), found in zip(self.related, loaded, strict=True):
                    cells_of_row[related.name] = await related.of_key(row[at], found)
                rows.append(cells_of_row)
            yield rows
