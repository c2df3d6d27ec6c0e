"""An order's items edited as rows on the order's own form: one save, one transaction, one
audit entry (app/admin/inline_rows.py)."""

from __future__ import annotations

import datetime as dt
import html as html_text
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser

import anyio
import pytest
from sqlalchemy import inspect, select
from starlette.testclient import TestClient

from app.admin import inline_rows
from app.admin.inline_fields import InlineCells, InlineFields
from app.admin.inline_rows import INLINE_FIELDS_LIMIT, inline_relations
from app.admin.model_view import AutoModelView
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import AuditEntry, Customer, Order, OrderItem, OrderStatus
from tests import factories
from tests.admin.test_model_views import run_sql
from tests.admin.test_time_zones import choose
from tests.conftest import add_user, csrf_token, make_config, seen_row, sign_in

PREFIX = "inlines.items"


@dataclass(frozen=True)
class Shop:
    order: int
    customer: int
    kept: int  # an item the save changes
    dropped: int  # an item the save removes
    products: tuple[int, int, int]  # the kept item's, the dropped item's, a third one


def make_shop(url: str) -> Shop:
    async def work() -> Shop:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                goods = [factories.product(name=name) for name in ("Anvil", "Bellows", "Chisel")]
                buyer = factories.customer()
                order = factories.order(buyer, goods[:2])
                session.add_all([*goods, order])
                await session.flush()
                kept, dropped = sorted(order.items, key=lambda item: item.product.name)
                return Shop(
                    order.id,
                    buyer.id,
                    kept.id,
                    dropped.id,
                    (goods[0].id, goods[1].id, goods[2].id),
                )
        finally:
            await engine.dispose()

    return anyio.run(work)


def stored_items(url: str, order_id: int) -> list[tuple[int, int, Decimal]]:
    """(product id, quantity, unit price) of each item of the order, by product."""

    async def work() -> list[tuple[int, int, Decimal]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(OrderItem.product_id, OrderItem.quantity, OrderItem.unit_price)
                    .where(OrderItem.order_id == order_id)
                    .order_by(OrderItem.product_id)
                )
                return [(row[0], row[1], Decimal(row[2])) for row in rows]
        finally:
            await engine.dispose()

    return anyio.run(work)


def audit_entries(url: str) -> list[tuple[str, str | None, str | None, dict[str, object]]]:
    async def work() -> list[tuple[str, str | None, str | None, dict[str, object]]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(
                        AuditEntry.action,
                        AuditEntry.model,
                        AuditEntry.object_pk,
                        AuditEntry.changes,
                    ).where(AuditEntry.model.is_not(None))
                )
                return [(row[0], row[1], row[2], row[3] or {}) for row in rows]
        finally:
            await engine.dispose()

    return anyio.run(work)


def order_status(url: str, order_id: int) -> str:
    async def work() -> str:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                status = await connection.scalar(select(Order.status).where(Order.id == order_id))
                return str(status.value if status else None)
        finally:
            await engine.dispose()

    return anyio.run(work)


@pytest.fixture
def shop(database_url: str) -> Shop:
    add_user(database_url, "admin")
    return make_shop(database_url)


@pytest.fixture
def client(database_url: str, shop: Shop) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(database_url)), base_url="https://testserver") as c:
        sign_in(c, "admin")
        yield c


@pytest.fixture(scope="module")
def shared_shop(module_database_url: str) -> Shop:
    """One shop per backend for the tests that save nothing (refusals and reads), which
    check that it stays as it was: a shop and an app for each of them cost most of their time."""
    add_user(module_database_url, "admin")
    return make_shop(module_database_url)


@pytest.fixture(scope="module")
def reader(module_database_url: str, shared_shop: Shop) -> Iterator[TestClient]:
    with TestClient(
        create_app(make_config(module_database_url)), base_url="https://testserver"
    ) as c:
        sign_in(c, "admin")
        yield c


def order_form(
    shop: Shop, token: str, *rows: dict[str, str], status: str = "paid", page: str = ""
) -> dict[str, str]:
    """The order's form as a browser sends it, with these item rows; an edit form (`page`)
    carries back the record it showed (`seen_row`)."""
    fields = {
        **({"seen_row": seen_row(page)} if page else {}),
        "csrftoken": token,
        "customer": str(shop.customer),
        "status": status,
        "total": "19.98",
        "shipped_at": "",
    }
    for index, row in enumerate(rows):
        fields.update({f"{PREFIX}.{index}.{name}": value for name, value in row.items()})
    return fields


