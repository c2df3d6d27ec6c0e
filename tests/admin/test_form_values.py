"""Values a model's form sends that the library would read but the column cannot hold, and
related rows picked by keys that match none: each is refused (422) naming the field and what
it accepts, never a 500, and nothing is stored or unlinked (docs/reference.md, "Admin")."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from app.models import Customer, Order, OrderItem, Product, Tag, Ticket
from app.models.shop import product_tag
from tests.admin.test_malformed_input import signed_in_shop
from tests.admin.test_model_views import scalar
from tests.conftest import csrf_token, seen_row


@pytest.fixture(scope="module")
def root(module_database_url: str) -> Iterator[TestClient]:
    with signed_in_shop(module_database_url) as client:
        yield client


def shown(answer: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", answer.text)).split())


def count(url: str, model: Any) -> object:
    return scalar(url, select(func.count()).select_from(model))


GOOD = {
    "order": (Order, {"status": "paid", "total": "10.00", "shipped_at": "", "customer": "1"}),
    "order-item": (
        OrderItem,
        {"quantity": "1", "unit_price": "1.00", "order": "1", "product": "1"},
    ),
    "customer": (Customer, {"name": "Ada", "email": "ada@example.org"}),
    "tag": (Tag, {"name": "fresh"}),
}
GOOD_ORDER = GOOD["order"][1]
NO_ADDRESS = "is not an e-mail address, such as ops@example.com"
BLANK = "Name: required (spaces or invisible characters alone)"


@pytest.mark.parametrize(
    ("key", "typed", "says"),
    [
        ("order", {"total": "Infinity"}, "Total: 'Infinity' is not a number, such as 12.50"),
        ("order", {"total": "NaN"}, "Total: 'NaN' is not a number"),
        ("order", {"total": "-sNaN"}, "Total: '-sNaN' is not a number"),
        ("order", {"total": "1e309"}, "Total: '1e309' is too large: at most 10 digits"),
        ("order", {"total": "99999999999999999999.99"}, "is too large: at most 10 digits"),
        ("order", {"total": "854.455"}, "Total: '854.455' has more than 2 decimal places"),
        ("order", {"total": "\u0663"}, "Total: '\u0663' is not a number"),  # int() reads it as 3
        ("order", {"status": "bogus"}, "Status: 'bogus' is not one of pending, paid,"),
        ("order", {"status": "PAID"}, "Status: 'PAID' is not one of"),  # a 500 at the insert
        ("order", {"customer": "999999"}, "Customer: no customer has the key '999999'"),
        ("order", {"customer": "-1"}, "Customer: no customer has the key '-1'"),
        ("order-item", {"quantity": "9" * 23}, f"Quantity: '{'9' * 23}' is out of range"),
        ("order-item", {"unit_price": "NaN"}, "Unit price: 'NaN' is not a number"),
        ("order-item", {"unit_price": "Infinity"}, "Unit price: 'Infinity' is not a number"),
        ("order-item", {"unit_price": "1_000"}, "Unit price: '1_000' is not a number"),
        ("order-item", {"order": "  "}, "Order: no order has the key ' '"),  # a 500 before
        ("order-item", {"product": "\u0663"}, "Product: no product has the key '\u0663'"),
        ("order", {"customer": "\t"}, "Customer: no customer has the key '\\t'"),
        ("customer", {"email": "notanemail"}, f"Email: 'notanemail' {NO_ADDRESS}"),
        ("customer", {"email": "a@b"}, f"Email: 'a@b' {NO_ADDRESS}"),
        ("customer", {"email": "two words@example.com"}, NO_ADDRESS),
        ("tag", {"name": "   "}, BLANK),
        ("tag", {"name": "\u200b"}, BLANK),  # a zero-width space
        ("tag", {"name": " \ufeff "}, BLANK),
    ],
)
def test_a_record_its_columns_cannot_hold_is_refused_naming_the_field(
    root: TestClient, module_database_url: str, key: str, typed: dict[str, str], says: str
) -> None:
    model, good = GOOD[key]
    token = csrf_token(root.get(f"/admin/{key}/create").text)
    before = count(module_database_url, model)

    answer = root.post(f"/admin/{key}/create", data={"csrftoken": token, **good, **typed})

    assert answer.status_code == 422, answer.text[-800:]
    assert says in shown(answer)
    assert count(module_database_url, model) == before


def product_form(client: TestClient, pk: int) -> dict[str, Any]:
    """The product's edit form as the page fills it, ready to send back."""
    page = client.get(f"/admin/product/edit?pk={pk}").text
    return {
        "csrftoken": csrf_token(page),
        "seen_row": seen_row(page),
        "sku": html.unescape(re.search(r'name="sku"[^>]*value="([^"]*)"', page)[1]),  # type: ignore[index]
        "name": html.unescape(re.search(r'name="name"[^>]*value="([^"]*)"', page)[1]),  # type: ignore[index]
        "category": "books",
        "price": "5.00",
        "stock": "3",
    }


