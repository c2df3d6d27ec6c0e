"""Every mapped model gets admin pages whose defaults come from its mapper."""

from __future__ import annotations

import re
from collections.abc import Iterator

import anyio
import pytest
from sqlalchemy import event, func, select, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.admin.model_view import AutoModelView
from app.admin.site import NO_PAGES, OWN_PAGES, load_view_overrides
from app.db import Base, create_engine, create_session_factory
from app.main import create_app
from app.models import Customer, Order, Product
from tests import factories
from tests.conftest import (
    SignedIn,
    add_user,
    csrf_token,
    make_config,
    migrated_url,
    sign_in,
)


def model_views() -> dict[str, AutoModelView]:
    load_view_overrides()
    mappers = [m for m in Base.registry.mappers if m.class_ not in OWN_PAGES | NO_PAGES]
    views = (AutoModelView.view_class_for(m.class_)(m.class_) for m in mappers)
    return {str(view.key): view for view in views}


VIEWS = model_views()
MODEL_KEYS = sorted(VIEWS)
# Written by the app, never by hand (audit entries, notifications, customer statistics).
READ_ONLY = {key for key, view in VIEWS.items() if view.written_by_the_app}


def fill_shop(url: str, **sizes: int) -> None:
    async def work() -> None:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                await factories.shop(session, **sizes)
        finally:
            await engine.dispose()

    anyio.run(work)


def scalar(url: str, statement: object) -> object:
    async def work() -> object:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return (await connection.execute(statement)).scalar_one()  # type: ignore[call-overload]
        finally:
            await engine.dispose()

    return anyio.run(work)


async def _first_row(url: str, statement: object) -> tuple[object, ...]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return tuple((await connection.execute(statement)).one())  # type: ignore[call-overload]
    finally:
        await engine.dispose()


def _row_texts(html: str) -> list[tuple[int, str]]:
    rows = re.findall(r'<tr data-sa-pk="(\d+)"(.*?)</tr>', html, flags=re.S)
    return [(int(pk), body) for pk, body in rows]


@pytest.fixture(scope="module")
def shop_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One filled shop for the module's tests that only read it (or are refused)."""
    url = migrated_url(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('shop') / 'shop.db'}")
    add_user(url, "admin")
    fill_shop(url)
    return url


@pytest.fixture(scope="module")
def shop_client(shop_url: str) -> Iterator[TestClient]:
    """The admin signed in on `shop_url`'s app, shared like the shop itself."""
    with TestClient(create_app(make_config(shop_url)), base_url="https://testserver") as client:
        sign_in(client, "admin")
        yield client


