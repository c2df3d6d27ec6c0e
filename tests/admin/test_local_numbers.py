"""Counts and money on the admin's lists and detail pages the reader's way, in their browser's
language; forms and exports keep the plain values they parse back."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from app.main import create_app
from tests.admin.test_exports import export
from tests.admin.test_model_views import run_sql
from tests.conftest import SignedIn, add_user, list_cells, make_config

NBSP = ("\u00a0", "\u202f")  # CLDR's French groups digits and sets off the sign with these


def a_pricey_product(url: str) -> None:
    run_sql(
        url,
        "INSERT INTO product (id, sku, name, category, price, stock)"
        " VALUES (7, 'SKU-7', 'Walnut desk', 'home', 1234.5, 12000)",
    )


def cells(html: str) -> dict[str, str]:
    """The list's only row (product 7), each cell's text by column."""
    (row,) = list_cells(html).values()
    return {name: re.sub(r"<[^>]+>|\s{2,}", "", text).strip() for name, text in row.items()}


def plain(text: str) -> str:
    return "".join(" " if c in NBSP else c for c in text)


def client(sqlite_url: str, signed_in: SignedIn) -> TestClient:
    add_user(sqlite_url, "admin")
    a_pricey_product(sqlite_url)
    return signed_in(create_app(make_config(sqlite_url)), "admin")


def test_a_list_shows_money_with_its_currency_and_counts_with_separators(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    admin = client(sqlite_url, signed_in)

    english = cells(admin.get("/admin/product/list").text)
    french = cells(admin.get("/admin/product/list", headers={"Accept-Language": "fr-FR"}).text)

    assert (english["price"], english["stock"], english["id"]) == ("€1,234.50", "12,000", "7")
    assert (plain(french["price"]), plain(french["stock"])) == ("1 234,50 €", "12 000")


def test_the_detail_page_shows_them_so_and_the_form_and_export_keep_plain_values(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    admin = client(sqlite_url, signed_in)

    detail = admin.get("/admin/product/detail?pk=7").text
    form = admin.get("/admin/product/edit?pk=7").text
    exported = export(admin, "csv").decode()

    assert "€1,234.50" in detail and "12,000" in detail
    assert re.search(r'name="price"[^>]*value="1234.5', form)
    assert re.search(r'name="stock"[^>]*value="12000"', form)
    assert "1234.5" in exported and "12000" in exported and "€" not in exported


def test_a_lists_footer_counts_the_readers_way(sqlite_url: str, signed_in: SignedIn) -> None:
    admin = client(sqlite_url, signed_in)
    run_sql(
        sqlite_url,
        "INSERT INTO tag (name) WITH RECURSIVE n(i) AS"
        " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1234) SELECT 'tag-' || i FROM n",
    )

    english = admin.get("/admin/tag/list?page=100&page_size=10").text
    french = admin.get("/admin/tag/list?page=50", headers={"Accept-Language": "fr-FR"}).text

    assert "Showing 991 to 1,000 of 1,234 entries" in " ".join(english.split())
    footer = plain(" ".join(french.split()))
    assert "Showing 1 226 to 1 234 of 1 234 entries" in footer, footer[-3000:]
