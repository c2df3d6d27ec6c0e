"""The read-only audit page: newest first, filters as plain links, History from every record."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.models import AuditEntry
from tests.admin.test_time_zones import NNBSP, choose
from tests.audit.conftest import add_entries, create_lamp, product_form, row_pks, rows, scalars
from tests.conftest import add_user, csrf_token, sign_in


def at(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 12, 0, tzinfo=dt.UTC)


def entry(when: dt.datetime, user: str, action: str, model: str | None = None, pk: int = 1) -> Any:
    subject = {"model": model, "object_pk": str(pk), "object_label": f"{model} {pk}"}
    return {
        "at": when,
        "username": user,
        "client_address": "198.51.100.9",
        "action": action,
        **(subject if model else {}),
        "changes": {"price": {"old": "12.50", "new": "15.00"}} if action == "edit" else None,
    }


LOG = [
    entry(at(1, 10), "alice", "sign-in"),
    entry(at(2, 10), "alice", "create", "product"),
    entry(at(2, 11), "bob", "edit", "product"),
    entry(at(2, 12), "bob", "create", "tag", pk=3),
    entry(at(3, 10), "alice", "delete", "product"),
    entry(at(3, 11), "bob", "sign-in-failed"),
]


@pytest.fixture
def log(sqlite_url: str, admin_client: TestClient) -> list[int]:
    """The LOG's ids, after the entry of the admin's own sign-in."""
    return add_entries(sqlite_url, *LOG)


def listed(client: TestClient, **params: str) -> list[int]:
    response = client.get("/admin/audit/list", params={"page_size": "100", **params})
    assert response.status_code == 200, response.text[-300:]
    return row_pks(response.text)


def test_the_log_lists_every_entry_newest_first_with_its_columns(
    admin_client: TestClient, log: list[int]
) -> None:
    html = admin_client.get("/admin/audit/list").text
    headers = re.findall(r'<th scope="col" data-column="([^"]+)"', html)
    assert headers == [
        "at",
        "username",
        "client_address",
        "action",
        "model",
        "object_pk",
        "object_label",
    ]
    assert row_pks(html) == sorted([*log, log[0] - 1], reverse=True)  # with the admin's sign-in
    assert "sign-in-failed" in html
    assert "198.51.100.9" in html


def test_the_contract_address_opens_the_list_keeping_its_filter(
    admin_client: TestClient, log: list[int]
) -> None:
    response = admin_client.get(
        "/admin/audit", params={"filter": "action__eq=edit"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/audit/list?filter=")
    assert row_pks(admin_client.get(response.headers["location"]).text) == [log[2]]


def test_the_contract_address_asks_a_stranger_to_sign_in(app: Starlette) -> None:
    with TestClient(app, base_url="https://testserver") as stranger:
        response = stranger.get("/admin/audit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("username__eq=alice", [4, 1, 0]),
        ("model__eq=product", [4, 2, 1]),
        ("action__eq=create", [3, 1]),
        ("at__between=2026-02-01..2026-02-28", [3, 2, 1]),
        ("username__eq=bob AND at__between=2026-02-01..2026-02-28", [3, 2]),
    ],
    ids=["user", "model", "action", "date-range", "user-and-date-range"],
)
def test_filters_by_user_model_action_and_date_range(
    admin_client: TestClient, log: list[int], expression: str, expected: list[int]
) -> None:
    assert listed(admin_client, filter=expression) == [log[i] for i in expected]


def test_nobody_writes_history_by_url_or_post(
    admin_client: TestClient, sqlite_url: str, log: list[int]
) -> None:
    token = csrf_token(admin_client.get("/admin/audit/list").text)
    form = {"csrftoken": token, "action": "forged", "username": "mallory"}
    pk = str(log[2])
    refusals = [
        admin_client.get("/admin/audit/create"),
        admin_client.post("/admin/audit/create", data=form),
        admin_client.get("/admin/audit/edit", params={"pk": pk}),
        admin_client.post("/admin/audit/edit", params={"pk": pk}, data=form),
        admin_client.post(
            "/admin/_api/audit/row-action",
            params={"pk": pk, "name": "delete"},
            headers={"X-CSRFToken": token},
        ),
        admin_client.post(
            "/admin/_api/audit/action",
            params={"name": "delete", "pks": pk},
            headers={"X-CSRFToken": token},
        ),
        admin_client.post(
            "/admin/_api/audit/inline-edit",
            params={"pk": pk, "field": "action"},
            data={**form, "action": "forged"},
            headers={"X-CSRFToken": token},
        ),
        admin_client.post(
            "/admin/_api/audit/import",
            files={"file": ("log.csv", b"action,username\nforged,mallory\n", "text/csv")},
            data={"csrftoken": token, "format": "csv"},
            headers={"X-CSRFToken": token},
        ),
    ]
    assert [r.status_code for r in refusals] == [403] * len(refusals)
    count = select(func.count()).select_from(AuditEntry)
    assert scalars(sqlite_url, count) == [len(log) + 1]
    assert scalars(sqlite_url, select(AuditEntry.action).where(AuditEntry.id == log[2])) == ["edit"]
    html = admin_client.get("/admin/audit/list").text
    assert "/admin/audit/create" not in html
    assert "/admin/audit/edit" not in html


def test_an_entrys_detail_shows_its_diff_old_to_new(
    admin_client: TestClient, log: list[int]
) -> None:
    html = admin_client.get("/admin/audit/detail", params={"pk": str(log[2])}).text
    row = re.search(r'<tr data-field="price">(.*?)</tr>', html, flags=re.S)
    assert row, "no diff row for price"
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1])]
    assert cells == ["price", "12.50", "→", "15.00"]
    assert "data-audit-history" not in html  # the log's own entries have no History


def diff_cells(html: str, name: str) -> tuple[str, str]:
    row = re.search(rf'<tr data-field="{name}">(.*?)</tr>', html, flags=re.S)
    assert row, f"no diff row for {name}"
    old = re.search(r'class="audit-old">(.*?)</td>', row[1], flags=re.S)
    new = re.search(r'class="audit-new">(.*?)</td>', row[1], flags=re.S)
    assert old and new
    return old[1].strip(), new[1].strip()


def test_an_entrys_date_times_are_shown_in_the_readers_zone_with_the_zone_named(
    admin_client: TestClient, sqlite_url: str
) -> None:
    choose(sqlite_url, "admin", "Europe/Paris")
    admin_client.app.state.cache.drop_everything()  # type: ignore[attr-defined]  # behind its back
    changes = {
        "shipped_at": {"old": None, "new": "2026-03-05T12:00:00"},  # a naive column: UTC
        "SALE_ENDS_AT": {"old": "2026-12-24T17:00:00+00:00", "new": "2026-07-01T06:30:15-04:00"},
        "SALE_ENDED_AT": {"old": "(default) 2026-12-01T23:59:00+00:00", "new": "(default) soon"},
        "available_from": {"old": "2026-03-05", "new": "2026-03-06"},  # a date: no zone
        "note": {"old": "2026-03-05T12:00", "new": "2026-02-30T12:00:00"},  # text, as typed
    }
    [pk] = add_entries(sqlite_url, {**entry(at(3, 5), "bob", "edit", "order"), "changes": changes})

    html = admin_client.get("/admin/audit/detail", params={"pk": str(pk)}).text

    assert diff_cells(html, "shipped_at")[1] == (
        '<time datetime="2026-03-05T12:00:00Z" title="Europe/Paris">'
        f"Mar 5, 2026, 1:00{NNBSP}PM CET</time>"
    )
    old, new = diff_cells(html, "SALE_ENDS_AT")
    assert old.endswith(f'title="Europe/Paris">Dec 24, 2026, 6:00{NNBSP}PM CET</time>')
    assert new.endswith(f'title="Europe/Paris">Jul 1, 2026, 12:30{NNBSP}PM CEST</time>')
    old, new = diff_cells(html, "SALE_ENDED_AT")  # a setting reset to its default
    assert old.startswith('(default) <time datetime="2026-12-01T23:59:00Z" title="Europe/Paris">')
    assert old.endswith(f">Dec 2, 2026, 12:59{NNBSP}AM CET</time>") and new == "(default) soon"
    assert diff_cells(html, "available_from") == ("2026-03-05", "2026-03-06")
    assert diff_cells(html, "note") == ("2026-03-05T12:00", "2026-02-30T12:00:00")


def history_link(html: str) -> str:
    match = re.search(r'data-audit-history href="([^"]+)"', html)
    assert match, "no History link on the page"
    return unescape(match.group(1))


def test_every_records_detail_links_to_its_own_history(
    admin_client: TestClient, sqlite_url: str
) -> None:
    first = create_lamp(admin_client, sqlite_url, [])
    create_lamp(admin_client, sqlite_url, [], sku="LAMP-2")
    form = product_form(admin_client, f"/admin/product/edit?pk={first}", [], name="Renamed")
    assert admin_client.post(f"/admin/product/edit?pk={first}", data=form).status_code == 200

    link = history_link(admin_client.get("/admin/product/detail", params={"pk": first}).text)
    assert link.startswith("https://testserver/admin/audit/list?filter=")
    theirs = (
        select(AuditEntry.id, AuditEntry.action)
        .where(AuditEntry.model == "product", AuditEntry.object_pk == first)
        .order_by(AuditEntry.id.desc())
    )
    newest_first = rows(sqlite_url, theirs)
    assert [action for _, action in newest_first] == ["edit", "create"]
    assert row_pks(admin_client.get(link).text) == [pk for pk, _ in newest_first]


def test_history_is_offered_only_to_those_who_may_read_the_log(
    app: Starlette, sqlite_url: str
) -> None:
    add_entries(sqlite_url, entry(at(2, 10), "alice", "create", "user", pk=1))
    add_user(sqlite_url, "clerk", superuser=False, permissions=["user:view"])
    add_user(sqlite_url, "auditor", superuser=False, permissions=["user:view", "audit:view"])
    with TestClient(app, base_url="https://testserver") as clerk:
        sign_in(clerk, "clerk")
        assert "data-audit-history" not in clerk.get("/admin/user/detail?pk=1").text
        assert clerk.get("/admin/audit/list").status_code == 403
    with TestClient(app, base_url="https://testserver") as auditor:
        sign_in(auditor, "auditor")
        link = history_link(auditor.get("/admin/user/detail?pk=1").text)
        assert len(row_pks(auditor.get(link).text)) == 1


def test_filters_work_on_each_backend(client: TestClient, database_url: str) -> None:
    ids = add_entries(database_url, *LOG)
    expression = "username__eq=bob AND at__between=2026-02-01..2026-02-28T23:59"
    assert listed(client, filter=expression) == [ids[3], ids[2]]
