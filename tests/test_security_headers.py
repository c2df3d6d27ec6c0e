"""Every HTTP response carries the security headers, and the admin works under its policy."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, expect
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from app.db import create_engine, create_session_factory
from app.main import create_app
from app.security_headers import (
    CONTENT_SECURITY_POLICY,
    SECURITY_HEADERS,
    SecurityHeadersMiddleware,
    site_relative,
)
from app.shop.seed import seed_demo
from tests.conftest import ADMIN_PASSWORD, add_user, make_config, migrated_url
from tests.services import ServeInThread


def assert_secured(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    # Pages and answers are never kept by a browser or proxy; static files may be.
    static = response.url.path.startswith(("/static/", "/admin/static/"))
    assert response.headers.get_list("cache-control") == ([] if static else ["no-store"])


def test_the_policy_refuses_framing_and_everything_not_named() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self'"
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY  # no external origin anywhere
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/healthz", 200),
        ("/admin/", 200),
        ("/admin/product/list", 200),
        ("/static/vendor/htmx.min.js", 200),
        ("/admin/static/css/vendor/tabler.min.css", 200),
        ("/static/vendor/nothing-here.js", 404),
        ("/no-such-page", 404),
        ("/", 302),
    ],
)
def test_signed_in_responses_carry_the_headers(
    admin_client: TestClient, path: str, status: int
) -> None:
    response = admin_client.get(path, follow_redirects=False)
    assert response.status_code == status
    assert_secured(response)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/admin/login", 200), ("/admin/product/list", 303), ("/healthz", 200)],
)
def test_anonymous_responses_carry_the_headers(app: Starlette, path: str, status: int) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        response = client.get(path, follow_redirects=False)
    assert response.status_code == status
    assert_secured(response)


async def own_policy(request: Request) -> Response:
    headers = {"content-security-policy": "default-src 'self'", "X-Frame-Options": "SAMEORIGIN"}
    return PlainTextResponse("mine", headers=headers)


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


def small_app() -> Starlette:
    return Starlette(
        routes=[Route("/own", own_policy), WebSocketRoute("/ws", echo)],
        middleware=[Middleware(SecurityHeadersMiddleware)],
    )


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/admin", "/admin/"),
        ("/admin/product/list", "/admin/login?next="),
        ("/", "/admin/"),
    ],
)
def test_a_forged_host_never_comes_back_in_a_redirect(
    app: Starlette, path: str, location: str
) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].startswith(location)


@pytest.mark.parametrize(
    ("location", "relative"),
    [
        (b"https://site.example/admin/?a=1#top", b"/admin/?a=1#top"),
        (b"http://SITE.example", b"/"),
        (b"https://other.example/x", b"https://other.example/x"),  # not ours: left alone
        (b"https://site.example//evil.example/x", b"https://site.example//evil.example/x"),
        (b"/already/a/path", b"/already/a/path"),
    ],
)
def test_redirects_to_the_site_become_paths(location: bytes, relative: bytes) -> None:
    assert site_relative(location, "site.example") == relative


def test_a_header_the_route_set_is_kept() -> None:
    with TestClient(small_app()) as client:
        response = client.get("/own")
    assert response.headers.get_list("content-security-policy") == ["default-src 'self'"]
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"


def test_websockets_pass_through() -> None:
    with TestClient(small_app()) as client, client.websocket_connect("/ws") as socket:
        socket.send_text("ping")
        assert socket.receive_text() == "ping"


async def test_non_http_scopes_reach_the_app_untouched() -> None:
    seen: list[tuple[Scope, Receive, Send]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    for kind in ("websocket", "lifespan"):
        scope: Scope = {"type": kind}
        await SecurityHeadersMiddleware(inner)(scope, receive, send)
        assert seen.pop() == (scope, receive, send)
        assert scope == {"type": kind}


# --- In Chromium: every admin page works under the policy -------------------------------------

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
    const text = `${e.violatedDirective} blocked ${e.blockedURI || "inline"} ` +
        `(${e.sourceFile}:${e.lineNumber}) ${e.sample}`;
    window.__cspViolations.push(text);
    window.__reportCspViolation(text);
}, true);
"""