def tags_of(url: str, pk: int) -> object:
    linked = select(func.count()).select_from(product_tag).where(product_tag.c.product_id == pk)
    return scalar(url, linked)


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ({"tags": ["1", "999999"]}, "Tags: no tag has the key '999999'"),
        ({"tags": ["1", "abc"]}, "Tags: no tag has the key 'abc'"),  # a bare 404 page before
        ({"stock": "99999999999999999999"}, "Stock: '99999999999999999999' is out of range"),
        ({"price": "1.999"}, "Price: '1.999' has more than 2 decimal places"),
        ({"available_from": "20261201"}, "'20261201' is not a date, such as 2026-01-31"),
        ({"available_from": "soon"}, "Available from: 'soon' is not a date, such as 2026-11-23"),
        ({"category": "bogus"}, "Category: 'bogus' is not one of"),
        ({"specs": "NaN"}, "Specs: 'NaN' is not JSON"),  # PostgreSQL's json type refuses it
        ({"specs": '{"a": -Infinity}'}, "is not JSON"),
        ({"specs": "[1e309]"}, "Specs: '[1e309]' is not JSON"),  # read as inf
    ],
)
def test_a_product_edit_the_columns_cannot_hold_changes_nothing_and_unlinks_no_tag(
    root: TestClient, module_database_url: str, typed: dict[str, Any], says: str
) -> None:
    pk = 1
    form = product_form(root, pk)
    tags_before = tags_of(module_database_url, pk)
    stored = scalar(module_database_url, select(Product.price).where(Product.id == pk))

    answer = root.post(f"/admin/product/edit?pk={pk}", data={**form, **typed})

    assert answer.status_code == 422, answer.text[-800:]
    assert says in shown(answer)
    assert tags_of(module_database_url, pk) == tags_before
    assert scalar(module_database_url, select(Product.price).where(Product.id == pk)) == stored


def test_a_ticket_linked_to_an_order_that_is_not_there_keeps_its_link(
    root: TestClient, module_database_url: str
) -> None:
    ticket = {"subject": "Where is it?", "priority": "normal", "status": "open", "customer": "1"}
    token = csrf_token(root.get("/admin/ticket/create").text)
    made = root.post(
        "/admin/ticket/create",
        data={"csrftoken": token, **ticket, "order": "1"},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text[-800:]
    pk = scalar(module_database_url, select(func.max(Ticket.id)))
    linked = select(Ticket.order_id).where(Ticket.id == pk)
    page = root.get(f"/admin/ticket/edit?pk={pk}").text
    form = {"csrftoken": csrf_token(page), "seen_row": seen_row(page), **ticket}

    answer = root.post(f"/admin/ticket/edit?pk={pk}", data={**form, "order": "999999"})

    assert answer.status_code == 422, answer.text[-800:]
    assert "Order: no order has the key '999999'" in shown(answer)
    assert scalar(module_database_url, linked) == 1


def test_an_empty_value_a_column_needs_is_required_not_a_duplicate(
    root: TestClient, module_database_url: str
) -> None:
    page = root.get("/admin/order/edit?pk=2").text
    form = {"csrftoken": csrf_token(page), "seen_row": seen_row(page), **GOOD_ORDER}
    stored = select(Order.total).where(Order.id == 2)
    before = scalar(module_database_url, stored)

    answer = root.post("/admin/order/edit?pk=2", data={**form, "total": ""})

    assert answer.status_code == 422, answer.text[-800:]
    assert "required" in shown(answer)
    assert "already has this value" not in shown(answer)
    assert scalar(module_database_url, stored) == before
