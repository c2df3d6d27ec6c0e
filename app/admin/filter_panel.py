"""What a list's filter panel shows (templates/admin/filter_panel.html): a control per filterable
field with the values the page's URL holds, and a removable chip per applied lookup.

The panel is a GET form whose field names are the lookups themselves (`status__in`,
`created_at__gte`), so choosing in it yields the bookmarkable URL docs/reference.md describes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette_admin.routing import route

from app.admin.list_fragments import ListFragments
from app.admin.lookups import Filterable, Lookup, is_lookup_parameter

# How a chip words each lookup.
SAYS = {
    "exact": "is",
    "in": "is one of",
    "gt": "after",
    "gte": "from",
    "lt": "before",
    "lte": "to",
    "contains": "contains",
    "icontains": "contains",
}
NUMBER_SAYS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


@dataclass(frozen=True)
class Chip:
    text: str
    parameter: str


@dataclass(frozen=True)
class Control:
    field: Filterable
    lookup_url: str | None  # a relation's autocomplete endpoint


class FilterPanel:
    def __init__(
        self,
        request: Request,
        fields: dict[str, Filterable],
        lookups: list[Lookup],
        lookup_urls: Callable[[], dict[str, str]],
    ) -> None:
        self.fields = fields
        self.lookup_urls = lookup_urls
        self.params = request.query_params.multi_items()
        self.values: dict[str, str] = {
            name: value for name, value in self.params if is_lookup_parameter(name)
        }
        self.given = [(n, v) for n, v in self.params if v != ""]
        self.chips = [chip_of(lookup) for lookup in lookups]

    # The form's parts, worked out only for the form: the list page shows the chips alone.

    @functools.cached_property
    def controls(self) -> list[Control]:
        urls = self.lookup_urls()
        return [Control(field, urls.get(field.relation or "")) for field in self.fields.values()]

    @functools.cached_property
    def kept(self) -> list[tuple[str, str]]:
        """What the panel's form sends on unchanged: search, sort, page size, columns, and
        lookups it has no control for (`total__gt`)."""
        shown = {name for field in self.fields.values() for name in controlled(field)}
        return [
            (name, value)
            for name, value in self.params
            if name in ("q", "sort", "page_size", "cols", "filter")
            or (is_lookup_parameter(name) and name not in shown)
        ]

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def chosen(self, name: str) -> set[str]:
        """An enum's chosen values, whether the URL lists them with `__in` or `__exact`."""
        listed = self.values.get(f"{name}__in", "").split(",")
        return {v for v in [*listed, self.values.get(f"{name}__exact", "")] if v}

    @property
    def values_cleared(self) -> dict[str, str | None]:
        """`list_url` overrides that drop every lookup."""
        return self.dropping(list(self.values))

    def dropping(self, names: list[str]) -> dict[str, str | None]:
        """`list_url` overrides that drop these parameters. A list left with no parameter
        says `_default=off`: a bare list URL opens the user's default view instead of all rows
        (app/admin/saved_view_pages.py)."""
        left = [name for name, value in self.given if name not in names and name != "page"]
        return {**dict.fromkeys(names), **({} if left else {"_default": "off"})}


def controlled(field: Filterable) -> list[str]:
    """The query parameters the panel's controls for `field` set."""
    names = {
        "enum": ["__in", "__exact"],  # a chosen `__exact` comes back as `__in`
        "boolean": ["__exact"],
        "number": ["__gte", "__lte"],
        "date": ["__gte", "__lte"],
        "datetime": ["__gte", "__lte"],
        "relation": ["__exact"],
        "text": ["__icontains"],
    }.get(field.kind, [])
    found = [field.name + suffix for suffix in names]
    if field.nullable or field.kind == "other":
        found.append(f"{field.relation or field.name}__isnull")
    return found


def chip_of(lookup: Lookup) -> Chip:
    field = lookup.filterable
    label = field.label if field.kind != "relation" else f"{field.label} #"
    if lookup.lookup == "isnull":
        empty = lookup.value.lower() in ("1", "true")
        return Chip(f"{field.label} is {'empty' if empty else 'not empty'}", lookup.parameter)
    value: Any = lookup.value
    if field.kind == "enum":
        labels = dict(field.choices)
        value = ", ".join(labels.get(v.strip(), v) for v in lookup.value.split(","))
    elif field.kind == "boolean":
        value = "yes" if lookup.value.lower() in ("1", "true") else "no"
    says = SAYS.get(lookup.lookup, lookup.lookup)
    if field.kind == "number":
        says = NUMBER_SAYS.get(lookup.lookup, says)
    return Chip(f"{label} {says} {value}", lookup.parameter)


class FilterForms(ListFragments):
    """The admin's `/<model>/filters` fragment: a list's filter form, fetched when its panel is
    first opened (templates/admin/filter_panel.html), for the list page's query string."""

    @route("/{key}/filters", methods=["GET"], name="filters")
    async def filter_form(self, request: Request) -> Response:
        view = self.listed_view(request)
        panel = view.filter_panel(request)
        return self.templates.TemplateResponse(
            request, "admin/filter_form.html", {"view": view, "panel": panel}
        )