class PolicyWatch:
    """Console errors, uncaught exceptions and CSP violations, on every document the page shows."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        # Reported as they happen: a click that navigates would drop the document's own list.
        page.expose_function("__reportCspViolation", self.on_violation)
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self.on_console)
        page.on("pageerror", self.on_page_error)

    def on_violation(self, text: str) -> None:
        self.problems.append(f"{self.page.url}: CSP: {text}")

    def on_console(self, message: ConsoleMessage) -> None:
        # Chromium asks every site for /favicon.ico by itself; no page of ours requested it.
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        if message.type == "error":
            self.problems.append(f"{self.page.url}: console error: {message.text}")

    def on_page_error(self, error: Error) -> None:
        self.problems.append(f"{self.page.url}: uncaught: {error}")

    def visit(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        assert self.page.evaluate("typeof window.htmx") == "object", f"no htmx on {url}"


@pytest.fixture
def shop(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, Path]:
    """A served app with an admin and a small demo shop (products, tags, customers, orders)."""
    path = tmp_path / "csp.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "admin")

    async def seed() -> None:
        engine = create_engine(url)
        try:
            await seed_demo(create_session_factory(engine), orders=20, echo=lambda _: None)
        finally:
            await engine.dispose()

    anyio.run(seed)
    server = serve_in_thread(create_app(make_config(url, secret_key="csp-test-secret")))
    return server.base_url, path


def first_id(db: Path, table: str) -> int:
    with sqlite3.connect(db) as connection:
        row = connection.execute(f"SELECT min(id) FROM {table}").fetchone()
    return int(row[0])


def open_select2(page: Page, select_id: str, typed: str = "") -> None:
    """Open the select2 widget that replaces <select id=...> and wait for its options."""
    page.locator(f"#{select_id} + .select2 .select2-selection").click()
    if typed:
        page.locator(".select2-container--open .select2-search__field").fill(typed)
    options = page.locator(f"#select2-{select_id}-results .select2-results__option--selectable")
    expect(options.first).to_have_text(re.compile(r"\w"))  # an entry, drawn from its HTML
    page.keyboard.press("Escape")


@pytest.mark.browser
def test_the_admin_works_under_the_policy(new_page: Page, shop: tuple[str, Path]) -> None:
    base_url, db = shop
    page = new_page
    watch = PolicyWatch(page)

    response = page.goto(f"{base_url}/admin/login")
    assert response is not None
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("#toggle-password")  # the login page's own inline script
    expect(page.locator("input[name=password]")).to_have_attribute("type", "text")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/")

    watch.visit(f"{base_url}/admin/")

    watch.visit(f"{base_url}/admin/product/list")
    rows = page.locator("tr[data-sa-pk]")
    expect(rows.first).to_be_visible()
    search = page.locator("input[type=search][name=q]")
    search.fill("a")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=a"))
    page.locator("[data-sa-hook=sort-link]", has_text="Stock").click()
    expect(page).to_have_url(re.compile(r"sort=stock__asc"))
    expect(rows.first).to_be_visible()
    page.get_by_label("Page size").select_option("10")  # an inline onchange handler
    expect(page).to_have_url(re.compile(r"page_size=10"))

    watch.visit(f"{base_url}/admin/product/create")
    page.locator("#category").click()  # a native <select>: its list is the browser's own
    page.select_option("#category", index=1)
    open_select2(page, "tags")

    product = first_id(db, "product")
    watch.visit(f"{base_url}/admin/product/detail?pk={product}")
    expect(page.locator("#tableContent")).to_be_visible()
    watch.visit(f"{base_url}/admin/product/edit?pk={product}")
    open_select2(page, "tags")

    watch.visit(f"{base_url}/admin/order/list")
    expect(page.locator("tr[data-sa-pk]").first).to_be_visible()
    watch.visit(f"{base_url}/admin/order/create")
    open_select2(page, "customer", typed="a")

    # Live settings: a save through the field's htmx form, then that setting's history.
    watch.visit(f"{base_url}/admin/settings")
    field = page.locator('[data-sb-setting="LOW_STOCK_THRESHOLD"]')
    field.locator("input[name=value]").fill("12")
    field.get_by_role("button", name="Save").click()
    expect(page.locator('[data-sb-setting="LOW_STOCK_THRESHOLD"] [data-sb-saved]')).to_be_visible()
    watch.visit(f"{base_url}/admin/settings/LOW_STOCK_THRESHOLD/history")
    expect(page.get_by_role("row", name=re.compile(r" admin \(default\) 12 "))).to_be_visible()

    # Jobs: the list, one job, Run now (queued: this app runs no scheduler), the run's page.
    watch.visit(f"{base_url}/admin/jobs")
    expect(page.get_by_text("low_stock_report").first).to_be_visible()
    watch.visit(f"{base_url}/admin/jobs/low_stock_report")
    page.locator("[data-sb-run-now]").first.click()
    expect(page.locator("[data-sb-feedback]").first).to_contain_text("queued")
    run = first_id(db, "job_run")
    # The history re-fetches itself to show the run; leaving earlier would abort that request.
    expect(page.locator(f'#sb-job-runs tr[data-sb-run="{run}"]')).to_be_visible()
    watch.visit(f"{base_url}/admin/jobs/low_stock_report/runs/{run}")
    expect(page.get_by_text(f"#{run}").first).to_be_visible()

    watch.visit(f"{base_url}/admin/notifications")
    watch.visit(f"{base_url}/admin/audit/list")
    expect(page.locator("tr[data-sa-pk]").first).to_be_visible()
    watch.visit(f"{base_url}/admin/audit/detail?pk={first_id(db, 'audit_entry')}")
    expect(page.locator("#tableContent")).to_be_visible()

    assert watch.problems == []
