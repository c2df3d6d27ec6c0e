"""List pages filtered by Django-style lookups in the query string, on SQLite and PostgreSQL:
each lookup picks the right rows, they combine, search, sort and paging keep them, the export
exports what they show, and a bad one is a 400 naming the parameter."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from decimal import Decimal

import anyio
import pytest
from sqlalchemy import Column, Float, Numeric
from starlette.testclient import TestClient

from app.admin.lookups import Filterable, read_lookups
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import Category, Customer, Order, OrderStatus, Product, Ticket
from app.models.shop import TicketPriority, TicketStatus
from tests.conftest import add_user, csrf_token, make_config, sign_in

ROW = re.compile(r'<tr data-sa-pk="([^"]+)"')


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


# Orders by name: customer, status, total, created_at, shipped_at.
ORDERS = {
    "jan": ("ann", OrderStatus.PAID, "50.00", at("2026-01-10"), None),
    "jan-end": ("ann", OrderStatus.SHIPPED, "150.00", at("2026-01-31", 23), at("2026-02-01")),
    "feb-first": ("bob", OrderStatus.PENDING, "100.00", at("2026-02-01", 0), None),
    "feb": ("bob", OrderStatus.DELIVERED, "250.50", at("2026-02-15"), at("2026-02-10")),
}


def fill(url: str) -> dict[str, str]:
    """The shop above; each row's key by its name."""

    async def work() -> dict[str, str]:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                people = {n: Customer(name=n, email=f"{n}@example.com") for n in ("ann", "bob")}
                orders = {
                    name: Order(
                        customer=people[who],
                        status=status,
                        total=Decimal(total),
                        created_at=created,
                        shipped_at=shipped,
                    )
                    for name, (who, status, total, created, shipped) in ORDERS.items()
                }
                products = {
                    "lamp": Product(
                        sku="LAMP",
                        name="Lamp",
                        category=Category.ELECTRONICS,
                        price=Decimal("10.00"),
                        stock=0,
                        available_from=dt.date(2026, 3, 1),
                    ),
                    "novel": Product(
                        sku="NOVEL",
                        name="Novel",
                        category=Category.BOOKS,
                        price=Decimal("20.50"),
                        stock=5,
                    ),
                }
                tickets = {
                    "loud": Ticket(
                        customer=people["ann"],
                        order=orders["jan"],
                        subject="Where is it?",
                        priority=TicketPriority.HIGH,
                        status=TicketStatus.OPEN,
                    ),
                    "quiet": Ticket(
                        customer=people["bob"],
                        subject="Thanks",
                        priority=TicketPriority.LOW,
                        status=TicketStatus.CLOSED,
                    ),
                }
                session.add_all([*orders.values(), *products.values(), *tickets.values()])
                await session.flush()
                rows = {**people, **orders, **products, **tickets}
                return {name: str(row.id) for name, row in rows.items()}
        finally:
            await engine.dispose()

    return anyio.run(work)


