"""The list and layout templates import their macros in the blocks that use them, and the
library's action macro without drawing the action menus its template draws
(app/admin/imported_macros.py): the same pages, less work."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from app.admin import site
from app.main import create_app
from tests.admin.test_model_views import fill_shop
from tests.conftest import add_user, make_config, sign_in

# A list, a sorted one, and one filtered by the library's filter expression (its filter bar).
PAGES = (
    "/admin/order/list",
    "/admin/tag/list?sort=name__desc",
    "/admin/audit/list?filter=action__eq=edit",
)
# What differs between two answers of one page anyway.
PER_ANSWER = re.compile(r'(nonce|name="csrftoken" value)="[^"]*"')


def pages(url: str) -> Iterator[str]:
    with TestClient(create_app(make_config(url)), base_url="https://testserver") as client:
        sign_in(client, "admin")
        for path in PAGES:
            answer = client.get(path)
            assert answer.status_code == 200
            yield PER_ANSWER.sub(r'\1=""', answer.text)


@pytest.fixture
def shop(sqlite_url: str) -> str:
    fill_shop(sqlite_url)
    add_user(sqlite_url, "admin")
    return sqlite_url


def test_a_list_page_is_the_same_with_the_macros_imported_where_used(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = list(pages(shop))
    monkeypatch.setattr(site, "import_macros_where_used", lambda env: None)
    assert list(pages(shop)) == edited
    orders, tags, audit = edited
    assert all('id="actions-dropdown"' in page for page in (orders, tags))  # the menus
    assert 'data-sa-hook="sort-link"' in orders  # the columns' headers
    assert 'id="active-filters"' in audit  # the filter expression's bar


def test_the_action_menus_are_not_drawn_by_the_import(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The menus' template filters the actions with `selectattr`: with the toolbar kept for the
    list's state, a page draws the menus no more."""
    app = create_app(make_config(shop))
    env = app.state.admin.templates.env
    selected: list[object] = []
    library_selectattr = env.filters["selectattr"]

    @functools.wraps(library_selectattr)  # as the library's: given the environment
    def counted(*args: object, **kwargs: object) -> object:
        selected.append(args)
        return library_selectattr(*args, **kwargs)

    monkeypatch.setitem(env.filters, "selectattr", counted)
    env.cache.clear()
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "admin")
        assert client.get("/admin/order/list").status_code == 200  # draws the toolbar
        selected.clear()
        assert client.get("/admin/order/list").status_code == 200
    assert selected == []
