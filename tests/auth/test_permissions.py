"""Permissions are enforced on the server and reflected in the page."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.models import Product
from tests.admin.test_model_views import fill_shop, scalar
from tests.conftest import SignedIn, add_user, csrf_token, seen_row

Client = Callable[[str], TestClient]


@pytest.fixture
def client_for(sqlite_url: str, app: Starlette, signed_in: SignedIn) -> Client:
    """Signs in as one of: viewer (group grants product:view), editor (own grants), nobody."""
    fill_shop(sqlite_url)
    add_user(sqlite_url, "viewer", superuser=False, groups={"viewers": ["product:view"]})
    add_user(
        sqlite_url,
        "editor",
        superuser=False,
        permissions=["product:view", "product:edit", "order:view"],
    )
    add_user(sqlite_url, "nobody", superuser=False)
    add_user(sqlite_url, "root")
    return lambda username: signed_in(app, username)


def products(url: str) -> int:
    return int(scalar(url, select(func.count()).select_from(Product)))  # type: ignore[arg-type]


def test_a_view_only_user_can_list_and_read_but_not_change(
    client_for: Client, sqlite_url: str
) -> None:
    viewer = client_for("viewer")
    listing = viewer.get("/admin/product/list")
    assert listing.status_code == 200
    assert viewer.get("/admin/product/detail?pk=1").status_code == 200
    token = csrf_token(listing.text)
    before = products(sqlite_url)

    # By URL.
    assert viewer.get("/admin/product/create").status_code == 403
    assert viewer.get("/admin/product/edit?pk=1").status_code == 403
    # By POST, with a valid CSRF token: the refusal is about permission, not the token.
    form = {"csrftoken": token, "sku": "X-1", "name": "Sneaky", "category": "books", "price": "1"}
    assert viewer.post("/admin/product/create", data=form).status_code == 403
    assert viewer.post("/admin/product/edit?pk=1", data=form).status_code == 403
    headers = {"X-CSRFToken": token}
    delete_row = viewer.post(
        "/admin/_api/product/row-action?pk=1&name=delete", headers=headers, data={}
    )
    assert delete_row.status_code == 403
    delete_many = viewer.post(
        "/admin/_api/product/action?name=delete&pks=1&pks=2", headers=headers, data={}
    )
    assert delete_many.status_code == 403
    export = viewer.post(
        "/admin/_api/product/action?name=export",
        headers=headers,
        data={"csrftoken": token, "format": "csv", "scope": "page"},
    )
    assert export.status_code == 403
    imported = viewer.post(
        "/admin/_api/product/import",
        headers=headers,
        files={"file": ("p.csv", b"sku,name,category,price\nI-1,Imp,books,1\n", "text/csv")},
    )
    assert imported.status_code == 403
    assert products(sqlite_url) == before


@pytest.mark.parametrize(
    "action",
    [
        "/admin/_api/customer/action?name=delete&pks=1",
        "/admin/_api/customer/action?name=export",
        "/admin/_api/customer/row-action?name=delete&pk=1",
        "/admin/_api/user/row-action?name=set_password&pk=1",
    ],
)
def test_an_action_on_a_model_one_may_not_view_is_a_403(client_for: Client, action: str) -> None:
    """As on the model's pages: a refusal, not a 400 about the request."""
    viewer = client_for("viewer")
    token = csrf_token(viewer.get("/admin/product/list").text)
    refused = viewer.post(
        action,
        headers={"X-CSRFToken": token},
        data={"csrftoken": token, "format": "csv", "scope": "page"},
    )
    assert refused.status_code == 403, refused.text[-300:]


def test_the_page_shows_only_what_one_may_do(client_for: Client) -> None:
    viewer = client_for("viewer").get("/admin/product/list").text
    assert "/admin/product/create" not in viewer
    assert 'data-sa-name="edit"' not in viewer
    assert 'data-sa-name="delete"' not in viewer
    assert "name=export" not in viewer and "Export" not in viewer
    # The menu lists only what the user can view.
    assert "/admin/product/list" in viewer
    assert "/admin/order/list" not in viewer
    assert "/admin/user/list" not in viewer

    editor = client_for("editor").get("/admin/product/list").text
    assert 'data-sa-name="edit"' in editor
    assert 'data-sa-name="delete"' not in editor
    assert "/admin/order/list" in editor

    root = client_for("root").get("/admin/product/list").text
    for shown in ("/admin/product/create", 'data-sa-name="delete"', "/admin/user/list", "Export"):
        assert shown in root


def test_a_user_without_view_permission_is_refused_the_model(client_for: Client) -> None:
    nobody = client_for("nobody")
    for path in ("/admin/product/list", "/admin/product/detail?pk=1", "/admin/user/list"):
        refused = nobody.get(path)
        assert refused.status_code == 403, path
        assert "Not allowed" in refused.text  # the admin's styled refusal page
        for row_text in ("SKU-", "Product ", "viewer"):  # no product or account on the page
            assert row_text not in refused.text, (path, row_text)
    lookup_path = "/admin/_api/customer/relation-lookup?field=customer&term=a"
    lookup = nobody.get(lookup_path)
    assert lookup.status_code == 403
    assert "@" not in lookup.text  # no customer e-mail leaks through the lookup API
    # The same lookup answers someone who may view customers: the refusal is the permission.
    assert "@example.com" in client_for("root").get(lookup_path).text


def test_own_grants_and_group_grants_add_up(client_for: Client, sqlite_url: str) -> None:
    add_user(
        sqlite_url,
        "mixed",
        superuser=False,
        permissions=["order:view"],
        groups={"product-editors": ["product:view", "product:edit"]},
    )
    mixed = client_for("mixed")
    assert mixed.get("/admin/order/list").status_code == 200  # own grant
    page = mixed.get("/admin/product/edit?pk=1")  # the group's grant
    assert page.status_code == 200
    # Neither grants these.
    assert mixed.get("/admin/customer/list").status_code == 403
    assert mixed.get("/admin/product/create").status_code == 403
    form = {
        "csrftoken": csrf_token(page.text),
        "seen_row": seen_row(page.text),
        "sku": "SKU-EDITED",
        "name": "Edited by the group's grant",
        "category": "books",
        "price": "3.50",
        "stock": "1",
    }
    saved = mixed.post("/admin/product/edit?pk=1", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text[-500:]
    name = scalar(sqlite_url, select(Product.name).where(Product.id == 1))
    assert name == "Edited by the group's grant"
    assert products(sqlite_url) == 5  # edited in place, nothing added


def test_a_related_record_is_linked_only_for_a_reader_who_may_view_its_model(
    client_for: Client,
) -> None:
    """An order names its customer for everyone who may see orders; the customer's page is
    linked only for those who may see customers (for the others it would be a 403)."""
    editor = client_for("editor")  # order:view, no customer:view
    root = client_for("root")
    for page in ("/admin/order/list", "/admin/order/detail?pk=1"):
        theirs, roots = editor.get(page), root.get(page)
        assert theirs.status_code == roots.status_code == 200
        assert "/admin/customer/detail" in roots.text
        assert "/admin/customer/detail" not in theirs.text, page
        assert re.search(r"customer\d+@example\.com", theirs.text), page  # named all the same