def three_changes(shop: Shop) -> list[dict[str, str]]:
    return [
        {"pk": str(shop.kept), "product": str(shop.products[0]), "quantity": "3",
         "unit_price": "9.99"},
        {"pk": str(shop.dropped), "product": str(shop.products[1]), "quantity": "1",
         "unit_price": "9.99", "DELETE": "1"},
        {"product": str(shop.products[2]), "quantity": "2", "unit_price": "4.50"},
    ]  # fmt: skip


def shown_text(page: str) -> str:
    return " ".join(html_text.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_orders_get_their_items_as_inline_rows_from_the_mapper() -> None:
    assert inline_relations(inspect(Order)) == ["items"]  # owned: delete-orphan, 3 fields
    assert inline_relations(inspect(Customer)) == []  # orders outlive the customer's form
    assert INLINE_FIELDS_LIMIT >= 3
    view = AutoModelView(Order)
    assert [inline.key for inline in view.inlines] == ["items"]  # type: ignore[union-attr]

    class NoRows(AutoModelView):
        inline_rows = []

    assert list(NoRows(Order).inlines) == []

    class Misspelt(AutoModelView):
        inline_rows = ["itemz"]

    with pytest.raises(
        TypeError, match="Order has no relation 'itemz'; relations: customer, items"
    ):
        Misspelt(Order)
    with pytest.raises(TypeError, match="one-to-many"):
        Misspelt.inline_rows = ["customer"]
        Misspelt(Order)


def test_the_order_form_shows_its_items_as_a_table_of_rows(
    reader: TestClient, shared_shop: Shop
) -> None:
    page = reader.get(f"/admin/order/edit?pk={shared_shop.order}")
    assert page.status_code == 200
    text = page.text
    assert f'name="{PREFIX}.0.pk" value="{shared_shop.kept}"' in text
    assert f'name="{PREFIX}.1.pk" value="{shared_shop.dropped}"' in text
    assert re.search(rf'<select[^>]*id="{re.escape(PREFIX)}\.0\.product"[^>]*'
                     r'data-url="[^"]*/product/relation-lookup"', text)  # fmt: skip
    assert f'name="{PREFIX}.0.quantity"' in text
    assert f'name="{PREFIX}.1.DELETE"' in text
    shown = shown_text(text)
    assert "Row Product Quantity Unit price" in shown
    assert "Add order item" in shown
    detail = shown_text(reader.get(f"/admin/order/detail?pk={shared_shop.order}").text)
    assert "Anvil" in detail and "Bellows" in detail  # products by name, not "product 59"
    assert "x product" not in detail


def test_an_order_saved_with_an_item_added_one_changed_one_removed_keeps_all_three(
    client: TestClient, shop: Shop, database_url: str
) -> None:
    page = client.get(f"/admin/order/edit?pk={shop.order}").text
    token = csrf_token(page)
    saved = client.post(
        f"/admin/order/edit?pk={shop.order}",
        data=order_form(shop, token, *three_changes(shop), status="shipped", page=page),
        follow_redirects=False,
    )
    assert saved.status_code == 303, shown_text(saved.text)[-600:]
    assert stored_items(database_url, shop.order) == [
        (shop.products[0], 3, Decimal("9.99")),
        (shop.products[2], 2, Decimal("4.50")),
    ]
    assert order_status(database_url, shop.order) == "shipped"
    entries = audit_entries(database_url)
    assert [(action, model, pk) for action, model, pk, _ in entries] == [
        ("edit", "order", str(shop.order))
    ]  # one change: no entry of its own for any item
    changes = entries[0][3]
    assert changes["status"] == {"old": "paid", "new": "shipped"}
    assert changes[f"items #{shop.kept} changed"] == {
        "old": {"quantity": 1},
        "new": {"quantity": 3},
    }
    assert changes[f"items #{shop.dropped} removed"] == {
        "old": {"product_id": shop.products[1], "quantity": 1, "unit_price": "9.99"},
        "new": None,
    }
    (added,) = [name for name in changes if name.endswith(" added")]
    assert len(changes) == 4  # status and the three rows
    assert changes[added] == {
        "old": None,
        "new": {"product_id": shop.products[2], "quantity": 2, "unit_price": "4.50"},
    }
    after = client.get(saved.headers["location"])
    assert after.text.count("was changed successfully") == 1  # the order's, not one per row


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"quantity": "0"}, "Row 3: Quantity: at least 1"),
        ({"quantity": "many"}, "Row 3: Quantity: 'many' is not a whole number"),
        ({"quantity": "99999999999"}, "Row 3: Quantity: a whole number from 1 to"),
        ({"unit_price": "cheap"}, "Row 3: Unit price: 'cheap' is not a number"),
        ({"unit_price": "NaN"}, "Row 3: Unit price: 'NaN' is not a number"),  # a 500 before
        ({"unit_price": "1e309"}, "Row 3: Unit price: '1e309' is too large: at most 8 digits"),
        ({"unit_price": "1.999"}, "Row 3: Unit price: '1.999' has more than 2 decimal places"),
        ({"product": "999999"}, "Row 3: Product: no product has the key '999999'"),
        ({"product": ""}, "Row 3: Product: choose one"),
    ],
)
def test_one_bad_row_saves_nothing_and_names_its_row_and_field(
    reader: TestClient, shared_shop: Shop, module_database_url: str, bad: dict[str, str], named: str
) -> None:
    before = stored_items(module_database_url, shared_shop.order)
    page = reader.get(f"/admin/order/edit?pk={shared_shop.order}").text
    token = csrf_token(page)
    rows = three_changes(shared_shop)
    rows[2] = {**rows[2], **bad}
    refused = reader.post(
        f"/admin/order/edit?pk={shared_shop.order}",
        data=order_form(shared_shop, token, *rows, status="shipped", page=page),
    )
    assert refused.status_code == 422
    assert named in shown_text(refused.text)
    # What was typed is all still there: the changed quantity, the ticked box, the bad value.
    assert re.search(rf'name="{re.escape(PREFIX)}\.0\.quantity"[^>]*value="3"', refused.text)
    assert re.search(rf'name="{re.escape(PREFIX)}\.1\.DELETE"\s+value="1"\s+checked', refused.text)
    for name, value in bad.items():
        if name == "quantity" and value.isdigit():  # a number field holds numbers only
            assert re.search(rf'name="{re.escape(PREFIX)}\.2\.{name}"[^>]*value="{value}"',
                             refused.text)  # fmt: skip
    assert stored_items(module_database_url, shared_shop.order) == before
    assert order_status(module_database_url, shared_shop.order) == "paid"
    assert audit_entries(module_database_url) == []


