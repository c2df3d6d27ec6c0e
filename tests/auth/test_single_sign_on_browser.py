"""Single sign-on end to end: Chromium, the app served in a thread, and a real OpenID Connect
provider (oidc-provider-mock) in its own process."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import httpx
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
from tests.test_page_walk import AxeWalk

pytestmark = pytest.mark.browser


class Served:
    def __init__(self, base_url: str, db: Path) -> None:
        self.base_url = base_url
        self.db = db  # read with sqlite3: the test's thread may not run an event loop


def serve(
    tmp_path: Path,
    serve_in_thread: ServeInThread,
    oidc_provider: OidcProvider,
    cli: RunCli,
    name: str,
    *settings: tuple[str, str],
) -> Served:
    db = tmp_path / f"{name}.db"
    url = migrated_url(f"sqlite+aiosqlite:///{db}")

    async def groups(session: AsyncSession) -> None:
        session.add_all([Group(name="ops", permissions=["product:view"]), Group(name="finance")])

    in_session(url, groups)
    mapping = '{"starboard-ops": "ops", "finance": "finance"}'
    for key, value in [("SSO_GROUPS", mapping), *settings]:
        assert cli(url, "settings", "set", key, value).code == 0
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


@pytest.fixture
def served(
    tmp_path: Path, serve_in_thread: ServeInThread, oidc_provider: OidcProvider, cli: RunCli
) -> Served:
    return serve(tmp_path, serve_in_thread, oidc_provider, cli, "sso")


@pytest.fixture
def served_without_passwords(
    tmp_path: Path, serve_in_thread: ServeInThread, oidc_provider: OidcProvider, cli: RunCli
) -> Served:
    settings = ("PASSWORD_SIGN_IN", "off")
    return serve(tmp_path, serve_in_thread, oidc_provider, cli, "sso-only", settings)


def sign_in_at_the_provider(page: Page, served: Served) -> str:
    """From a page that needs a sign-in, through the provider's page, back to it; its URL."""
    # The provider's pages link a stylesheet on a CDN: the tests stay on this machine.
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    products = f"{served.base_url}/admin/product/list"
    page.goto(products)
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))

    page.get_by_role("link", name="Sign in with Example SSO").click()
    page.fill("input[name=sub]", "ada-browser")
    with page.expect_navigation(url=products):
        page.get_by_role("button", name="Authorize").click()
    return products


def test_the_first_single_sign_on_creates_the_user_with_mapped_groups_and_lands_signed_in(
    new_page: Page, served: Served
) -> None:
    page = new_page
    sign_in_at_the_provider(page, served)

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


def test_signing_out_from_the_user_menu_ends_the_session_at_the_provider_too(
    new_page: Page, served: Served, oidc_provider: OidcProvider
) -> None:
    page = new_page
    products = sign_in_at_the_provider(page, served)

    page.get_by_role("link", name="Open user menu").click()
    page.get_by_role("button", name="Logout").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(oidc_provider.issuer)}/oauth2/end_session"))
    page.get_by_role("button", name="End session").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(served.base_url)}/admin/login"))
    expect(page.get_by_role("link", name="Sign in with Example SSO")).to_be_visible()
    page.goto(products)
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))


def test_the_sign_in_page_of_single_sign_on_passes_axe_with_and_without_the_password_form(
    new_page: Page, served_without_passwords: Served
) -> None:
    page = new_page
    walk = AxeWalk(page)
    page.goto(f"{served_without_passwords.base_url}/admin/login")
    expect(page.get_by_role("link", name="Sign in with Example SSO")).to_be_visible()
    expect(page.locator("input[name=password]")).to_have_count(0)
    walk.check("/login")

    # The break-glass link: the page as it is with passwords on, the provider's button above.
    page.get_by_role("link", name="Break-glass sign-in with a password").click()
    expect(page.locator("input[name=password]")).to_be_visible()
    walk.check("/login?password=1")

    assert walk.found == []


def test_a_tampered_state_and_a_deactivated_user_are_refused_with_a_page_and_no_session(
    new_page: Page, served: Served
) -> None:
    page = new_page
    error = page.locator("[data-sb-error-message]")
    products = f"{served.base_url}/admin/product/list"

    # The browser at the provider's page; its answer (a code and this browser's state) is
    # fetched beside the browser, and the browser is sent there with another state.
    callback = re.compile(rf"^{re.escape(served.base_url)}/admin/sso/callback\?")
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page.goto(f"{served.base_url}/admin/login")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    expect(page.locator("input[name=sub]")).to_be_visible()
    given = httpx.post(page.url, data={"sub": "ada-browser"}, follow_redirects=False)
    answer = given.headers["location"]
    assert callback.match(answer) and "state=" in answer
    tampered = re.sub(r"state=[^&]+", "state=not-the-state-this-browser-was-given", answer)

    refused = page.goto(tampered)
    assert refused is not None and refused.status == 400
    expect(error).to_contain_text("does not match a sign-in started in this browser")
    page.goto(products)
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))

    # Signed in once, then deactivated: the provider still vouches for ada, Starboard refuses.
    sign_in_at_the_provider(page, served)
    page.context.clear_cookies()
    with sqlite3.connect(served.db) as db:
        db.execute("UPDATE user_account SET is_active = 0 WHERE username = 'ada'")
    page.goto(products)
    page.get_by_role("link", name="Sign in with Example SSO").click()
    page.fill("input[name=sub]", "ada-browser")
    with page.expect_navigation(url=callback):
        page.get_by_role("button", name="Authorize").click()
    expect(error).to_contain_text("The account ada is deactivated in Starboard")
    page.goto(products)
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))

    with sqlite3.connect(served.db) as db:
        rows = db.execute(
            "SELECT action, changes FROM audit_entry WHERE action LIKE 'sign-in%' ORDER BY id"
        ).fetchall()
    assert [
        (action, json.loads(changes)["reason"] if action == "sign-in-refused" else None)
        for action, changes in rows
    ] == [
        ("sign-in-refused", "unknown state"),
        ("sign-in", None),
        ("sign-in-refused", "account deactivated"),
    ]
