"""A list page's rows as the template reads them, worked out once per page instead of per row
(docs/architecture.md, "Page weight and speed").

The library serializes a list row the way it serializes a record for its JSON API: it asks which
fields the reader may see, builds the row's detail link through the router, and serializes each
to-one related record whole (every column, its own link) to show its name. On a 25-row page that
was 12 ms of a 29 ms answer. Here the fields and the links' shape are found once per page; a
row's cells are its values serialized by their fields as before, and a related record's cell is
what the row shows of it: its name, its key and its link.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette_admin.fields import BaseField, IntegerField, RelationField
from starlette_admin.helpers import detail_url
from starlette_admin.types import RequestAction
from starlette_admin.views import BaseModelView

from app.admin.library import foreign_view, row_action_links, serialized_by_the_field
from app.route_urls import KEY_SLOT, KEY_SLOT_IN_QUERY, request_memo, site_path, with_key

# The list a record's page returns to: added by static/starboard.js as a row's link is followed,
# not repeated in every link of every row (a filtered list's address, four times a row).
ORIGIN = "_origin"


def without_origin(url: str) -> str:
    """The link as the page writes it: its path and query, without the list to return to."""
    parts = urlsplit(site_path(url))
    query = [(name, value) for name, value in parse_qsl(parts.query, True) if name != ORIGIN]
    return parts.path + (f"?{urlencode(query)}" if query else "")


class LinkPattern:
    """A link with the row's key left open, built through the router once per page."""

    # Patterns by model, link and mount point: a link's path and query with the origin and the
    # list to return to taken off depend on nothing else (~0.6 ms of building a page).
    _kept: dict[tuple[str, str, str], str] = {}

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern  # a site path with KEY_SLOT for the key

    def to(self, pk: Any) -> str:
        return with_key(self.pattern, pk)

    @classmethod
    def kept(
        cls, request: Request, view: BaseModelView, link: str, build: Callable[[], object]
    ) -> LinkPattern:
        """The pattern of `view`'s `link`, `build`ing it the first time on this mount point."""
        key = (str(view.key), link, str(request.scope.get("root_path", "")))
        pattern = cls._kept.get(key)
        if pattern is None:
            pattern = cls._kept[key] = without_origin(str(build()))
        return cls(pattern)

    @classmethod
    def detail(cls, request: Request, view: BaseModelView) -> LinkPattern:
        key = str(view.key)
        return cls.kept(request, view, "detail", lambda: detail_url(request, key, KEY_SLOT))


