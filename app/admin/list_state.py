"""What a saved view keeps of a list page's query string (docs/reference.md, "Saved views"): its
lookups, sort, search, visible columns and page size, checked as the list page reads them, so a
saved view always opens; and which saved query the page now shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request

from app.admin.lookups import read_lookups
from app.admin.model_view import AutoModelView
from app.errors import BadInput, BadQuery
from app.row_keys import is_storable_text
from app.typed_values import is_whole_number

# The longest query a view keeps (the column's length).
MOST_QUERY_CHARS = 2000
Pairs = list[tuple[str, str]]


def shown_state(params: Iterable[tuple[str, str]]) -> Pairs:
    """The parameters that decide what a list shows: not the page one is on, nor the page's own
    marks (`_default`, `_origin`), nor empty ones."""
    return [
        (name, value)
        for name, value in params
        if name != "page" and not name.startswith("_") and value != ""
    ]


def same_state(one: Iterable[tuple[str, str]], other: Iterable[tuple[str, str]]) -> bool:
    """Whether two queries show the same list: sorts in their order, the rest in any."""

    def key(pairs: Pairs) -> tuple[list[str], list[tuple[str, str]]]:
        sorts = [value for name, value in pairs if name == "sort"]
        return sorts, sorted((name, value) for name, value in pairs if name != "sort")

    return key(shown_state(one)) == key(shown_state(other))


def query_pairs(text: str) -> Pairs:
    return parse_qsl(text.lstrip("?"), keep_blank_values=True)


def spelled(pairs: Pairs) -> str:
    """A query as the list's own links spell it, commas left readable (`status__in=a,b`)."""
    return urlencode(pairs, safe=",")


def saved_query(view: AutoModelView, request: Request, text: str) -> str:
    """The list state `text` (a list page's query string) as a view saves it; a state the list
    page would refuse is refused here, naming the form's `query` field and the parameter."""
    if len(text) > MOST_QUERY_CHARS * 2:
        raise BadInput(f"query: at most {MOST_QUERY_CHARS:,} characters", field="query")
    pairs = query_pairs(text)
    for name, value in pairs:
        if not (is_storable_text(name) and is_storable_text(value)):
            raise BadInput("query: text without NUL bytes", field="query")
        if name == "filter":
            raise BadInput(
                "query: a filter= expression is not saved; filter by the fields instead",
                field="query",
            )
    kept = shown_state(pairs)
    if not kept:
        raise BadInput(
            "query: nothing to save; choose filters, a sort, a search or columns first",
            field="query",
        )
    try:
        read_lookups(kept, view.filterables(request), str(view.key))
        view.check_columns(request, QueryParams(kept))
        check_sorts(view, request, [value for name, value in kept if name == "sort"])
        check_page_size(view, [value for name, value in kept if name == "page_size"])
    except BadQuery as refused:
        raise BadInput(f"query: {refused.message}", field="query") from None
    saved = spelled(kept)
    if len(saved) > MOST_QUERY_CHARS:
        raise BadInput(f"query: at most {MOST_QUERY_CHARS:,} characters", field="query")
    return saved


def opens(view: AutoModelView, request: Request, query: str) -> bool:
    """Whether the list page would show a stored query rather than refuse it (the user's fields
    or the model may have changed since it was saved)."""
    try:
        saved_query(view, request, query)
    except BadInput:
        return False
    return True


def check_sorts(view: AutoModelView, request: Request, sorts: list[str]) -> None:
    sortable = view.sortable_columns(request)
    for text in sorts:
        name, _, way = text.rpartition("__")
        if name not in sortable or way not in ("asc", "desc"):
            raise BadQuery(
                f"sort: field__asc or field__desc, the field one of {', '.join(sortable)}",
                field="sort",
            )


def check_page_size(view: AutoModelView, sizes: list[str]) -> None:
    allowed = sorted({*view.page_size_options, view.page_size})
    for text in sizes:
        if not (is_whole_number(text, 9) and int(text) in allowed):
            raise BadQuery(
                f"page_size: one of {', '.join(str(n) for n in allowed)}", field="page_size"
            )