def test_a_row_of_another_order_is_refused_by_name(
    client: TestClient, shop: Shop, database_url: str
) -> None:
    other = make_shop(database_url)
    page = client.get(f"/admin/order/edit?pk={shop.order}").text
    token = csrf_token(page)
    stolen = {"pk": str(other.kept), "product": str(shop.products[0]), "quantity": "7",
              "unit_price": "1.00"}  # fmt: skip
    refused = client.post(
        f"/admin/order/edit?pk={shop.order}",
        data=order_form(shop, token, stolen, page=page),
    )
    assert refused.status_code == 422
    assert "Row 1: no order item with that key belongs to this order" in shown_text(refused.text)
    assert stored_items(database_url, other.order)[0][1] == 1
    assert audit_entries(database_url) == []


def test_two_rows_naming_one_stored_item_are_refused_and_neither_is_overwritten(
    client: TestClient, shop: Shop, database_url: str
) -> None:
    # The second row would have overwritten the first's change, and the other row kept its own.
    page = client.get(f"/admin/order/edit?pk={shop.order}").text
    before = stored_items(database_url, shop.order)
    first, second = three_changes(shop)[:2]
    twice = {**second, "pk": str(shop.kept)}
    twice.pop("DELETE")
    refused = client.post(
        f"/admin/order/edit?pk={shop.order}",
        data=order_form(shop, csrf_token(page), first, twice, page=page),
    )
    assert refused.status_code == 422
    assert "Row 2: the same order item as row 1" in shown_text(refused.text)
    assert stored_items(database_url, shop.order) == before
    assert audit_entries(database_url) == []


def test_a_new_order_is_created_with_its_rows_in_one_entry(
    client: TestClient, shop: Shop, database_url: str
) -> None:
    token = csrf_token(client.get("/admin/order/create").text)
    rows = [{"product": str(shop.products[2]), "quantity": "4", "unit_price": "2.00"}]
    created = client.post(
        "/admin/order/create",
        data=order_form(shop, token, *rows),
        follow_redirects=False,
    )
    assert created.status_code == 303, shown_text(created.text)[-600:]
    ((action, model, pk, changes),) = audit_entries(database_url)
    assert (action, model) == ("create", "order")
    assert pk is not None
    assert stored_items(database_url, int(pk)) == [(shop.products[2], 4, Decimal("2.00"))]
    assert [change for name, change in changes.items() if name.startswith("items #")] == [
        {"old": None, "new": {"product_id": shop.products[2], "quantity": 4, "unit_price": "2.00"}}
    ]


