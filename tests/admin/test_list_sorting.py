"""A list sorts on every indexed column, and on the others while its table is small; past that
it says the sort would read the whole table instead of hanging on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import inspect
from starlette.testclient import TestClient

from app.admin import model_view
from app.admin.model_view import AutoModelView, MapperDefaults
from app.main import create_app
from app.models import Customer, Order, Ticket
from tests.admin.test_list_lookups import ROW, fill
from tests.conftest import add_user, make_config, sign_in


@pytest.fixture
def shop(sqlite_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    add_user(sqlite_url, "admin")
    keys = fill(sqlite_url)
    with TestClient(create_app(make_config(sqlite_url)), base_url="https://testserver") as c:
        sign_in(c, "admin")
        yield c, keys


def test_a_small_table_sorts_on_a_column_without_an_index(
    shop: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = shop
    client.get("/admin/order/list")  # the list learns the table's size from its count
    page = client.get("/admin/order/list?sort=total__desc").text
    assert "data-sb-slow-sort" not in page
    assert ROW.findall(page) == [keys["feb"], keys["jan-end"], keys["feb-first"], keys["jan"]]


def test_a_large_table_says_a_sort_without_an_index_would_be_slow_and_keeps_the_default(
    shop: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, keys = shop
    monkeypatch.setattr(AutoModelView, "small_table_rows", 3)  # the shop has 4 orders
    client.get("/admin/order/list")
    page = client.get("/admin/order/list?sort=total__desc").text
    notice = " ".join(page[page.index("data-sb-slow-sort") :].split())
    assert notice.startswith("data-sb-slow-sort> Not sorted by total: without an index, sorting 4")
    assert ROW.findall(page) == [keys["feb"], keys["feb-first"], keys["jan-end"], keys["jan"]]
    # An indexed column sorts whatever the size.
    page = client.get("/admin/order/list?sort=created_at__asc").text
    assert "data-sb-slow-sort" not in page
    assert ROW.findall(page) == [keys["jan"], keys["jan-end"], keys["feb-first"], keys["feb"]]


def test_a_trigram_index_finds_text_inside_values_but_sorts_nothing() -> None:
    # Only B-tree indexes read values in order; the trigram ones serve search on PostgreSQL.
    customer, ticket = MapperDefaults(inspect(Customer)), MapperDefaults(inspect(Ticket))
    assert "city" not in customer.sortable()
    assert {"subject", "body"}.isdisjoint(ticket.sortable())
    # Nor does one make the city an order's customer is searched by.
    related = AutoModelView(Order).related_searches()
    assert [(key, str(label)) for key, rel in related for label in rel.labels] == [
        ("customer", "Customer.name"),
        ("customer", "Customer.email"),
    ]


def test_each_sort_gets_its_own_statement_and_only_so_many_are_kept(
    shop: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kept statements bind the page's window (app/admin/model_view.py _page_statement): a sort
    # read from a kept one must still be the sort asked for, and readers' sorts cannot grow
    # the kept ones without bound.
    client, keys = shop
    monkeypatch.setattr(model_view, "KEPT_LIST_STATEMENTS", 2)
    view = next(v for v in client.app.state.admin.model_views if v.key == "order")  # type: ignore[attr-defined]
    client.get("/admin/order/list")  # the list learns the table's size from its count
    by_total = [keys["feb"], keys["jan-end"], keys["feb-first"], keys["jan"]]
    for _ in range(2):
        for sort, expected in (("total__desc", by_total), ("total__asc", by_total[::-1])):
            page = client.get(f"/admin/order/list?sort={sort}").text
            assert ROW.findall(page) == expected
        assert ROW.findall(client.get("/admin/order/list?page=2&page_size=10").text) == []
        assert len(view._list_statements) <= 2
