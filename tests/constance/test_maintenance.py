"""MAINTENANCE_MODE in-process: the banner on every page, and admin changes paused but for
superusers, while the settings page stays writable so it can be switched off again."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.admin.maintenance import REFUSAL
from app.main import create_app
from tests.conftest import SignedIn, add_user, csrf_token, make_config

PAGE = "/admin/settings"
TAG_PERMISSIONS = ["tag:view", "tag:create", "tag:edit", "tag:delete"]
MESSAGE = "Upgrading the database until 14:00 <b>UTC</b>."

Clients = Callable[[str], TestClient]


@pytest.fixture
def db_path(sqlite_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "starboard.db"
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO tag (id, name) VALUES (1, 'fragile'), (2, 'heavy')")
    add_user(sqlite_url, "root")
    add_user(sqlite_url, "clerk", superuser=False, permissions=TAG_PERMISSIONS)
    add_user(
        sqlite_url, "operator", superuser=False, permissions=["settings:view", "settings:edit"]
    )
    add_user(sqlite_url, "nobody", superuser=False)
    return path


@pytest.fixture
def client_for(sqlite_url: str, db_path: Path, signed_in: SignedIn) -> Clients:
    # Apps of their own: each hears of another's change by its version check, made quick here.
    config = make_config(sqlite_url, settings_check_interval=0.05)
    return lambda username: signed_in(create_app(config), username)


def token(client: TestClient) -> str:
    cookie = client.cookies.get("starlette_admin_csrftoken")
    return cookie or csrf_token(client.get("/admin/").text)


def save(client: TestClient, key: str, value: str) -> Any:
    page = client.get(PAGE).text
    seen = page.split(f'data-sb-setting="{key}"')[1].split('name="seen_version" value="')[1]
    data = {"csrftoken": token(client), "value": value, "seen_version": seen.split('"')[0]}
    return client.post(f"{PAGE}/{key}", data=data)


def maintenance(client: TestClient) -> bool:
    return bool(client.app.state.live_settings.MAINTENANCE_MODE)  # type: ignore[attr-defined]


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the app did not catch up with the database"
        time.sleep(0.02)


def tags(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [name for (name,) in db.execute("SELECT name FROM tag ORDER BY id")]


def words(text: str) -> str:
    return " ".join(text.split())


def test_the_banner_shows_on_every_admin_page_while_maintenance_is_on(
    client_for: Clients,
) -> None:
    root = client_for("root")
    before = root.get("/admin/tag/list").text
    assert 'data-sb-maintenance="off"' in before
    assert "Maintenance mode is on" not in before

    assert save(root, "MAINTENANCE_MESSAGE", MESSAGE).status_code == 200
    assert save(root, "MAINTENANCE_MODE", "true").status_code == 200
    for path in ("/admin/", "/admin/tag/list", "/admin/tag/detail?pk=1", PAGE,
                 "/admin/notifications", "/admin/no-such-page"):  # fmt: skip
        page = words(root.get(path).text)
        assert 'data-sb-maintenance="on"' in page, path
        assert "Maintenance mode is on." in page, path
        assert "Upgrading the database until 14:00 &lt;b&gt;UTC&lt;/b&gt;." in page, path
        assert 'href="https://status.example.com"' in page, path

    # The fragment the banner refreshes itself from needs no permission, only a sign-in.
    nobody = client_for("nobody")
    fragment = nobody.get(f"{PAGE}/banner")
    assert fragment.status_code == 200
    assert 'id="sb-maintenance"' in fragment.text and "Maintenance mode is on." in fragment.text
    assert nobody.get(PAGE).status_code == 403

    assert save(root, "MAINTENANCE_MODE", "false").status_code == 200
    assert 'data-sb-maintenance="off"' in root.get(f"{PAGE}/banner").text


def test_while_on_only_superusers_change_data_and_the_settings_page_stays_writable(
    client_for: Clients, db_path: Path
) -> None:
    root = client_for("root")
    assert save(root, "MAINTENANCE_MODE", "true").status_code == 200
    clerk = client_for("clerk")  # starts with maintenance on
    assert maintenance(clerk)

    listing = clerk.get("/admin/tag/list")
    assert listing.status_code == 200
    assert "/admin/tag/create" not in listing.text  # no button to a refused form
    form = clerk.get("/admin/tag/create")
    assert form.status_code == 403
    assert REFUSAL in words(form.text)
    csrf = {"csrftoken": token(clerk)}
    refused = {
        "create": clerk.post("/admin/tag/create", data={**csrf, "name": "new"}),
        "edit": clerk.post("/admin/tag/edit", params={"pk": "1"}, data={**csrf, "name": "x"}),
        "row delete": clerk.post(
            "/admin/_api/tag/row-action", params={"pk": "1", "name": "delete"}, data=csrf
        ),
        "bulk delete": clerk.post(
            "/admin/_api/tag/action", params={"pks": ["1", "2"], "name": "delete"}, data=csrf
        ),
        "import": clerk.post(
            "/admin/_api/tag/import",
            data={**csrf, "format": "csv"},
            files={"file": ("tags.csv", b"name\nimported\n", "text/csv")},
        ),
    }
    for what, response in refused.items():
        assert response.status_code == 403, what
        assert REFUSAL in words(response.text), what
    assert tags(db_path) == ["fragile", "heavy"]
    # Reading goes on.
    assert clerk.get("/admin/tag/detail", params={"pk": "1"}).status_code == 200

    # A superuser still writes.
    created = root.post("/admin/tag/create", data={"csrftoken": token(root), "name": "urgent"})
    assert created.status_code in (200, 303), created.text[-300:]
    assert tags(db_path) == ["fragile", "heavy", "urgent"]

    # Anyone with settings:edit can switch it off, and the clerk may write again.
    operator = client_for("operator")
    assert save(operator, "MAINTENANCE_MODE", "false").status_code == 200
    wait_for(lambda: not maintenance(clerk))
    again = clerk.post("/admin/tag/create", data={"csrftoken": token(clerk), "name": "after"})
    assert again.status_code in (200, 303)
    assert tags(db_path)[-1] == "after"
    assert "/admin/tag/create" in clerk.get("/admin/tag/list").text