def test_a_save_without_the_forms_csrf_token_is_refused(
    reader: TestClient, shared_shop: Shop, module_database_url: str
) -> None:
    before = stored_items(module_database_url, shared_shop.order)
    refused = reader.post(
        f"/admin/order/edit?pk={shared_shop.order}",
        data=order_form(shared_shop, "forged", *three_changes(shared_shop)),
    )
    assert refused.status_code == 403
    assert stored_items(module_database_url, shared_shop.order) == before
    assert audit_entries(module_database_url) == []


def test_a_user_who_may_not_edit_orders_cannot_change_their_items(
    database_url: str, shop: Shop
) -> None:
    add_user(
        database_url,
        "viewer",
        superuser=False,
        permissions=["order:view", "order-item:view", "order-item:edit", "order-item:delete",
                     "order-item:create", "product:view"],
    )  # fmt: skip
    before = stored_items(database_url, shop.order)
    app = create_app(make_config(database_url))
    with TestClient(app, base_url="https://testserver") as viewer:
        sign_in(viewer, "viewer")
        token = csrf_token(viewer.get("/admin/order/list").text)
        assert viewer.get(f"/admin/order/edit?pk={shop.order}").status_code == 403
        refused = viewer.post(
            f"/admin/order/edit?pk={shop.order}",
            data=order_form(shop, token, *three_changes(shop)),
        )
        assert refused.status_code == 403
    assert stored_items(database_url, shop.order) == before
    assert audit_entries(database_url) == []


def test_the_order_summary_follows_a_save_made_with_rows(
    client: TestClient, shop: Shop, database_url: str
) -> None:
    page = client.get(f"/admin/order/edit?pk={shop.order}").text
    token = csrf_token(page)
    client.post(
        f"/admin/order/edit?pk={shop.order}",
        data=order_form(shop, token, *three_changes(shop), status="shipped", page=page),
    )

    async def summary() -> list[tuple[str, int]]:
        from app.models import OrderHour

        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(OrderHour.status, OrderHour.orders).where(OrderHour.orders > 0)
                )
                return sorted((OrderStatus(row[0]).value, row[1]) for row in rows)
        finally:
            await engine.dispose()

    assert anyio.run(summary) == [("shipped", 1)]


def test_a_parent_with_more_rows_than_the_form_holds_shows_the_first_and_links_the_rest(
    reader: TestClient, shared_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline_rows, "INLINE_ROWS_LIMIT", 1)
    page = reader.get(f"/admin/order/edit?pk={shared_shop.order}").text
    assert f'name="{PREFIX}.0.pk" value="{shared_shop.kept}"' in page
    assert f'name="{PREFIX}.1.pk"' not in page
    assert "Only the first 1 are shown here" in shown_text(page)
    assert (
        f'href="https://testserver/admin/order-item/list?order__id__exact={shared_shop.order}"'
        in page
    )
    rest = reader.get(f"/admin/order-item/list?order__id__exact={shared_shop.order}")
    assert rest.status_code == 200
    assert sorted(map(int, re.findall(r'<tr data-sa-pk="(\d+)"', rest.text))) == [
        shared_shop.kept,
        shared_shop.dropped,
    ]


def test_an_items_own_form_refuses_what_its_row_on_the_order_refuses(
    reader: TestClient, shared_shop: Shop, module_database_url: str
) -> None:
    before = stored_items(module_database_url, shared_shop.order)
    form = reader.get(f"/admin/order-item/edit?pk={shared_shop.kept}").text
    refused = reader.post(
        f"/admin/order-item/edit?pk={shared_shop.kept}",
        data={
            "csrftoken": csrf_token(form),
            "seen_row": seen_row(form),
            "order": str(shared_shop.order),
            "product": str(shared_shop.products[0]),
            "quantity": "0",
            "unit_price": "9.99",
        },
    )
    assert refused.status_code == 422
    assert "Quantity: at least 1" in shown_text(refused.text)
    assert stored_items(module_database_url, shared_shop.order) == before


