"""The lists' exports open in a spreadsheet as data: no text cell runs as a formula."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import anyio
import pytest
from starlette.testclient import TestClient

from app.admin.exports import SpreadsheetSafeCsv, StreamedXlsx
from app.admin.model_view import AutoModelView
from app.admin.site import OWN_PAGES, load_view_overrides
from app.db import Base, create_engine, create_session_factory
from tests import factories
from tests.conftest import csrf_token

HYPERLINK = '=HYPERLINK("http://evil.example","x")'
# Text as an attacker or a careless operator types it, by SKU.
TEXTS = {
    "F-HYPERLINK": (HYPERLINK, "@SUM(1+1)"),
    "F-PLUS": ("+1+1", "-2+3"),
    "F-TAB": ("\t=1+1", "\r=1+1"),
    "F-SPACE": ("  =1+1", "plain = text"),
}


def add_products(url: str) -> None:
    async def work() -> None:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                for sku, (name, description) in TEXTS.items():
                    session.add(factories.product(sku=sku, name=name, description=description))
                session.add(
                    factories.product(
                        sku="NEGATIVE", name="Refund", price=Decimal("-5.00"), stock=-3
                    )
                )
        finally:
            await engine.dispose()

    anyio.run(work)


@pytest.fixture
def admin(sqlite_url: str, admin_client: TestClient) -> TestClient:
    add_products(sqlite_url)
    return admin_client


def export(client: TestClient, fmt: str) -> bytes:
    token = csrf_token(client.get("/admin/product/list").text)
    exported = client.post(
        "/admin/_api/product/action?name=export",
        data={"csrftoken": token, "format": fmt, "scope": "page"},
        headers={"X-CSRFToken": token},
    )
    assert exported.status_code == 200, exported.text[:300]
    return exported.content


def by_sku(content: bytes) -> dict[str, dict[str, str]]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    header = [name.lower() for name in rows[0]]
    return {row[header.index("sku")]: dict(zip(header, row, strict=True)) for row in rows[1:]}


def test_csv_text_cells_that_would_run_as_formulas_get_a_leading_quote(
    admin: TestClient,
) -> None:
    content = export(admin, "csv")
    assert b'\'=HYPERLINK(""http://evil.example"",""x"")' in content
    rows = by_sku(content)
    assert (rows["F-HYPERLINK"]["name"], rows["F-HYPERLINK"]["description"]) == (
        "'" + HYPERLINK,
        "'@SUM(1+1)",
    )
    assert (rows["F-PLUS"]["name"], rows["F-PLUS"]["description"]) == ("'+1+1", "'-2+3")
    assert (rows["F-TAB"]["name"], rows["F-TAB"]["description"]) == ("'\t=1+1", "'\r=1+1")
    # Spreadsheets skip leading spaces before looking for a formula; text that merely holds
    # an equals sign is left alone.
    assert (rows["F-SPACE"]["name"], rows["F-SPACE"]["description"]) == ("'  =1+1", "plain = text")
    # Numbers stay numbers, negative ones too: the decimal column is not text.
    assert (rows["NEGATIVE"]["price"], rows["NEGATIVE"]["stock"]) == ("-5.00", "-3")
    for sku, row in rows.items():
        for column, cell in row.items():
            if column not in ("price", "stock"):
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (sku, column)


def test_the_json_export_keeps_the_text_as_it_is(admin: TestClient) -> None:
    exported = [{k.lower(): v for k, v in row.items()} for row in json.loads(export(admin, "json"))]
    rows = {row["sku"]: row for row in exported}
    assert rows["F-HYPERLINK"]["name"] == HYPERLINK
    assert rows["F-TAB"]["description"] == "\r=1+1"


def test_every_model_list_offers_only_the_spreadsheet_safe_csv_json_and_xlsx() -> None:
    load_view_overrides()
    for mapper in Base.registry.mappers:
        if mapper.class_ in OWN_PAGES:
            continue
        view = AutoModelView.view_class_for(mapper.class_)(mapper.class_)
        formats = {(type(e), e.extension) for e in view.exporters}  # type: ignore[union-attr]
        assert {extension for _, extension in formats} == {"csv", "json", "xlsx"}, view.key
        assert (SpreadsheetSafeCsv, "csv") in formats, view.key
        assert (StreamedXlsx, "xlsx") in formats, view.key


@pytest.mark.parametrize(
    ("typed", "saved"),
    [
        ("Umsätze €", "Umsatze"),
        ("日本", "product"),  # nothing plain left: the model's name
        ("a\x00b\x01c\x7fd", "abcd"),
        ('q"u\\o/te\r\nd', "quoted"),
        ("  ..hidden  name..  ", "hidden name"),
        ("x" * 300, "x" * 100),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_an_instant_export_is_saved_under_the_typed_name_made_plain(
    admin: TestClient, fmt: str, typed: str, saved: str
) -> None:
    token = csrf_token(admin.get("/admin/product/list").text)
    exported = admin.post(
        "/admin/_api/product/action?name=export",
        data={"csrftoken": token, "format": fmt, "scope": "page", "filename": typed},
        headers={"X-CSRFToken": token},
    )
    assert exported.status_code == 200, exported.text[:300]
    assert exported.headers["content-disposition"] == f'attachment; filename="{saved}.{fmt}"'
