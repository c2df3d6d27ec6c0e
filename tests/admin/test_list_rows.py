"""Our list row (templates/admin/model_list.html): the stock row's links, cells and action hooks."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette_admin.types import RequestAction

from app.admin.list_rows import RowLinks, plain_key, without_origin
from app.admin.model_view import AutoModelView
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import Order
from app.models.shop import OrderStatus
from tests import factories
from tests.conftest import add_user, list_cells, make_config, sign_in


def fill_shop(url: str) -> None:
    async def work() -> None:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                await factories.shop(session, customers=2, orders_each=2)
        finally:
            await engine.dispose()

    anyio.run(work)


@contextmanager
def signed_in(app: Starlette, url: str) -> Iterator[TestClient]:
    fill_shop(url)
    add_user(url, "admin")
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "admin")
        yield client


@pytest.fixture
def shop_client(sqlite_url: str, app: Starlette) -> Iterator[TestClient]:
    with signed_in(app, sqlite_url) as client:
        yield client


def rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-sa-pk="(\d+)"(.*?)</tr>', page, flags=re.S))


def action_href(row: str, name: str) -> str:
    match = re.search(rf'<a [^>]*data-sa-name="{name}"[^>]*href="([^"]*)"', row)
    assert match, f"no {name} action in the row"
    return html.unescape(match.group(1))


def test_each_row_links_to_its_record_and_edit_pages_in_its_first_cell_and_icons(
    shop_client: TestClient,
) -> None:
    page = shop_client.get("/admin/order/list", params={"page_size": 10, "status__in": "paid"})
    listed = rows(page.text)
    assert listed
    for pk, row in listed.items():
        detail = f"/admin/order/detail?pk={pk}"
        # The list to return to is added as a link is followed (static/starboard.js), not
        # written into every link of every row.
        assert "_origin" not in row
        # A click anywhere on the row follows its first cell's link (static/starboard.js).
        assert 'class="row-clickable"' in row and "data-sa-href" not in row
        first = list_cells(page.text)[pk]["id"]
        assert first == f'<a href="{detail}">{pk}</a>'  # the record, without a "view" icon
        assert 'data-sa-name="view"' not in row
        assert action_href(row, "edit") == detail.replace("/detail?", "/edit?")
        assert re.search(r'href="/admin/customer/detail\?pk=\d+"', row)
    edit = shop_client.get(action_href(row, "edit"))
    assert edit.status_code == 200
    assert 'name="total"' in edit.text


def test_a_rows_delete_takes_the_pages_one_confirmation_and_empty_cells_say_so(
    shop_client: TestClient,
) -> None:
    shop_client.get("/admin/order/list")  # drawn, then kept (frame_parts.py): the copy stays
    page = shop_client.get("/admin/order/list").text
    pk, row = next(iter(rows(page).items()))
    delete = re.search(r'<a [^>]*data-sa-name="delete"[^>]*>', row)
    assert delete
    assert delete.group(0) == '<a title="Delete" data-sa-name="delete" href="#">'
    (whole,) = re.findall(r'<a hidden data-sb-row-action="delete"[^>]*>', page)
    assert 'data-bs-target="#modal-action"' in whole
    assert 'data-sa-confirmation="Are you sure you want to delete this item?"' in whole
    assert 'data-sa-is-row-action="true"' in whole
    assert "name=&#34;seen&#34; value=&#34;&#34;" in whole  # the row's stamp goes in here
    assert re.fullmatch(r"[\w-]{24}", re.search(r'data-sb-seen="([^"]+)"', row).group(1))  # type: ignore[union-attr]
    assert re.fullmatch(
        r'\s*<span class="text-muted[^"]*"[^>]*>—</span>\s*', list_cells(page)[pk]["shipped_at"]
    )


def test_row_links_fill_in_any_key_as_the_library_would_without_the_list_to_return_to(
    shop_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[RowLinks] = []
    row_links = AutoModelView.row_links

    def keep(view: AutoModelView, request: Any) -> RowLinks:
        built.append(row_links(view, request))
        return built[-1]

    monkeypatch.setattr(AutoModelView, "row_links", keep)
    shop_client.get("/admin/order/list", params={"q": "a b", "page_size": 10})
    links = built[0]
    assert set(links.patterns) == {"view", "edit"}
    for pk in (7, "a b", "x&y=z", "100%", "é/ü", "+", "\x00key\x00"):
        for name in ("view", "edit"):
            library = str(links.handlers[name](links.request, pk))
            assert "_origin=" in library
            assert links.href(name, pk) == without_origin(library)
            assert "_origin" not in links.href(name, pk)


def test_other_link_actions_are_asked_for_every_row() -> None:
    view = SimpleNamespace(_row_actions_handlers={"open": lambda request, pk: f"/open/{pk}"})
    links = RowLinks(view, request=None)  # type: ignore[arg-type]
    assert links.patterns == {}
    assert links.href("open", 3) == "/open/3"


class InlineEditedOrders(AutoModelView):
    inline_editable_fields = ["status"]


def test_with_inline_editing_on_rows_are_the_ones_its_endpoint_renders(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(AutoModelView._overrides, Order, InlineEditedOrders)
    with signed_in(create_app(make_config(sqlite_url)), sqlite_url) as client:
        row = next(iter(rows(client.get("/admin/order/list").text).values()))
    assert 'data-sa-inline-editable="1" data-sa-field="status"' in row
    assert 'data-column="id"' in row  # the library's own row


class ReworkedOrders(AutoModelView):
    """Orders whose status is read by a getter and whose total is formatted for lists."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields:
            if field.name == "status":
                field.getter = lambda request, obj: OrderStatus.REFUNDED
            if field.name == "total":
                field.formatter = {RequestAction.LIST: lambda request, value: f"total of {value}"}