def test_a_date_time_on_a_form_is_shown_and_typed_in_the_users_zone(
    database_url: str, shop: Shop
) -> None:
    add_user(database_url, "paris")
    choose(database_url, "paris", "Europe/Paris")
    run_sql(
        database_url,
        f"UPDATE orders SET shipped_at = '2026-03-05 12:00:00' WHERE id = {shop.order}",
    )
    with TestClient(create_app(make_config(database_url)), base_url="https://testserver") as c:
        sign_in(c, "paris")
        page = c.get(f"/admin/order/edit?pk={shop.order}").text
        assert re.search(r'name="shipped_at"[^>]*value="2026-03-05T13:00:00"', page), (
            "12:00 UTC is 13:00 in Paris"
        )
        rows = [
            {"pk": str(shop.kept), "product": str(shop.products[0]), "quantity": "1",
             "unit_price": "9.99"},
            {"pk": str(shop.dropped), "product": str(shop.products[1]), "quantity": "1",
             "unit_price": "9.99"},
        ]  # fmt: skip
        form = {**order_form(shop, csrf_token(page), *rows, page=page)}
        form["shipped_at"] = "2026-07-01T09:30:00"  # summer: Paris is UTC+2
        saved = c.post(f"/admin/order/edit?pk={shop.order}", data=form, follow_redirects=False)
        assert saved.status_code == 303, saved.text[-800:]
    stored = anyio.run(_shipped_at, database_url, shop.order)
    assert stored.replace(tzinfo=stored.tzinfo or dt.UTC) == dt.datetime(
        2026, 7, 1, 7, 30, tzinfo=dt.UTC
    )


async def _shipped_at(url: str, order_id: int) -> dt.datetime:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            value = await session.scalar(select(Order.shipped_at).where(Order.id == order_id))
            assert value is not None
            return value
    finally:
        await engine.dispose()


def test_an_orders_page_links_its_customer_and_each_items_product_by_name(
    client: TestClient, shop: Shop
) -> None:
    page = client.get(f"/admin/order/detail?pk={shop.order}").text
    for pk, name in ((shop.products[0], "Anvil"), (shop.products[1], "Bellows")):
        assert re.search(rf'<a href="/admin/product/detail\?pk={pk}[&"][^>]*>{name} \(SKU', page)
    assert re.search(
        rf'<a href="/admin/customer/detail\?pk={shop.customer}[&"][^>]*>Customer', page
    )
    assert "Chisel" not in page  # not an item of this order


def html_tokens(markup: str) -> list[tuple[object, ...]]:
    """Markup as tags, attributes and text, whitespace between them aside; escaped markup (the
    new row's template) is read as markup too."""
    found: list[tuple[object, ...]] = []

    class Reader(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append(("start", tag, tuple(attrs)))

        def handle_endtag(self, tag: str) -> None:
            found.append(("end", tag))

        def handle_data(self, data: str) -> None:
            text = " ".join(data.split())
            if "<" in text:
                found.extend(html_tokens(text))
            elif text:
                found.append(("text", text))

    reader = Reader()
    reader.feed(markup)
    reader.close()
    return found


def formset(page: str) -> list[tuple[object, ...]]:
    match = re.search(r'<section class="inline-formset.*?</section>', page, flags=re.S)
    assert match, "no inline rows on the page"
    return html_tokens(match.group(0))


def test_inline_fields_written_in_python_are_the_librarys_markup(
    reader: TestClient, shared_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A library upgrade that changes its input or relation template shows up here.
    order_view = next(v for v in reader.app.state.admin._views if getattr(v, "key", "") == "order")
    quantity = next(f for f in order_view.inlines[0].fields if f.name == "quantity")
    monkeypatch.setattr(quantity, "help_text", 'How many, "1" or more')
    edit = f"/admin/order/edit?pk={shared_shop.order}"

    def both_ways(send: Callable[[], str]) -> tuple[list[tuple[object, ...]], ...]:
        written = formset(send())
        with monkeypatch.context() as drawn:
            drawn.setattr(InlineFields, "written", frozenset())
            return written, formset(send())

    written, drawn = both_ways(lambda: reader.get(edit).text)
    assert ("start", "select") in [t[:2] for t in written] and written == drawn
    rows = three_changes(shared_shop)
    rows[2] = {**rows[2], "quantity": "0", "product": ""}  # errors on a picker and an input

    def refused() -> str:
        page = reader.get(edit).text
        form = order_form(shared_shop, csrf_token(page), *rows, page=page)
        answer = reader.post(edit, data=form)
        assert answer.status_code == 422
        return answer.text

    written, drawn = both_ways(refused)
    assert any(t[:2] == ("start", "div") and ("class", "invalid-feedback") in t[2] for t in written)
    assert written == drawn


def test_inline_cells_written_in_python_are_the_librarys_markup(
    reader: TestClient, shared_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = f"/admin/order/detail?pk={shared_shop.order}"

    def table() -> list[tuple[object, ...]]:
        text = reader.get(page).text
        match = re.search(r'<h3 class="card-title">Items</h3>.*?</table>', text, flags=re.S)
        assert match, "no items table on the order's page"
        return html_tokens(match.group(0))

    written = table()
    monkeypatch.setattr(InlineCells, "written", frozenset())
    drawn = table()
    assert any(t[0] == "text" and str(t[1]).startswith("Anvil") for t in written)
    assert written == drawn
