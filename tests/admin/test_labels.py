"""What people read: enum values by label, empty values as a dash, models named in English,
several values as chips, related records by name in exports (docs/reference.md, "Admin")."""

from __future__ import annotations

import csv
import enum
import io
import json
import re

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.models import CustomerStats, OrderStatus
from app.models.labels import choice_label, choices_of, model_label, plural_label
from tests.admin.test_model_views import fill_shop, run_sql
from tests.conftest import SignedIn, add_user, csrf_token, list_cells


@pytest.fixture
def shop(sqlite_url: str, admin_client: TestClient) -> TestClient:
    fill_shop(sqlite_url, customers=1, orders_each=1)
    run_sql(sqlite_url, "UPDATE orders SET status = 'delivered'")
    return admin_client


def text_of(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def cell(html: str, column: str) -> str:
    """The column's cell of the list's first row, as text."""
    first = next(iter(list_cells(html).values()))
    return text_of(first[column]).strip()


def export(client: TestClient, key: str, fmt: str) -> str:
    token = csrf_token(client.get(f"/admin/{key}/list").text)
    exported = client.post(
        f"/admin/_api/{key}/action?name=export",
        data={"csrftoken": token, "format": fmt, "scope": "page"},
        headers={"X-CSRFToken": token},
    )
    assert exported.status_code == 200, exported.text[:300]
    return exported.text


class Shade(enum.Enum):
    DARK_BLUE = "db"
    RED = "r"

    @property
    def label(self) -> str | None:
        return "Scarlet" if self is Shade.RED else None


def test_enum_values_are_labelled_from_their_names_unless_they_declare_a_label() -> None:
    assert choice_label(OrderStatus.DELIVERED) == "Delivered"
    assert choices_of(Shade) == [("db", "Dark blue"), ("r", "Scarlet")]


def test_models_are_named_in_english_or_as_they_declare() -> None:
    assert (model_label(CustomerStats), plural_label(CustomerStats)) == (
        "Customer Stats",
        "Customer Stats",
    )

    class Person:
        __label__ = "Person"
        __plural__ = "People"

    assert (model_label(Person), plural_label(Person)) == ("Person", "People")


def test_a_status_reads_delivered_in_the_list_detail_form_and_filter(shop: TestClient) -> None:
    listed = shop.get("/admin/order/list").text
    assert cell(listed, "status") == "Delivered"
    # The list's filter form, fetched as its panel is opened (templates/admin/filter_panel.html).
    assert 'hx-get="/admin/order/filters"' in listed
    filters = shop.get("/admin/order/filters").text
    assert re.search(r'<option value="delivered"[^>]*>\s*Delivered\s*</option>', filters)
    detail = text_of(shop.get("/admin/order/detail?pk=1").text)
    assert "Delivered" in detail and "DELIVERED" not in detail
    form = shop.get("/admin/order/edit?pk=1").text
    assert re.search(r'<option value="delivered"\s+selected>\s*Delivered\s*</option>', form)
    assert "DELIVERED" not in text_of(form)
    chips = text_of(shop.get("/admin/order/list?status__in=delivered,paid").text)
    assert "Status is one of Delivered, Paid" in chips


def test_an_empty_value_is_a_dash_not_null(shop: TestClient) -> None:
    listed = shop.get("/admin/order/list").text
    assert cell(listed, "shipped_at") == "—"
    assert "-null-" not in listed
    assert "-null-" not in shop.get("/admin/order/detail?pk=1").text


def test_pickers_ask_in_english_for_one_value_or_several(shop: TestClient) -> None:
    assert 'data-placeholder="Choose a status"' in shop.get("/admin/order/create").text
    user_form = shop.get("/admin/user/create").text
    assert 'data-placeholder="Choose permissions"' in user_form
    assert "Select a Permissions" not in user_form


def test_permissions_are_shown_as_chips_not_a_python_list(shop: TestClient) -> None:
    token = csrf_token(shop.get("/admin/group/create").text)
    created = shop.post(
        "/admin/group/create",
        data={"csrftoken": token, "name": "clerks", "permissions": ["order:view", "order:edit"]},
    )
    assert created.status_code == 200, created.text[-500:]
    detail = shop.get("/admin/group/detail?pk=1").text
    chips = re.findall(r'<span class="badge bg-blue-lt">([^<]+)</span>', detail)
    assert sorted(chips) == ["order:edit", "order:view"]
    assert "[&#39;" not in detail and "['" not in text_of(detail)
    listed = shop.get("/admin/group/list").text
    assert "[&#39;" not in listed
    rows = list(csv.DictReader(io.StringIO(export(shop, "group", "csv"))))
    assert rows[0]["Permissions"] in ("order:view, order:edit", "order:edit, order:view")


def test_exports_give_labels_and_related_records_by_name_and_key(shop: TestClient) -> None:
    rows = list(csv.DictReader(io.StringIO(export(shop, "order", "csv"))))
    assert [(r["Status"], r["Customer"], r["Customer id"]) for r in rows] == [
        ("Delivered", rows[0]["Customer"], "1")
    ]
    assert re.fullmatch(r"Customer \d+ <customer\d+@example\.com>", rows[0]["Customer"])
    (item,) = json.loads(export(shop, "order", "json"))
    assert (item["Status"], item["Customer"], item["Customer id"]) == (
        "Delivered",
        rows[0]["Customer"],
        1,
    )


def menu_links(html: str) -> dict[str, str]:
    """The sidebar's entries: label to address."""
    menu = html[html.index('id="sidebar-menu"') :]
    menu = menu[: menu.index("</aside>")]
    found = re.findall(
        r'href="([^"]+)">.*?<span class="nav-link-title">([^<]+)</span>', menu, flags=re.S
    )
    return {label.strip(): href for href, label in found}


def test_notifications_in_the_menu_open_the_inbox_and_internal_tables_stay_out(
    admin_client: TestClient,
) -> None:
    menu = menu_links(admin_client.get("/admin/").text)
    assert menu["Notifications"].endswith("/admin/notifications")
    assert menu["Sent notifications"].endswith("/admin/notification/list")
    assert not any("notification-read" in href for href in menu.values())
    # Out of the menu, still reachable by its address.
    assert admin_client.get("/admin/notification-read/list").status_code == 200


def test_save_and_add_another_is_offered_only_to_who_may_create(
    sqlite_url: str, app: Starlette, signed_in: SignedIn
) -> None:
    fill_shop(sqlite_url, customers=1, orders_each=1)
    add_user(sqlite_url, "editor", superuser=False, permissions=["order:view", "order:edit"])
    add_user(
        sqlite_url,
        "clerk",
        superuser=False,
        permissions=["order:view", "order:edit", "order:create"],
    )
    editor = signed_in(app, "editor").get("/admin/order/edit?pk=1")
    assert editor.status_code == 200
    assert 'name="_continue_editing"' in editor.text and 'name="_add_another"' not in editor.text
    clerk = signed_in(app, "clerk").get("/admin/order/edit?pk=1").text
    assert 'name="_add_another"' in clerk
