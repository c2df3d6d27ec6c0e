"""Columns the database stamps (created_at) are shown, never typed: an edit cannot blank them."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from app.models import Product
from tests.admin.test_model_views import fill_shop, scalar
from tests.conftest import csrf_token, seen_row


@pytest.fixture
def shop_client(sqlite_url: str, admin_client: TestClient) -> TestClient:
    """A filled shop of the test's own: the test edits a product."""
    fill_shop(sqlite_url)
    return admin_client


def test_created_at_is_not_on_forms_and_an_edit_keeps_it(
    shop_client: TestClient, sqlite_url: str
) -> None:
    before = scalar(sqlite_url, select(Product.created_at).where(Product.id == 1))
    for page in ("create", "edit?pk=1"):
        assert 'name="created_at"' not in shop_client.get(f"/admin/product/{page}").text
    form = shop_client.get("/admin/product/edit?pk=1").text
    saved = shop_client.post(
        "/admin/product/edit?pk=1",
        data={
            "csrftoken": csrf_token(form),
            "seen_row": seen_row(form),
            "sku": "SKU-EDITED",
            "name": "Edited",
            "category": "books",
            "price": "3.50",
            "stock": "1",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[-800:]
    assert scalar(sqlite_url, select(Product.created_at).where(Product.id == 1)) == before
    assert "created at" in shop_client.get("/admin/product/detail?pk=1").text.lower()
