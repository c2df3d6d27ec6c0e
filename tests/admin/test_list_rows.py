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

from app.admin.model_view import AutoModelView, RowLinks
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import Order
from app.route_urls import site_path
from tests import factories
from tests.conftest import add_user, make_config, sign_in

BACK_TO_LIST = "_origin=%2Fadmin%2Forder%2Flist%3Fpage_size%3D10"


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


def test_each_row_links_to_its_detail_and_edit_pages_and_back_to_this_list(
    shop_client: TestClient,
) -> None:
    listed = rows(shop_client.get("/admin/order/list", params={"page_size": 10}).text)
    assert listed
    for pk, row in listed.items():
        # Paths: the page's origin is not repeated in every link (docs/architecture.md).
        detail = f"/admin/order/detail?pk={pk}&{BACK_TO_LIST}"
        assert f'data-sa-href="{html.escape(detail)}"' in row  # a click anywhere on the row
        assert action_href(row, "view") == detail
        assert action_href(row, "edit") == detail.replace("/detail?", "/edit?")
        assert re.search(r'href="/admin/customer/detail\?pk=\d+&amp;', row)
    edit = shop_client.get(action_href(row, "edit"))
    assert edit.status_code == 200
    assert 'name="total"' in edit.text


def test_delete_asks_for_confirmation_and_empty_cells_say_so(shop_client: TestClient) -> None:
    row = next(iter(rows(shop_client.get("/admin/order/list").text).values()))
    delete = re.search(r'<a [^>]*data-sa-name="delete"[^>]*>', row)
    assert delete
    assert 'data-bs-target="#modal-action"' in delete.group(0)
    assert 'data-sa-confirmation="Are you sure you want to delete this item?"' in delete.group(0)
    assert 'data-sa-is-row-action="true"' in delete.group(0)
    assert re.search(
        r'data-column="shipped_at"[^>]*>\s*<span class="text-muted[^"]*"[^>]*>—</span>', row
    )


def test_row_links_fill_in_any_key_as_the_library_would(
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
            assert links.href(name, pk) == site_path(links.handlers[name](links.request, pk))


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
    assert 'data-column="id"' in row
