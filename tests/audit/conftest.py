"""An admin on each backend, signed in from a known address, and ways to read the log back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from app.main import create_app
from app.models import AuditEntry, Product, Tag
from tests.conftest import add_user, csrf_token, in_session, make_config, seen_row, sign_in

CLIENT_ADDRESS = "203.0.113.7"
TAGS = ("red", "blue", "green")
CREATED_AT = "2026-11-20T09:30:00+00:00"
COLUMNS = ("action", "model", "object_pk", "object_label", "username", "client_address")


run = in_session  # a committed transaction of its own, outside the app


def scalars(url: str, statement: Any) -> list[Any]:
    async def work(session: Any) -> list[Any]:
        return list((await session.scalars(statement)).all())

    return run(url, work)


def rows(url: str, statement: Any) -> list[tuple[Any, ...]]:
    async def work(session: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in (await session.execute(statement)).all()]

    found: list[tuple[Any, ...]] = run(url, work)
    return found


def entries(url: str, *, changes_only: bool = True) -> list[dict[str, Any]]:
    """The log oldest first, each entry as a dict of its columns (sign-ins left out)."""
    statement = select(AuditEntry).order_by(AuditEntry.id)
    if changes_only:
        statement = statement.where(AuditEntry.model.is_not(None))
    return [
        {name: getattr(entry, name) for name in (*COLUMNS, "user_id", "changes")}
        for entry in scalars(url, statement)
    ]


def add_entries(url: str, *values: dict[str, Any]) -> list[int]:
    async def work(session: Any) -> list[int]:
        rows = [AuditEntry(**v) for v in values]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]

    ids: list[int] = run(url, work)
    return ids


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def row_pks(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-sa-pk="(\d+)"', html)]


def input_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*?value="([^"]*)"', html, flags=re.S)
    assert match, f"no {name} input on the page"
    return unescape(match.group(1))


def product_form(client: TestClient, page: str, tags: list[str], **changes: str) -> dict[str, Any]:
    """What the product form posts: the page's CSRF token and a lamp's values."""
    html = client.get(page).text
    form: dict[str, Any] = {
        "csrftoken": csrf_token(html),
        "sku": "LAMP-1",
        "name": "Desk lamp",
        "category": "home",
        "price": "12.5",
        "stock": "3",
        "available_from": "2026-12-01",
        "description": "Warm light",
        "specs": '{"watts": 40}',
        "tags": tags,
    }
    if 'name="seen_row"' in html:  # an edit form
        form["seen_row"] = seen_row(html)
    return {**form, **changes}


def create_lamp(client: TestClient, url: str, tags: list[str], **changes: str) -> str:
    form = product_form(client, "/admin/product/create", tags, **changes)
    response = client.post("/admin/product/create", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text[-500:]
    sku = changes.get("sku", "LAMP-1")
    return str(scalars(url, select(Product.id).where(Product.sku == sku))[0])


@pytest.fixture
def tag_ids(database_url: str) -> dict[str, str]:
    async def work(session: Any) -> dict[str, str]:
        tags = [Tag(name=name) for name in TAGS]
        session.add_all(tags)
        await session.flush()
        return {tag.name: str(tag.id) for tag in tags}

    ids: dict[str, str] = run(database_url, work)
    return ids


@pytest.fixture
def client(database_url: str, tag_ids: dict[str, str]) -> Iterator[TestClient]:
    """A superuser signed in from CLIENT_ADDRESS, on SQLite and on PostgreSQL."""
    add_user(database_url, "admin")
    app = create_app(make_config(database_url))
    with TestClient(app, base_url="https://testserver", client=(CLIENT_ADDRESS, 50000)) as client:
        sign_in(client, "admin")
        yield client
