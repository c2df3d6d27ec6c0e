"""A big import through the list's Import dialog, in a real Chromium against the app served in
a thread with its scheduler: the dialog goes to the dry run's page, whose Apply saves the rows."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.main import create_app
from tests.conftest import ADMIN_PASSWORD, RunCli, add_user, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread, cli: RunCli) -> tuple[str, Path]:
    path = tmp_path / "browser.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(
        url, "clerk", superuser=False, permissions=["order:view", "order:create", "order:edit"]
    )
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO customer (name, email, created_at) VALUES (?, ?, CURRENT_TIMESTAMP)",
            [(f"C{n}", f"c{n}@example.org") for n in range(1, 4)],
        )
    assert cli(url, "settings", "set", "IMPORT_AS_JOB_ROWS", "100").code == 0
    config = make_config(
        url, secret_key="browser-test-secret", scheduler="embedded", imports_dir=tmp_path / "in"
    )
    return serve_in_thread(create_app(config)).base_url, path


def orders(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM orders").fetchone()[0])


def test_a_big_import_goes_to_its_dry_run_whose_apply_saves_every_row(
    new_page: Page, served: tuple[str, Path]
) -> None:
    base_url, db = served
    page = new_page
    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=username]", "clerk")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/")

    rows = "".join(f"{n % 3 + 1},paid,{n}.00,\n" for n in range(1, 251))
    page.goto(f"{base_url}/admin/order/list")
    page.locator('[data-bs-target="#modal-import"]').first.click()
    page.set_input_files(
        "#import-file",
        {
            "name": "orders.csv",
            "mimeType": "text/csv",
            "buffer": ("customer,status,total,shipped_at\n" + rows).encode(),
        },
    )
    page.click("#import-submit")
    expect(page).to_have_url(re.compile(rf"{re.escape(base_url)}/admin/imports/\d+$"))
    expect(page.get_by_text("The file is good: nothing was saved yet")).to_be_visible()
    assert orders(db) == 0

    page.get_by_role("button", name=re.compile(r"^Apply: add 250, change 0")).click()
    expect(page.locator("[data-sb-import-add]")).to_have_text("250")
    expect(page.locator(".card-title")).to_have_text("Imported")
    assert orders(db) == 250
