"""Admin create, edit, delete and actions leave exact audit entries, in the change's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select
from starlette.testclient import TestClient

from app.audit.diff import MASK
from app.models import AuditEntry, Product, User
from tests.audit.conftest import (
    CLIENT_ADDRESS,
    CREATED_AT,
    create_lamp,
    entries,
    is_postgres,
    product_form,
    scalars,
)
from tests.conftest import add_user, csrf_token, delete_seen, seen_of


class InjectedFault(Exception):
    """Raised on purpose inside the database work of one request."""


def row_action(client: TestClient, model: str, pk: str, name: str, **form: str) -> Any:
    token = csrf_token(client.get(f"/admin/{model}/list").text)
    if name == "delete":
        form = {**seen_of(client, model, pk), **form}  # as its page showed the row
    return client.post(
        f"/admin/_api/{model}/row-action",
        params={"pk": pk, "name": name},
        data=form,
        headers={"X-CSRFToken": token},
    )


def admin_id(url: str) -> int:
    return int(scalars(url, select(User.id).where(User.username == "admin"))[0])


def who(url: str) -> dict[str, Any]:
    return {"username": "admin", "user_id": admin_id(url), "client_address": CLIENT_ADDRESS}


def created_at(url: str) -> str:
    # SQLite keeps no time zone: the value comes back naive, as the admin stored it.
    return CREATED_AT if is_postgres(url) else CREATED_AT.removesuffix("+00:00")


@contextmanager
def failing(client: TestClient, engine_event: str, when: str = "") -> Iterator[None]:
    """The app's database raises InjectedFault on `engine_event` (for SQL containing `when`)."""

    def fault(*args: Any) -> None:
        statement = next((a for a in args if isinstance(a, str)), "")
        if when in statement:
            raise InjectedFault(engine_event)

    engine = client.app.state.engine.sync_engine  # type: ignore[attr-defined]
    event.listen(engine, engine_event, fault)
    try:
        yield
    finally:
        event.remove(engine, engine_event, fault)


def count(url: str, model: type[Any]) -> int:
    return int(scalars(url, select(func.count()).select_from(model))[0])


