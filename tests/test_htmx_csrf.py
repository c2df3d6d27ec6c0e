"""htmx requests from admin pages carry the CSRF token; a request without it is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page

from app.main import create_app
from tests.admin.test_product_browser import sign_in
from tests.conftest import add_user, delete_seen, make_config, migrated_url
from tests.services import ServeInThread

pytestmark = pytest.mark.browser


def tags(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [name for (name,) in db.execute("SELECT name FROM tag ORDER BY id")]


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, Path]:
    # Set up in a fixture: browser test bodies run without asyncio (see tests/services.py).
    path = tmp_path / "htmx.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "admin")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO tag (id, name) VALUES (1, 'keep'), (2, 'drop')")
    server = serve_in_thread(create_app(make_config(url, secret_key="htmx-test-secret")))
    return server.base_url, path


def test_an_htmx_post_is_accepted_and_a_bare_one_refused(
    new_page: Page, served: tuple[str, Path]
) -> None:
    base_url, path = served
    page = new_page
    sign_in(page, base_url)
    page.goto(f"{base_url}/admin/tag/list")

    bare = page.evaluate(
        """async () => (await fetch('/admin/_api/tag/row-action?pk=1&name=delete',
                                     {method: 'POST'})).status"""
    )
    assert bare == 403
    assert tags(path) == ["keep", "drop"]

    page.goto(f"{base_url}/admin/tag/detail?pk=2")
    seen = delete_seen(page.content())  # as the page showed the row
    status = page.evaluate(
        """(seen) => new Promise((resolve) => {
               document.body.addEventListener('htmx:afterRequest',
                   (e) => resolve(e.detail.xhr.status), {once: true});
               htmx.ajax('POST', '/admin/_api/tag/row-action?pk=2&name=delete',
                         {target: 'body', swap: 'none', values: {seen: seen}});
           })""",
        seen,
    )
    assert status == 200
    assert tags(path) == ["keep"]