def test_a_fields_getter_and_list_formatter_still_make_its_cells(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(AutoModelView._overrides, Order, ReworkedOrders)
    with signed_in(create_app(make_config(sqlite_url)), sqlite_url) as client:
        page = client.get("/admin/order/list").text
    shown = rows(page)
    assert shown, "no rows listed"
    for row in shown.values():
        assert re.search(r"total of \d+\.\d\d", row), row
        assert "Refunded" in row
        assert not any(status in row for status in ("Pending", "Paid", "Shipped", "Delivered"))


def test_a_list_longer_than_its_page_offers_to_select_every_matching_row(
    shop_client: TestClient, sqlite_url: str
) -> None:
    whole = shop_client.get("/admin/order/list", params={"page_size": 10}).text
    assert len(rows(whole)) == 4
    assert 'id="select-all-banner"' not in whole  # one page holds them all
    for _ in range(2):
        fill_shop(sqlite_url)
    page = shop_client.get("/admin/order/list", params={"page_size": 10}).text
    assert len(rows(page)) == 10
    banner = re.search(r'<div id="select-all-banner".*?</div>', page, flags=re.S)
    assert banner, "no select-all banner over a list with more rows than its page"
    # The hooks the library's list script shows, hides and listens on.
    for hook in (
        "select-all-banner",
        "select-all-banner-page",
        "select-all-matching-link",
        "select-all-banner-all",
        "clear-select-all-link",
    ):
        assert f'data-sa-hook="{hook}"' in banner.group(0)
    assert "All 10 rows on this page are selected." in banner.group(0)
    assert "Select all 12 rows matching the current filter." in banner.group(0)


def test_a_list_with_no_rows_says_so_across_its_columns(shop_client: TestClient) -> None:
    page = shop_client.get("/admin/order/list", params={"status__in": "refunded,cancelled"})
    body = re.search(r"<tbody>(.*?)</tbody>", page.text, flags=re.S)
    assert body and not rows(body.group(1))
    empty = re.search(r'<td colspan="(\d+)"[^>]*>\s*No data\s*</td>', body.group(1))
    assert empty, body.group(1)
    header_cells = re.search(r"<thead>(.*?)</thead>", page.text, flags=re.S)
    assert header_cells and int(empty.group(1)) == header_cells.group(1).count("<th ")


class KeyedByGetterOrders(AutoModelView):
    """Orders whose key is read through a getter (ten times the id, to be told apart)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pk_field.getter = lambda request, obj: obj.id * 10


def test_rows_read_a_plain_integer_key_directly_and_any_other_key_the_librarys_way(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row's key is the id attribute read as is (list_rows.py plain_key) only where the
    library's own reading would give the same; a key field with a getter keeps its getter."""
    app = create_app(make_config(sqlite_url))
    with signed_in(app, sqlite_url) as client:
        plain = rows(client.get("/admin/order/list").text)
    views = {str(view.key): view for view in app.state.admin._views if hasattr(view, "key")}
    assert plain_key(views["order"]) == "id"
    assert sorted(plain) == ["1", "2", "3", "4"]

    monkeypatch.setitem(AutoModelView._overrides, Order, KeyedByGetterOrders)
    with TestClient(create_app(make_config(sqlite_url)), base_url="https://testserver") as client:
        sign_in(client, "admin")
        by_getter = rows(client.get("/admin/order/list").text)
    assert sorted(by_getter) == ["10", "20", "30", "40"]
    assert all('href="/admin/order/detail?pk=' in row for row in by_getter.values())