def test_create_edit_and_delete_leave_exact_entries_with_their_diffs(
    client: TestClient, database_url: str, tag_ids: dict[str, str]
) -> None:
    url = database_url
    pk = create_lamp(client, url, [tag_ids["red"], tag_ids["blue"]])
    label = "Desk lamp (LAMP-1)"
    object_ = {"model": "product", "object_pk": pk, "object_label": label}
    created = {
        "sku": {"old": None, "new": "LAMP-1"},
        "name": {"old": None, "new": "Desk lamp"},
        "category": {"old": None, "new": "home"},
        "price": {"old": None, "new": "12.50"},
        "stock": {"old": None, "new": 3},
        "available_from": {"old": None, "new": "2026-12-01"},
        "description": {"old": None, "new": "Warm light"},
        "specs": {"old": None, "new": {"watts": 40}},
        "tags": {"old": None, "new": ["blue", "red"]},
    }
    [entry] = entries(url)
    stamped = entry["changes"].pop("created_at")  # the database's clock: present, not typed
    assert stamped["old"] is None and stamped["new"]
    assert [entry] == [{"action": "create", **object_, **who(url), "changes": created}]

    form = product_form(
        client, f"/admin/product/edit?pk={pk}", [tag_ids["blue"], tag_ids["green"]], price="15"
    )
    response = client.post(f"/admin/product/edit?pk={pk}", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text[-500:]
    edited = {
        "price": {"old": "12.50", "new": "15.00"},
        "tags": {"old": ["blue", "red"], "new": ["blue", "green"]},
    }
    assert entries(url)[1:] == [{"action": "edit", **object_, **who(url), "changes": edited}]

    assert row_action(client, "product", pk, "delete").status_code == 200
    deleted = {field: {"old": change["new"], "new": None} for field, change in created.items()}
    deleted |= {field: {"old": change["new"], "new": None} for field, change in edited.items()}
    [gone] = entries(url)[2:]
    assert gone["changes"].pop("created_at")["old"]  # the stamp, whatever its text form
    assert [gone] == [{"action": "delete", **object_, **who(url), "changes": deleted}]
    assert count(url, Product) == 0


def test_a_batch_delete_records_each_record(
    client: TestClient, database_url: str, tag_ids: dict[str, str]
) -> None:
    first = create_lamp(client, database_url, [])
    second = create_lamp(client, database_url, [tag_ids["green"]], sku="LAMP-2", name="Floor lamp")
    page = client.get("/admin/product/list").text
    response = client.post(
        "/admin/_api/product/action",
        params=[("name", "delete"), ("pks", first), ("pks", second)],
        data={"seen": delete_seen(page)},
        headers={"X-CSRFToken": csrf_token(page)},
    )
    assert response.status_code == 200, response.text
    deletes = [e for e in entries(database_url) if e["action"] == "delete"]
    assert sorted((e["object_pk"], e["object_label"]) for e in deletes) == sorted(
        [(first, "Desk lamp (LAMP-1)"), (second, "Floor lamp (LAMP-2)")]
    )
    tags = {e["object_pk"]: e["changes"]["tags"] for e in deletes}
    assert tags == {first: {"old": [], "new": None}, second: {"old": ["green"], "new": None}}


def test_saving_without_changes_records_an_edit_with_no_fields(
    client: TestClient, database_url: str, tag_ids: dict[str, str]
) -> None:
    pk = create_lamp(client, database_url, [tag_ids["red"]])
    form = product_form(client, f"/admin/product/edit?pk={pk}", [tag_ids["red"]])
    assert client.post(f"/admin/product/edit?pk={pk}", data=form).status_code == 200
    assert [(e["action"], e["changes"]) for e in entries(database_url)][1:] == [("edit", {})]


def test_a_password_change_is_recorded_masked(client: TestClient, database_url: str) -> None:
    add_user(database_url, "bob", superuser=False)
    bob = str(scalars(database_url, select(User.id).where(User.username == "bob"))[0])
    hashes_before = scalars(database_url, select(User.password_hash))
    response = row_action(
        client,
        "user",
        bob,
        "set_password",
        password="a-brand-new-passphrase",
        password_again="a-brand-new-passphrase",
    )
    assert response.status_code == 200, response.text
    (entry,) = entries(database_url)
    assert entry == {
        "action": "set_password",
        "model": "user",
        "object_pk": bob,
        "object_label": "bob",
        **who(database_url),
        "changes": {
            "password_hash": {"old": MASK, "new": MASK},
            "session_epoch": {"old": 0, "new": 1},
        },
    }
    for secret in [*hashes_before, *scalars(database_url, select(User.password_hash))]:
        assert secret not in str(entry)


def test_a_new_users_password_hash_is_recorded_masked(
    client: TestClient, database_url: str
) -> None:
    html = client.get("/admin/user/create").text
    form = {
        "csrftoken": csrf_token(html),
        "username": "carol",
        "email": "carol@example.com",
        "password": "carols-long-passphrase",
        "password_again": "carols-long-passphrase",
        "is_active": "on",
    }
    response = client.post("/admin/user/create", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text[-500:]
    (entry,) = entries(database_url)
    assert (entry["action"], entry["model"], entry["object_label"]) == ("create", "user", "carol")
    assert entry["changes"]["password_hash"] == {"old": None, "new": MASK}
    assert entry["changes"]["username"] == {"old": None, "new": "carol"}
    (stored,) = scalars(database_url, select(User.password_hash).where(User.username == "carol"))
    assert stored not in str(entry)
    assert "password" not in entry["changes"]  # the form's plain-text field is no column


def test_deleting_ones_own_account_is_recorded_by_name(
    client: TestClient, database_url: str
) -> None:
    me = str(admin_id(database_url))
    assert row_action(client, "user", me, "delete").status_code == 200
    (entry,) = entries(database_url)
    assert (entry["action"], entry["object_pk"], entry["object_label"]) == ("delete", me, "admin")
    assert (entry["username"], entry["user_id"]) == ("admin", None)  # the row it named is gone
    assert scalars(database_url, select(User.id)) == []


def test_a_change_the_database_refuses_leaves_no_entry(
    client: TestClient, database_url: str
) -> None:
    create_lamp(client, database_url, [])
    form = product_form(client, "/admin/product/create", [], name="Same SKU")
    refused = client.post("/admin/product/create", data=form)
    assert refused.status_code == 422  # a field error, not a 500 (on SQLite and PostgreSQL)
    assert 'id="sku-error"' in refused.text and "already has this value" in refused.text
    assert 'value="Same SKU"' in refused.text  # what was typed is kept
    assert [e["action"] for e in entries(database_url)] == ["create"]
    assert count(database_url, Product) == 1


def test_a_failed_commit_keeps_neither_the_change_nor_its_entry(
    client: TestClient, database_url: str, request: pytest.FixtureRequest
) -> None:
    pk = create_lamp(client, database_url, [])
    form = product_form(client, f"/admin/product/edit?pk={pk}", [], price="99")
    with failing(client, "commit"), pytest.raises(InjectedFault):
        client.post(f"/admin/product/edit?pk={pk}", data=form)
    assert [e["action"] for e in entries(database_url)] == ["create"]
    assert [str(p) for p in scalars(database_url, select(Product.price))] == ["12.50"]


def test_a_failed_audit_write_undoes_the_change(
    client: TestClient, database_url: str, request: pytest.FixtureRequest
) -> None:
    form = product_form(client, "/admin/product/create", [])
    fault = failing(client, "before_cursor_execute", "INSERT INTO audit_entry")
    with fault, pytest.raises(InjectedFault):
        client.post("/admin/product/create", data=form)
    assert count(database_url, Product) == 0
    assert entries(database_url) == []
    assert count(database_url, AuditEntry) == 1  # the sign-in, before the fault
