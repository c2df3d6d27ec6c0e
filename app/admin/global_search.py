"""Global search (`/admin/search?q=…`, the header's box and Ctrl-K): every model the user may
view, searched by its list's own search, up to 5 matches of each (docs/reference.md,
"Global search")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette_admin.routing import route
from starlette_admin.views import CustomView

from app.admin.library import admin_page
from app.admin.model_view import AutoModelView
from app.errors import BadQuery
from app.row_keys import is_storable_text

PER_MODEL = 5  # a glance per model; "all N" links to the model's searched list
SHORTEST = 2  # one character matches nearly every row of every table
LONGEST = 100


@dataclass(frozen=True)
class Hit:
    label: str
    url: str


@dataclass(frozen=True)
class Found:
    """Up to PER_MODEL of one model's matches, and where its whole searched list is."""

    model: str
    hits: list[Hit]
    more_url: str
    more: bool


def search_term(request: Request) -> str:
    """The `q` parameter, trimmed; refused (400) past its length. Empty or too short: no search."""
    term = request.query_params.get("q", "").strip()
    if len(term) > LONGEST:
        raise BadQuery(f"q: at most {LONGEST} characters", field="q")
    if not is_storable_text(term):  # as the lists refuse it (PostgreSQL fails on a NUL)
        raise BadQuery("q: text without NUL bytes", field="q")
    return term


async def search_models(request: Request, views: Sequence[AutoModelView], term: str) -> list[Found]:
    """One statement per model the user may view and search; models with no match left out."""
    session: AsyncSession = request.state.session
    admin_name = request.app.state.ROUTE_NAME
    found = []
    for view in views:
        if not view.searchable_fields or not view.is_accessible(request):
            continue
        # No ORDER BY: sorting by key makes the planner walk the whole big table in key order
        # testing each row, where without it the matches come from the indexes (bench search).
        stmt, params = view.search_glance(request, term, PER_MODEL + 1)  # one more: any more?
        rows = (await session.execute(stmt, params)).scalars().all()
        if not rows:
            continue
        detail = request.url_for(f"{admin_name}:detail", key=view.key)
        hits = [
            Hit(
                await view.repr(row, request),
                str(detail.include_query_params(pk=await view.get_pk_value(request, row))),
            )
            for row in rows[:PER_MODEL]
        ]
        listing = request.url_for(f"{admin_name}:list", key=view.key)
        found.append(
            Found(
                str(view.menu_label or view.display_name),
                hits,
                str(listing.include_query_params(q=term)),
                len(rows) > PER_MODEL,
            )
        )
    return found


class GlobalSearch(CustomView):
    """The search page, and the header's live results as a fragment (`?results=1`)."""

    path = "/search"
    route_name = "search"
    menu_label = "Search"
    icon = "fa-solid fa-magnifying-glass"
    add_to_menu = False  # the box in the header leads here

    def __init__(self, views: Sequence[AutoModelView]) -> None:
        super().__init__()
        self.views = views

    @route("")
    async def index(self, request: Request) -> Response:
        term = search_term(request)
        found = await search_models(request, self.views, term) if len(term) >= SHORTEST else []
        context: dict[str, Any] = {
            "title": "Search",
            "term": term,
            "found": found,
            "too_short": 0 < len(term) < SHORTEST,
            "shortest": SHORTEST,
        }
        if request.query_params.get("results") == "1":
            # Not the admin's page response, which would consume pending flash messages.
            assert self.templates is not None, "set by the admin when the view is registered"
            return self.templates.TemplateResponse(request, "search/results.html", context)
        return admin_page(self, request, "search/page.html", context)
