"""A list drills down by its main date column, year → month → day, with counts per bucket that
honour the other filters; the list page links its fragment and keeps its statement budget."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import inspect
from starlette.testclient import TestClient

from app.admin.date_drilldown import main_date_column
from app.main import create_app
from app.models import Customer, Order, Product, Ticket
from tests.admin.test_list_lookups import fill
from tests.admin.test_model_views import run_sql
from tests.conftest import add_user, make_config, sign_in

BUCKET = re.compile(
    r'href="([^"]+)"\s+data-sb-bucket="([^"]+)">[^<]*<span[^>]*data-sb-bucket-count>([^<]+)<'
)


@contextmanager
def signed_in_shop(url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    add_user(url, "admin")
    keys = fill(url)
    with TestClient(create_app(make_config(url)), base_url="https://testserver") as c:
        sign_in(c, "admin")
        yield c, keys


@pytest.fixture
def shop(database_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A shop of the test's own, for tests that change its orders behind the app's back."""
    with signed_in_shop(database_url) as shop:
        yield shop


@pytest.fixture(scope="module")
def shared_shop(module_database_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """One shop per backend for the tests that only read its buckets."""
    with signed_in_shop(module_database_url) as shop:
        yield shop


def buckets(client: TestClient, query: str) -> list[tuple[str, str, str]]:
    response = client.get(f"/admin/order/dates?{query}")
    assert response.status_code == 200, response.text[-300:]
    return [
        (label, count, href.replace("&amp;", "&"))
        for href, label, count in BUCKET.findall(response.text)
    ]


def test_each_list_drills_down_by_its_first_indexed_date_column() -> None:
    for model in (Order, Product, Ticket, Customer):
        column = main_date_column(inspect(model))
        assert column is not None and column.key == "created_at", model


def test_years_months_and_days_are_counted_and_linked_as_lookup_ranges(
    shared_shop: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = shared_shop
    assert buckets(client, "") == [
        (
            "2026",
            "4",
            "https://testserver/admin/order/list?created_at__gte=2026-01-01&created_at__lt=2027-01-01",
        )
    ]
    months = buckets(client, "created_at__gte=2026-01-01&created_at__lt=2027-01-01&sort=id__asc")
    assert [(label, count) for label, count, _ in months] == [("Jan", "2"), ("Feb", "2")]
    assert months[1][2] == (
        "https://testserver/admin/order/list?sort=id__asc"
        "&created_at__gte=2026-02-01&created_at__lt=2026-03-01"
    )
    days = buckets(client, "created_at__gte=2026-02-01&created_at__lt=2026-03-01")
    assert [(label, count) for label, count, _ in days] == [("1", "1"), ("15", "1")]


def test_the_counts_honour_the_other_filters_and_the_search(
    shared_shop: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = shared_shop
    query = "created_at__gte=2026-01-01&created_at__lt=2027-01-01&status__in=paid,pending"
    assert [(label, count) for label, count, _ in buckets(client, query)] == [
        ("Jan", "1"),
        ("Feb", "1"),
    ]
    assert [(label, count) for label, count, _ in buckets(client, f"q={keys['feb']}")] == [
        ("2026", "1")
    ]


def test_the_list_page_loads_its_drill_down_after_itself(
    shared_shop: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = shared_shop
    page = client.get("/admin/order/list?status__exact=paid").text
    assert 'hx-get="/admin/order/dates?status__exact=paid"' in page  # a path, as every link
    assert client.get("/admin/order/dates?status__exact=lost").status_code == 400


def test_a_range_that_is_no_year_month_or_day_shows_the_years_within_it(
    shared_shop: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = shared_shop
    query = "created_at__gte=2026-01-15&created_at__lt=2026-02-10"
    assert [(label, count) for label, count, _ in buckets(client, query)] == [("2026", "2")]


def counts(client: TestClient, query: str) -> list[tuple[str, str]]:
    return [(label, count) for label, count, _ in buckets(client, query)]


def test_order_counts_unfiltered_or_by_status_are_read_from_the_order_summary(
    shop: tuple[TestClient, dict[str, str]], database_url: str
) -> None:
    client, keys = shop
    run_sql(database_url, "DELETE FROM order_hour")  # behind the triggers' back
    assert counts(client, "") == []
    assert counts(client, "created_at__gte=2026-01-01&created_at__lt=2027-01-01") == []
    assert counts(client, "status__in=paid,pending") == []
    # A filter the summary cannot answer (a customer) counts the orders themselves.
    assert counts(client, f"customer__id__exact={keys['bob']}") == [("2026", "2")]


def test_deleted_and_changed_orders_leave_their_buckets(
    shop: tuple[TestClient, dict[str, str]], database_url: str
) -> None:
    client, keys = shop
    run_sql(
        database_url,
        f"DELETE FROM orders WHERE id = {keys['feb']}",
        f"UPDATE orders SET status = 'cancelled' WHERE id = {keys['jan']}",
    )
    year = "created_at__gte=2026-01-01&created_at__lt=2027-01-01"
    assert counts(client, year) == [("Jan", "2"), ("Feb", "1")]
    # The 15th's only order is gone: no bucket at zero.
    assert counts(client, "created_at__gte=2026-02-01&created_at__lt=2026-03-01") == [("1", "1")]
    assert counts(client, f"{year}&status__exact=paid") == []
    assert counts(client, f"{year}&status__exact=cancelled") == [("Jan", "1")]