@pytest.fixture(scope="module")
def shop(module_database_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """One shop per backend for the module: no test here changes a row."""
    url = module_database_url
    add_user(url, "admin")
    keys = fill(url)
    with TestClient(create_app(make_config(url)), base_url="https://testserver") as c:
        sign_in(c, "admin")
        yield c, keys


def listed(client: TestClient, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, response.text[-400:]
    return ROW.findall(response.text)


def names(keys: dict[str, str], *wanted: str) -> set[str]:
    return {keys[name] for name in wanted}


CASES = [
    ("order", "status__exact=paid", {"jan"}),
    ("order", "status__in=paid,shipped", {"jan", "jan-end"}),
    ("order", "status__in=paid&status__in=shipped", {"jan", "jan-end"}),
    ("order", "created_at__gte=2026-02-01", {"feb-first", "feb"}),
    ("order", "created_at__lt=2026-02-01", {"jan", "jan-end"}),
    ("order", "created_at__exact=2026-01-31", {"jan-end"}),
    ("order", "created_at__lte=2026-01-31", {"jan", "jan-end"}),
    ("order", "created_at__gt=2026-01-31", {"feb-first", "feb"}),
    ("order", "created_at__gte=2026-01-31T23:30:00", {"feb-first", "feb"}),
    # The calendar's first and last days: the last has no next day to end at.
    ("order", "created_at__gte=0001-01-01", {"jan", "jan-end", "feb-first", "feb"}),
    ("order", "created_at__exact=9999-12-31", set()),
    ("order", "created_at__gt=9999-12-31", set()),
    ("order", "created_at__gte=9999-12-31", set()),
    ("order", "created_at__lte=9999-12-31", {"jan", "jan-end", "feb-first", "feb"}),
    ("order", "created_at__lt=9999-12-31", {"jan", "jan-end", "feb-first", "feb"}),
    ("order", "total__gte=100", {"jan-end", "feb-first", "feb"}),
    ("order", "total__gt=100&total__lte=250.50", {"jan-end", "feb"}),
    ("order", "total__exact=250.5", {"feb"}),
    ("order", "shipped_at__isnull=1", {"jan", "feb-first"}),
    ("order", "shipped_at__isnull=false", {"jan-end", "feb"}),
    ("order", "status__in=paid,pending,delivered&created_at__gte=2026-02-01", {"feb-first", "feb"}),
    ("product", "category__exact=books", {"novel"}),
    ("product", "price__lt=15", {"lamp"}),
    ("product", "stock__exact=0", {"lamp"}),
    ("product", "available_from__gte=2026-02-01", {"lamp"}),
    ("product", "available_from__isnull=1", {"novel"}),
    ("product", "name__icontains=NOV", {"novel"}),
    ("product", "sku__exact=LAMP", {"lamp"}),
    ("ticket", "priority__in=high,urgent", {"loud"}),
    ("ticket", "status__exact=closed", {"quiet"}),
    ("ticket", "order__isnull=1", {"quiet"}),
    ("ticket", "subject__contains=Where", {"loud"}),
]


@pytest.mark.parametrize(("key", "query", "wanted"), CASES)
def test_each_lookup_lists_exactly_the_matching_rows(
    shop: tuple[TestClient, dict[str, str]], key: str, query: str, wanted: set[str]
) -> None:
    client, keys = shop
    assert set(listed(client, f"/admin/{key}/list?{query}")) == names(keys, *wanted)


def test_a_to_one_relation_is_filtered_by_its_key(
    shop: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = shop
    ann, bob = keys["ann"], keys["bob"]
    assert set(listed(client, f"/admin/order/list?customer__id__exact={ann}")) == names(
        keys, "jan", "jan-end"
    )
    assert set(listed(client, f"/admin/ticket/list?customer__id__in={ann},{bob}")) == names(
        keys, "loud", "quiet"
    )
    assert set(listed(client, f"/admin/ticket/list?order__id__exact={keys['jan']}")) == names(
        keys, "loud"
    )


def test_users_are_filtered_by_a_boolean(shop: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = shop
    assert len(listed(client, "/admin/user/list?is_active__exact=1")) == 1
    assert listed(client, "/admin/user/list?is_active__exact=0") == []
    assert len(listed(client, "/admin/user/list?is_superuser__exact=true")) == 1


def test_search_sort_and_paging_keep_the_filters(
    shop: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = shop
    base = "/admin/order/list?status__in=paid,shipped,pending&page_size=10"
    assert listed(client, f"{base}&sort=id__desc") == [
        keys["feb-first"],
        keys["jan-end"],
        keys["jan"],
    ]
    page = client.get(f"{base}&sort=id__desc").text
    # The search form sends the filters on with the search text.
    assert '<input type="hidden" name="status__in" value="paid,shipped,pending"' in page
    # Links to other pages, sizes and sorts carry them too.
    assert "status__in=paid%2Cshipped%2Cpending" in page
    assert listed(client, f"{base}&q={keys['jan']}") == [keys["jan"]]


def test_a_filtered_count_says_how_many_rows_match(
    shop: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = shop
    page = client.get("/admin/order/list?total__gte=100").text
    assert "of 3 entries" in " ".join(page.split())


@pytest.mark.parametrize(
    ("query", "parameter", "accepted"),
    [
        ("nosuch__exact=1", "nosuch__exact", "filterable: "),
        ("status__gte=paid", "status__gte", "lookups on status are exact, in, isnull"),
        ("status__exact=lost", "status__exact", "one of pending, paid"),
        ("status__in=paid,,shipped", "status__in", "comma-separated values"),
        ("created_at__gte=yesterday", "created_at__gte", "a date (YYYY-MM-DD)"),
        ("created_at__gte=2026-02-30", "created_at__gte", "a date as YYYY-MM-DD"),
        ("created_at__gte=20260101", "created_at__gte", "a date (YYYY-MM-DD)"),
        ("created_at__lt=2026-01-01T10:00%2B01:00:30", "created_at__lt", "a date (YYYY-MM-DD)"),
        ("total__gte=lots", "total__gte", "a number such as 100"),
        ("total__gte=%D9%A3", "total__gte", "a number such as 100"),  # Arabic-Indic 3
        ("id__exact=%D9%A3", "id__exact", "a whole number"),
        ("total__gte=1e999", "total__gte", "a number such as 100"),
        ("id__exact=99999999999999999999", "id__exact", "a whole number"),
        ("customer__id__exact=ann", "customer__id__exact", "a whole number"),
        ("shipped_at__isnull=maybe", "shipped_at__isnull", "1, 0, true or false"),
        ("customer_id__exact=1", "customer_id__exact", "filterable: "),
    ],
)
def test_a_bad_lookup_is_a_400_naming_the_parameter(
    shop: tuple[TestClient, dict[str, str]], query: str, parameter: str, accepted: str
) -> None:
    client, _ = shop
    response = client.get(f"/admin/order/list?{query}")
    assert response.status_code == 400
    assert parameter in response.text
    assert accepted in response.text


def test_a_secret_column_is_not_filterable(shop: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = shop
    response = client.get("/admin/user/list?password_hash__contains=a")
    assert response.status_code == 400
    assert "password_hash__contains" in response.text


@pytest.mark.parametrize(("scope", "every_page"), [("page", None), ("all", "1")])
def test_the_export_exports_what_the_filters_show(
    shop: tuple[TestClient, dict[str, str]], scope: str, every_page: str | None
) -> None:
    client, keys = shop
    # As the Export button sends it: the list page's own query string rides along.
    list_query = "?status__in=paid,shipped&total__gte=100"
    token = csrf_token(client.get(f"/admin/order/list{list_query}").text)
    params = {"name": "export", "_list_query": list_query}
    if every_page:
        params["all"] = every_page
    exported = client.post(
        "/admin/_api/order/action",
        params=params,
        data={"csrftoken": token, "format": "csv", "scope": scope},
        headers={"X-CSRFToken": token},
    )
    assert exported.status_code == 200, exported.text[-400:]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["Id"] for row in rows] == [keys["jan-end"]]


def test_the_filter_panel_shows_a_chip_per_lookup_and_keeps_what_it_has_no_control_for(
    shop: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = shop
    page = client.get(
        "/admin/order/list?status__in=paid,shipped&total__gt=100&shipped_at__isnull=1&q=x"
    ).text
    chips = re.findall(r'data-sb-chip="([^"]+)"[^>]*>([^<]+)<', page)
    assert [(name, " ".join(text.split())) for name, text in chips] == [
        ("status__in", "Status is one of Paid, Shipped"),
        ("total__gt", "Total &gt; 100"),  # escaped in the page
        ("shipped_at__isnull", "Shipped at is empty"),
    ]
    # The form comes as the panel is opened, filled in from the list's address.
    assert "data-sb-filter-form>" not in page
    (url,) = re.findall(r'hx-get="(/admin/order/filters[^"]*)"', page)
    form = client.get(url.replace("&amp;", "&")).text
    form = form[: form.index("</form>")]
    assert '<input type="hidden" name="total__gt" value="100">' in form
    assert '<input type="hidden" name="q" value="x">' in form
    assert 'name="status__in" value' not in form  # the multi-select sets it
    assert '<option value="paid" selected>Paid</option>' in form


def test_an_unfiltered_lists_panel_fetches_its_form_when_opened_with_the_lists_query(
    shop: tuple[TestClient, dict[str, str]],
) -> None:
    """The form (a control per column, a choice per status) is not in the page until the panel
    is opened: the fragment comes for the list's own query string, which it keeps."""
    client, _ = shop
    page = client.get("/admin/order/list?q=x&sort=total__desc").text
    assert "data-sb-filter-form>" not in page
    (url,) = re.findall(r'hx-get="(/admin/order/filters[^"]*)"', page)
    assert url == "/admin/order/filters?q=x&amp;sort=total__desc"
    form = client.get(url.replace("&amp;", "&"))
    assert form.status_code == 200
    assert form.text.lstrip().startswith("<form") and "data-sb-filter-form" in form.text
    assert '<input type="hidden" name="q" value="x">' in form.text
    assert '<input type="hidden" name="sort" value="total__desc">' in form.text
    assert '<option value="paid" >Paid</option>' in form.text


def test_the_filter_form_of_an_unknown_or_unreadable_model_is_refused(
    sqlite_url: str, shop: tuple[TestClient, dict[str, str]]
) -> None:
    client, _ = shop
    assert client.get("/admin/planet/filters").status_code == 404
    assert client.get("/admin/order/filters?total__gt=lots").status_code == 400
    add_user(sqlite_url, "nobody", superuser=False)
    with TestClient(create_app(make_config(sqlite_url)), base_url="https://testserver") as other:
        sign_in(other, "nobody")
        assert other.get("/admin/order/filters").status_code == 403


def test_a_float_column_is_compared_with_a_float_and_a_decimal_one_with_a_decimal() -> None:
    ratio = Column("ratio", Float())
    price = Column("price", Numeric(10, 2))
    fields = {
        "ratio": Filterable("ratio", "Ratio", "number", ratio),
        "price": Filterable("price", "Price", "number", price),
    }
    found = read_lookups([("ratio__gte", "0.5"), ("price__lt", "9.99")], fields, "thing")
    values = [lookup.clause.right.value for lookup in found]  # type: ignore[attr-defined]
    assert values == [0.5, Decimal("9.99")]
    assert [type(value) for value in values] == [float, Decimal]


def test_lookups_read_again_list_the_same_rows_and_a_different_value_its_own(
    shop: tuple[TestClient, dict[str, str]],
) -> None:
    # A filter's lookups and statement are kept once read (app/admin/model_view.py): asking
    # again must list the same rows, and the same lookup with another value its own rows.
    client, keys = shop
    for _ in range(2):
        for query, wanted in (
            ("status__exact=paid", {"jan"}),
            ("status__exact=shipped", {"jan-end"}),
            ("status__exact=paid&q=ann", {"jan"}),
            ("status__exact=paid&q=bob", set()),
            ("created_at__gte=2026-02-01", {"feb-first", "feb"}),
            ("created_at__gte=2026-01-31", {"jan-end", "feb-first", "feb"}),
        ):
            assert set(listed(client, f"/admin/order/list?{query}")) == names(keys, *wanted)
    assert client.get("/admin/order/list?status__exact=bogus").status_code == 400
    assert client.get("/admin/order/list?status__exact=bogus").status_code == 400


@pytest.mark.parametrize("lookup", ["exact", "gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("part", ["list", "dates", "filters"])
def test_the_calendars_last_day_is_a_day_like_any_other_on_every_part_of_a_list(
    shop: tuple[TestClient, dict[str, str]], part: str, lookup: str
) -> None:
    client, _ = shop
    response = client.get(f"/admin/order/{part}?created_at__{lookup}=9999-12-31")
    assert response.status_code == 200, response.text[-400:]