class RowLinks:
    """Where one list page's row actions go, and their icons, built once per page instead of
    once per row (templates/admin/model_list.html).

    Each library link resolves its route and re-encodes its query string (~0.15 ms, twice a
    row). The library's own view and edit links differ between rows only in the key, so each is
    built once around a slot that every row fills in; a row's icons likewise.
    """

    def __init__(self, view: BaseModelView, request: Request) -> None:
        self.request = request
        self.handlers = row_action_links(view)
        keyed_in_query = {BaseModelView.row_action_1_view, BaseModelView.row_action_2_edit}
        self.patterns = {
            name: LinkPattern.kept(
                request, view, name, functools.partial(handler, request, KEY_SLOT)
            )
            for name, handler in self.handlers.items()
            if getattr(handler, "__func__", None) in keyed_in_query
        }
        self.icons: dict[str, str] = {}
        self.drawn: dict[int, tuple[list[dict[str, Any]], str]] = {}

    def href(self, name: str, pk: Any) -> str:
        pattern = self.patterns.get(name)
        if pattern is None:
            return without_origin(str(self.handlers[name](self.request, pk)))
        return pattern.to(pk)

    @staticmethod
    def asking(row_actions: dict[Any, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The page's row actions that ask first, one of each: the copy a row's takes."""
        asking: dict[str, dict[str, Any]] = {}
        for actions in row_actions.values():
            for action in actions:
                if not action.get("is_link") and action.get("confirmation") is not None:
                    asking.setdefault(str(action.get("name")), action)
        return list(asking.values())

    def actions(
        self,
        render: Callable[[list[dict[str, Any]], Any], str],
        actions: list[dict[str, Any]],
        pk: Any,
    ) -> Markup:
        """A row's action icons, `render`ed once per page with the key left open."""
        seen = self.drawn.get(id(actions))
        if seen is not None and seen[0] is actions:
            icons = seen[1]  # the very list of the row before: most pages share one list
        else:
            if any(a.get("is_link") and a.get("name") not in self.patterns for a in actions):
                return Markup(render(actions, pk))  # a link of the view's own: built per row
            shape = repr(actions)
            kept = self.icons.get(shape)
            if kept is None:
                kept = self.icons[shape] = str(render(actions, KEY_SLOT))
            icons = kept
            self.drawn[id(actions)] = (actions, icons)  # held: its id is not reused meanwhile
        return Markup(icons.replace(KEY_SLOT_IN_QUERY, quote_plus(str(pk))))

    def cell(
        self, render: Callable[[list[dict[str, Any]], Any], str]
    ) -> Callable[[list[dict[str, Any]], Any], str]:
        """A row's cell of action icons, written here: a template macro called for each row
        costs more than the icons themselves."""

        def icons_cell(actions: list[dict[str, Any]], pk: Any) -> str:
            return f'<td class="sb-row-actions">{self.actions(render, actions, pk)}</td>'

        return icons_cell


def plain_key(view: BaseModelView) -> str | None:
    """The attribute holding a record's key, when the view reads and serializes it as the
    attribute's integer as is (the library's integer field, no getter); else None."""
    # starlette-admin 1.0.3: sqla ModelView.get_pk_value parses the key through its pk_field,
    # get_serialized_pk_value then serializes it: two awaits and a debug line per row (~3 us).
    field = getattr(view, "pk_field", None)
    if (
        isinstance(field, BaseField)
        and type(field).serialize_value is IntegerField.serialize_value
        and type(field).parse_obj is BaseField.parse_obj
        and field.getter is None
    ):
        return str(field.name)
    return None


def key_read(obj: Any, attribute: str | None) -> int | None:
    """The record's key read from its `plain_key` attribute, as the library would serialize it;
    None where the view has no plain key (or the record none yet): ask the view."""
    value = None if attribute is None else getattr(obj, attribute, None)
    return None if value is None else int(value)


class RelatedCells:
    """A to-one relation's cell on a list row: the related record's name, key and link (none
    for a reader who may not view that model: the page would be a 403)."""

    def __init__(self, request: Request, view: BaseModelView, field: RelationField) -> None:
        self.view = foreign_view(view, str(field.key))
        viewable = self.view.can_view_detail(request)
        self.link = LinkPattern.detail(request, self.view) if viewable else None
        self.key = plain_key(self.view)

    async def cell(self, request: Request, related: Any) -> dict[str, Any]:
        pk: Any = key_read(related, self.key)
        if pk is None:
            pk = await self.view.get_serialized_pk_value(request, related)
        link = self.link.to(pk) if self.link is not None else None
        meta = {"repr": await self.view.repr(related, request), "detailUrl": link}
        return {str(self.view.pk_attr): pk, "_meta": meta}


def _library_serializers() -> tuple[Any, ...]:
    from app.admin.model_view import AutoModelView  # the view module imports this one

    # Ours gives the library's answer for a list; it differs only in exports.
    return (BaseModelView.serialize_field_value, AutoModelView.serialize_field_value)


# The library's template for a relation on a record's page: it reads the related record's key
# and name (`_meta.repr`) alone.
RELATION_DETAIL = "fields/detail/relation.html"


def shown_by_name(field: BaseField, action: RequestAction) -> TypeGuard[RelationField]:
    """Whether a record's page shows this field's related records by name and link alone."""
    return (
        action == RequestAction.DETAIL
        and isinstance(field, RelationField)
        and field.detail_template == RELATION_DETAIL
        and serialized_by_the_field(field, action)
    )


async def named_cells(
    request: Request, view: BaseModelView, field: RelationField, value: Any
) -> Any:
    """A relation's value as its detail template reads it: each related record's key, name and
    link. The library serializes each related record whole (every column, each through its
    field) for that; an order's page serialized every item's product and order so (~4 ms)."""
    cells = RelatedCells(request, view, field)
    if field.multiple:
        return [await cells.cell(request, related) for related in value]
    return await cells.cell(request, value)


class ListRows:
    """One list page's way of serializing its rows (kept on the request, per view)."""

    def __init__(self, request: Request, view: BaseModelView) -> None:
        self.view = view
        self.fields: Sequence[BaseField] = view.get_fields_list(request)
        self.related = {
            field.name: RelatedCells(request, view, field)
            for field in self.fields
            if isinstance(field, RelationField) and not field.multiple
        }
        self.link = LinkPattern.detail(request, view)
        self.pk_attr = str(view.pk_attr)
        self.key = plain_key(view)
        # Cells whose value and text the library's own chain would give unchanged: read and
        # serialized here without its three awaits and debug lines per cell (~1.5 ms a page).
        library_serializes = type(view).serialize_field_value in _library_serializers()
        self.read_plainly = {
            field.name
            for field in self.fields
            if type(field).parse_obj is BaseField.parse_obj and field.getter is None
        }
        self.serialized_plainly = {
            field.name
            for field in self.fields
            if library_serializes
            and type(field).serialize_none_value is BaseField.serialize_none_value
            and serialized_by_the_field(field, RequestAction.LIST)
        }

    @classmethod
    def of(cls, request: Request, view: BaseModelView) -> ListRows:
        pages = request_memo(request, "list_rows")
        rows = pages.get(str(view.key))
        if rows is None:
            rows = pages[str(view.key)] = cls(request, view)
        return rows

    async def row(self, request: Request, obj: Any) -> dict[str, Any]:
        """The row as the library's `serialize` gives it, for the list's template."""
        view, row = self.view, dict[str, Any]()
        for field in self.fields:
            name = field.name
            if name in self.read_plainly:
                value = getattr(obj, name, None)
            else:
                value = await field.parse_obj(request, obj)
            related = self.related.get(name)
            if related is not None and value is not None and not field.formatter:
                row[name] = await related.cell(request, value)
            elif name in self.serialized_plainly:
                row[name] = None if value is None else await field.serialize_value(request, value)
            else:
                row[name] = await view.serialize_field_value(value, field, request)
        key = key_read(obj, self.key)
        if key is not None:
            pk = row.setdefault(self.pk_attr, key)  # as the library reads and serializes it
        else:
            if self.pk_attr not in row:
                row[self.pk_attr] = await view.get_serialized_pk_value(request, obj)
            pk = await view.get_pk_value(request, obj)
        row["_meta"] = {"repr": await view.repr(obj, request), "detailUrl": self.link.to(pk)}
        return row


# The library's list templates whose cells the rows write themselves (others are included).
TEXT_CELL = "fields/list/text.html"
RELATION_CELL = "fields/list/relation.html"
CUT_PAST = 30  # characters: shorter text never reaches the cell's 30em (static/starboard.css)
TOOLTIP_PAST = 60  # characters: longer text may be cut, so the cell's title holds all of it


@dataclass(frozen=True)
class RowParts:
    """What a list page's rows are made of, given by its template (admin/model_list.html)."""

    fields: Sequence[BaseField]
    pk_attr: str
    row_actions: Mapping[Any, list[dict[str, Any]]]
    # A row's icons as the page draws them (RowLinks.actions), or its cell of other actions.
    actions_cell: Callable[[list[dict[str, Any]], Any], str]
    # A cell the rows do not write: the field's own list template, given the cell's value.
    included_cell: Callable[[BaseField, Any], str]
    record_link: bool  # the first cell links to the record
    clickable: bool  # a click anywhere on the row opens the record
    checkbox: bool  # the row can be selected for the list's actions
    select_label: str
    stamps: Mapping[str, str]  # each shown row's stamp, by key (what its delete carries back)
    icons_first: bool  # the row's actions before its cells, else after


_SEQUENCES = (list, tuple)  # a tuple: `list | tuple` is built anew at each call


class RowMarkup:
    """A list page's rows written here, not by the template: the same markup, without the
    template's cost per cell (includes, macro calls), ~0.2 ms a row (docs/architecture.md,
    "Page weight and speed"). A null or empty cell is drawn once per column and reused."""

    def __init__(self, parts: RowParts) -> None:
        self.parts = parts
        self._nothing: dict[tuple[str, bool], str] = {}

    def __call__(self, row: Mapping[str, Any]) -> Markup:
        parts = self.parts
        pk = row[parts.pk_attr]
        key = escape(pk)
        meta = row["_meta"]
        out = [f'<tr data-sa-pk="{key}"']
        stamp = parts.stamps.get(str(pk))
        if stamp:
            out.append(f' data-sb-seen="{escape(stamp)}"')
        if parts.clickable and parts.record_link:
            # static/starboard.js gives the row its first cell's address as it is clicked.
            out.append(' class="row-clickable"')
        elif parts.clickable:
            out.append(f' data-sa-href="{escape(meta["detailUrl"])}" class="row-clickable"')
        out.append(">")
        if parts.checkbox:
            out.append(
                '<td data-sa-hook="checkbox-cell"><input class="form-check-input" type="checkbox"'
                f' data-sa-hook="row-checkbox" value="{key}"'
                f' aria-label="{escape(parts.select_label)}"></td>'
            )
        actions = parts.actions_cell(parts.row_actions.get(pk, []), pk) if parts.icons_first else ""
        out.append(str(actions))
        for index, field in enumerate(parts.fields):
            cell = self.cell(field, row[field.name])
            if index == 0 and parts.record_link:
                cell = f'<a href="{escape(meta["detailUrl"])}">{cell}</a>'
            out.append(f"<td>{cell}</td>")
        if not parts.icons_first:
            out.append(str(parts.actions_cell(parts.row_actions.get(pk, []), pk)))
        out.append("</tr>")
        return Markup("".join(out))

    def cell(self, field: BaseField, data: Any) -> str:
        if data is None or (isinstance(data, _SEQUENCES) and not data):
            return self.nothing(field, data is None)
        if field.list_template == TEXT_CELL and not field.copy_to_clipboard:
            return cut(str(escape(data)), len(str(data)), data)
        if field.list_template == RELATION_CELL and isinstance(data, Mapping):
            name, url = data["_meta"]["repr"], data["_meta"]["detailUrl"]
            text = f'<a href="{escape(url)}">{escape(name)}</a>' if url else str(escape(name))
            return cut(text, len(str(name)), name)
        return str(self.parts.included_cell(field, data))

    def nothing(self, field: BaseField, null: bool) -> str:
        known = self._nothing.get((field.name, null))
        if known is None:
            drawn = self.parts.included_cell(field, None if null else [])
            known = self._nothing[(field.name, null)] = str(drawn)
        return known


def cut(markup: str, length: int, text: Any) -> str:
    """A cell's text on one line, in a cutting element only where it may be cut, with the whole
    text as the browser's own tooltip where it is (no tooltip widget per cell)."""
    if length <= CUT_PAST:
        return markup
    title = f' title="{escape(text)}"' if length > TOOLTIP_PAST else ""
    return f'<span class="sb-cut"{title}>{markup}</span>'
