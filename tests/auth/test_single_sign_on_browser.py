"""Single sign-on end to end: Chromium, the app served in a thread, and a real OpenID Connect
provider (oidc-provider-mock) in its own process."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Secret

from app.auth.single_sign_on import NO_PASSWORD
from app.config import OidcConfig
from app.main import create_app
from app.models import Group
from tests.conftest import RunCli, in_session, make_config, migrated_url
from tests.services import OidcProvider, ServeInThread

pytestmark = pytest.mark.browser


class Served:
    def __init__(self, base_url: str, db: Path) -> None:
        self.base_url = base_url
        self.db = db  # read with sqlite3: the test's thread may not run an event loop


@pytest.fixture
def served(
    tmp_path: Path, serve_in_thread: ServeInThread, oidc_provider: OidcProvider, cli: RunCli
) -> Served:
    db = tmp_path / "sso-browser.db"
    url = migrated_url(f"sqlite+aiosqlite:///{db}")

    async def groups(session: AsyncSession) -> None:
        session.add_all([Group(name="ops", permissions=["product:view"]), Group(name="finance")])

    in_session(url, groups)
    mapping = '{"starboard-ops": "ops", "finance": "finance"}'
    assert cli(url, "settings", "set", "SSO_GROUPS", mapping).code == 0
    oidc_provider.set_user(
        "ada-browser",
        {
            "preferred_username": "ada",
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "groups": ["starboard-ops", "chess-club"],
        },
    )
    oidc = OidcConfig(
        oidc_provider.issuer, "starboard", Secret("starboard-secret"), "groups", "Example SSO"
    )
    app = create_app(make_config(url, secret_key="sso-browser-secret", oidc=oidc))
    return Served(serve_in_thread(app).base_url, db)


def test_the_first_single_sign_on_creates_the_user_with_mapped_groups_and_lands_signed_in(
    new_page: Page, served: Served
) -> None:
    page = new_page
    products = f"{served.base_url}/admin/product/list"
    page.goto(products)
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))

    page.get_by_role("link", name="Sign in with Example SSO").click()
    page.fill("input[name=sub]", "ada-browser")
    with page.expect_navigation(url=products):
        page.get_by_role("button", name="Authorize").click()

    expect(page.get_by_role("link", name="Open user menu")).to_contain_text("ada")

    expect(page.locator("h1, h2, h3").filter(has_text="Products").first).to_be_visible()
    with sqlite3.connect(served.db) as db:
        user = db.execute("SELECT id, email, password_hash FROM user_account WHERE username='ada'")
        user_id, email, password_hash = user.fetchone()
        groups = db.execute(
            "SELECT g.name FROM auth_group g JOIN user_group m ON m.group_id = g.id "
            "WHERE m.user_id = ?",
            (user_id,),
        ).fetchall()
        actions = db.execute(
            "SELECT action FROM audit_entry WHERE action != 'settings-edit' ORDER BY id"
        ).fetchall()
    assert email == "ada@example.com"
    assert password_hash == NO_PASSWORD
    assert groups == [("ops",)]
    assert actions == [("user-provisioned",), ("sign-in",)]