def row_pks(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-sa-pk="(\d+)"', html)]


def column_headers(html: str) -> list[str]:
    return re.findall(r'<th scope="col" data-column="([^"]+)"', html)


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_every_model_has_list_create_and_detail_pages(
    shop_client: TestClient, shop_url: str, key: str
) -> None:
    counted = scalar(shop_url, select(func.count()).select_from(VIEWS[key].model))
    stored = int(counted)  # type: ignore[call-overload]
    listing = shop_client.get(f"/admin/{key}/list")
    assert listing.status_code == 200
    listed = row_pks(listing.text)
    assert len(listed) == stored  # every stored row, all on the first page
    footer = " ".join(listing.text.split())
    assert (f"Showing 1 to {stored} of {stored} entries" if stored else "No entries") in footer
    if listed:
        detail = shop_client.get(f"/admin/{key}/detail", params={"pk": listed[0]})
        assert detail.status_code == 200
        shown = " ".join(re.sub(r"<[^>]+>", " ", detail.text).split())
        assert f"#{listed[0]} " in shown
        assert "Attribute Value Id " in shown  # the row's own fields, not an error page
    create = shop_client.get(f"/admin/{key}/create")
    form_action = f'action="https://testserver/admin/{key}/create"'
    if key in READ_ONLY:
        assert create.status_code == 403
        assert form_action not in create.text
    else:
        assert create.status_code == 200
        assert form_action in create.text
        assert csrf_token(create.text)


def test_lists_show_scalar_columns_and_to_one_relations_never_to_many(
    shop_client: TestClient,
) -> None:
    assert column_headers(shop_client.get("/admin/customer/list").text) == [
        "id",
        "name",
        "email",
        "city",
        "created_at",
    ]
    order_columns = column_headers(shop_client.get("/admin/order/list").text)
    assert "customer" in order_columns
    assert "items" not in order_columns
    assert "tags" not in column_headers(shop_client.get("/admin/product/list").text)


def test_objects_are_labelled_by_their_str(shop_client: TestClient, shop_url: str) -> None:
    email = scalar(shop_url, select(Customer.email).limit(1))
    html = shop_client.get("/admin/order/list").text
    assert f"&lt;{email}&gt;" in html  # "Name <email>" from Customer.__str__, escaped


def test_forms_use_widgets_that_fit_the_column_types(shop_client: TestClient) -> None:
    product_form = shop_client.get("/admin/product/create").text
    assert re.search(r'<select[^>]*name="category"[^>]*class="field-enum', product_form)
    assert re.search(r'name="price"[^>]*class="field-decimal[^>]*type="number"', product_form)
    assert re.search(r'name="available_from"[^>]*type="date"', product_form)
    assert re.search(r'name="specs"', product_form)  # JSON editor's field
    # Many-to-many on the form, through the searchable relation lookup.
    assert re.search(
        r'name="tags"[^>]*\s+class="[^"]*"\s+data-url="[^"]*/tag/relation-lookup', product_form
    )
    order_form = shop_client.get("/admin/order/create").text
    assert re.search(
        r'name="customer"[^>]*\s+class="[^"]*"\s+data-url="[^"]*/customer/relation-lookup',
        order_form,
    )
    assert re.search(r'name="shipped_at"[^>]*type="datetime-local"', order_form)
    # One-to-many collections are edited from the other side, never on this form.
    assert 'name="items"' not in order_form
    assert 'name="orders"' not in shop_client.get("/admin/customer/create").text


def test_secret_columns_are_never_shown_or_exported(shop_client: TestClient) -> None:
    listing = shop_client.get("/admin/user/list").text
    assert "password" not in column_headers(listing)
    assert "$argon2" not in listing
    detail = shop_client.get("/admin/user/detail?pk=1").text
    assert "$argon2" not in detail
    assert "password_hash" not in detail
    for page in ("create", "edit?pk=1"):
        assert 'name="password_hash"' not in shop_client.get(f"/admin/user/{page}").text
    token = csrf_token(listing)
    for exporter in ("csv", "json"):
        exported = shop_client.post(
            "/admin/_api/user/action?name=export",
            data={"csrftoken": token, "format": exporter, "scope": "page"},
            headers={"X-CSRFToken": token},
        )
        assert exported.status_code == 200, exported.text[:300]
        assert "admin" in exported.text
        assert "$argon2" not in exported.text
        assert "password" not in exported.text


def test_sorting_is_offered_on_every_column_and_on_indexed_ones_whatever_the_size() -> None:
    view = AutoModelView(Order)
    assert set(view.sortable_fields or []) == {"id", "status", "total", "shipped_at", "created_at"}
    assert view._defaults.sortable() == ["id", "status", "created_at"]  # indexed: always sorted
    assert view.fields_default_sort == [("id", True)]  # newest first


def test_a_subclass_in_app_admin_replaces_the_default_view(shop_client: TestClient) -> None:
    assert AutoModelView.view_class_for(Product).__module__ == "app.admin.shop"
    columns = column_headers(shop_client.get("/admin/product/list").text)
    assert "description" not in columns
    assert "specs" not in columns
    assert "description" in column_headers(shop_client.get("/admin/ticket/list").text) or (
        "subject" in column_headers(shop_client.get("/admin/ticket/list").text)
    )


def test_search_finds_orders_by_their_customers_email(
    shop_client: TestClient, shop_url: str
) -> None:
    buyer = select(Customer.id, Customer.email).order_by(Customer.id.desc()).limit(1)
    customer_id, email = anyio.run(_first_row, shop_url, buyer)
    theirs = select(func.group_concat(Order.id)).where(Order.customer_id == customer_id)
    expected = sorted(int(pk) for pk in str(scalar(shop_url, theirs)).split(","))
    html = shop_client.get("/admin/order/list", params={"q": email}).text
    assert sorted(row_pks(html)) == expected
    count = len(expected)
    assert f"Showing 1 to {count} of {count} entries" in " ".join(html.split())


def test_an_orders_customer_is_searched_only_for_readers_who_may_view_customers(
    sqlite_url: str, app: Starlette, signed_in: SignedIn
) -> None:
    fill_shop(sqlite_url, customers=2, orders_each=2)
    email = str(scalar(sqlite_url, select(Customer.email).order_by(Customer.id).limit(1)))
    add_user(sqlite_url, "clerk", superuser=False, permissions=["order:view"])
    add_user(sqlite_url, "manager", superuser=False, permissions=["order:view", "customer:view"])
    found = {
        name: row_pks(signed_in(app, name).get("/admin/order/list", params={"q": email}).text)
        for name in ("clerk", "manager")
    }
    # Else a clerk could learn who buys what by trying e-mails in the orders' search box.
    assert found["clerk"] == []
    assert len(found["manager"]) == 2
    glance = signed_in(app, "clerk").get("/admin/search", params={"q": email})
    assert glance.status_code == 200 and "/admin/order/detail" not in glance.text


def test_search_treats_like_wildcards_literally(shop_client: TestClient) -> None:
    html = shop_client.get("/admin/customer/list", params={"q": "%"}).text
    assert "No entries" in html


def test_search_by_number_finds_the_row_with_that_id(shop_client: TestClient) -> None:
    html = shop_client.get("/admin/order/list", params={"q": "2", "page_size": "100"}).text
    assert 2 in row_pks(html)
    # Other rows match through their customer's e-mail, which contains the digit too.
    assert all(pk == 2 or "2" in text for pk, text in _row_texts(html))


def test_big_lists_stop_counting_and_say_so(
    sqlite_url: str, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_shop(sqlite_url, customers=4, orders_each=5)  # 20 orders
    add_user(sqlite_url, "admin")
    monkeypatch.setattr(AutoModelView, "exact_count_limit", 12)
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "admin")
        whole = " ".join(client.get("/admin/order/list", params={"page_size": "10"}).text.split())
        assert "of about 20 entries (estimated)" in whole
        assert ">Last<" not in whole  # no promise of a last page we have not counted
        searched = " ".join(
            client.get(
                "/admin/order/list", params={"q": "example.com", "page_size": "10"}
            ).text.split()
        )
        assert "at least 12 entries (not counted further)" in searched
        # The next page stays reachable past the cap.
        last = " ".join(
            client.get("/admin/order/list", params={"page": "2", "page_size": "10"}).text.split()
        )
        assert "Showing 11 to 20" in last
        small = " ".join(client.get("/admin/customer/list").text.split())
        assert "of 4 entries" in small


def test_a_list_known_to_be_far_past_the_cap_learns_its_count_from_its_own_page(
    sqlite_url: str, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_shop(sqlite_url, customers=5, orders_each=10)  # 50 orders
    add_user(sqlite_url, "admin")
    monkeypatch.setattr(AutoModelView, "exact_count_limit", 15)
    limits: list[tuple[object, ...]] = []
    pages: list[tuple[str, tuple[object, ...]]] = []

    def record(
        _conn: object, _cursor: object, statement: str, parameters: object, *_: object
    ) -> None:
        if "count(" in statement.lower():
            limits.append(tuple(parameters))  # type: ignore[call-overload]
        elif "FROM orders" in statement:
            pages.append((statement, tuple(parameters)))  # type: ignore[call-overload]

    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "admin")
        event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
        try:
            shown = [
                " ".join(client.get("/admin/order/list", params={"page_size": "10"}).text.split())
                for _ in range(2)
            ]
        finally:
            event.remove(app.state.engine.sync_engine, "before_cursor_execute", record)
    # The first count reads up to the cap; once the table is known to hold 50, far past it,
    # the page asks for its 10 rows and one more with the size estimate, in its own statement,
    # and says the same without a count.
    assert len(limits) == 1 and 15 in limits[0]
    statement, parameters = pages[-1]
    assert 11 in parameters and "max(orders.id)" in statement
    assert all("Showing 1 to 10 of about 50 entries (estimated)" in page for page in shown)


def test_text_in_a_number_field_is_refused_by_name_and_nothing_is_stored(
    shop_client: TestClient, shop_url: str
) -> None:
    before = scalar(shop_url, select(func.count()).select_from(Product))
    form = shop_client.get("/admin/product/create")
    response = shop_client.post(
        "/admin/product/create",
        data={
            "csrftoken": csrf_token(form.text),
            "sku": "SKU-BAD",
            "name": "Bad price",
            "category": "books",
            "price": "abc",
            "stock": "lots",
        },
    )
    assert response.status_code == 422
    text = " ".join(response.text.split())
    assert "Price: &#39;abc&#39; is not a number, such as 12.50" in text
    assert "Stock: &#39;lots&#39; is not a whole number, such as 42" in text
    assert 'value="Bad price"' in text  # what was typed is kept for correcting
    assert scalar(shop_url, select(func.count()).select_from(Product)) == before


def run_sql(url: str, *statements: str) -> None:
    async def work() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    anyio.run(work)


ADD_CUSTOMERS = (
    "INSERT INTO customer (name, email) SELECT 'Customer ' || n, 'bulk' || n || '@example.com' "
    "FROM generate_series({first}, {last}) AS n"
)


@pytest.mark.postgres
def test_a_big_postgresql_list_shows_the_planners_estimate_without_counting_every_row(
    migrated_postgres_url: str,
) -> None:
    url = migrated_postgres_url
    run_sql(url, ADD_CUSTOMERS.format(first=1, last=12_000), "ANALYZE customer")
    # Rows the statistics have not seen yet: a full count would show them, the estimate not.
    run_sql(url, ADD_CUSTOMERS.format(first=12_001, last=12_500))
    assert scalar(url, select(func.count()).select_from(Customer)) == 12_500
    add_user(url, "admin")
    app = create_app(make_config(url))
    statements: list[tuple[str, object]] = []

    def record(
        _conn: object, _cursor: object, statement: str, parameters: object, *_: object
    ) -> None:
        statements.append((" ".join(statement.split()), parameters))

    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "admin")
        event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
        try:
            page = client.get("/admin/customer/list", params={"page_size": "10"})
        finally:
            event.remove(app.state.engine.sync_engine, "before_cursor_execute", record)
    assert page.status_code == 200
    footer = " ".join(page.text.split())
    said = re.findall(r"Showing [^<]*", footer)
    assert "Showing 1 to 10 of about 12,000 entries (estimated)" in footer, (said, statements)
    assert ">Last<" not in footer
    assert len(row_pks(page.text)) == 10
    [(counting, parameters)] = [(s, p) for s, p in statements if "count(" in s.lower()]
    # Counted up to the cap only, next to pg_class.reltuples: never a count(*) of the table.
    assert "reltuples" in counting and "pg_class" in counting
    assert re.search(r"FROM customer LIMIT \$\d+", counting), counting
    assert AutoModelView.exact_count_limit in tuple(parameters)  # type: ignore[call-overload]
