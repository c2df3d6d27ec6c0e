"""Every HTTP response carries the security headers, and the admin works under its policy."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import anyio
import pytest
from jinja2 import TemplateError
from playwright.sync_api import ConsoleMessage, Error, Page, expect
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from app.admin.script_nonces import nonced
from app.admin.site import model_views
from app.channels.memory import MemoryBroker
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import Customer, CustomerStats, NotificationRead
from app.notifications.service import notify
from app.security_headers import (
    CONTENT_SECURITY_POLICY,
    SECURITY_HEADERS,
    SecurityHeadersMiddleware,
    content_security_policy,
    site_relative,
)
from app.shop.seed import seed_demo
from tests.admin.test_product_browser import cancel
from tests.conftest import ADMIN_PASSWORD, add_user, make_config, migrated_url
from tests.services import ThreadedServer


def policy_nonce(response: Any) -> str:
    """The nonce of the response's one Content-Security-Policy, checked to be ours otherwise."""
    [policy] = response.headers.get_list("content-security-policy")
    match = re.search(r"'nonce-([A-Za-z0-9_-]{22})'", policy)
    assert match, policy
    assert policy == content_security_policy(match.group(1))
    return match.group(1)


def assert_secured(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    policy_nonce(response)
    # Pages and answers are never kept by a browser or proxy; static files may be, ours
    # checked again before each use unless linked with their version (tests/test_static.py).
    kept = {"/static/": ["no-cache"] if response.status_code == 200 else [], "/admin/static/": []}
    where = next((kept[root] for root in kept if response.url.path.startswith(root)), None)
    shown = response.headers.get_list("cache-control")
    assert shown == (["no-store"] if where is None else where) or "v=" in response.url.query


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
        ("/admin/account/preferences", 200),
        ("/admin/account/password", 200),
        ("/admin/account/activity", 200),
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


# --- The nonce: fresh per response, on every script and style the admin writes -------------

# An inline event handler attribute, which no nonce can allow.
INLINE_HANDLER = re.compile(
    r"\son(?:click|dblclick|change|input|submit|reset|load|error|focus|blur|select|key\w+|"
    r"mouse\w+|pointer\w+)\s*=",
    re.IGNORECASE,
)


def test_scripts_run_only_by_the_nonce_and_styles_as_named() -> None:
    directives = dict(d.split(" ", 1) for d in content_security_policy("abc").split("; "))
    assert directives["script-src"] == "'self' 'nonce-abc'"
    assert "'strict-dynamic'" not in directives["script-src"]
    # <style> elements: files, the nonce and the library's own by hash; attributes stay open.
    assert directives["style-src"].startswith("'self' 'nonce-abc' 'sha256-")
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["style-src-attr"] == "'unsafe-inline'"


def test_each_response_has_a_fresh_nonce_that_every_script_and_style_of_its_page_carries(
    admin_client: TestClient,
) -> None:
    nonces = []
    for path in ["/admin/product/list", "/admin/product/list", "/admin/settings", "/admin/login"]:
        response = admin_client.get(path)
        assert response.status_code == 200
        nonce = policy_nonce(response)
        tags = re.findall(r"<(?:script|style)\b[^>]*>", response.text)
        assert len(tags) >= 5
        assert all(f'nonce="{nonce}"' in tag for tag in tags), tags
        nonces.append(nonce)
    assert len(set(nonces)) == len(nonces)
    # No page writes an inline handler, which no nonce can allow.
    assert not INLINE_HANDLER.search(admin_client.get("/admin/product/list").text)


def test_no_library_template_keeps_an_inline_handler(app: Starlette) -> None:
    env = app.state.admin.templates.env
    assert env.loader is not None
    names = [name for name in env.loader.list_templates() if name.endswith(".html")]
    assert "list.html" in names and "_pagination.html" in names
    for name in names:
        source, _, _ = env.loader.get_source(env, name)
        assert not INLINE_HANDLER.search(source), name
        tags = re.findall(r"<(?:script|style)\b[^>]*>", source)
        assert all("nonce=" in tag for tag in tags), name


def test_a_library_template_whose_handler_changed_is_refused() -> None:
    with pytest.raises(TemplateError, match="applyColumnVisibility"):
        nonced("list.html", '<button onclick="applyColumns()">Apply</button>')
    nonce = 'nonce="{{ csp_nonce() }}"'
    assert nonced("other.html", "<script>go()</script><style>a{}</style>") == (
        f"<script {nonce}>go()</script><style {nonce}>a{{}}</style>"
    )


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
        # A page answered with an error status: Chromium logs the status as a console error.
        self.refused: set[str] = set()
        self.visited: set[str] = set()  # path and query of each page visited
        # Reported as they happen: a click that navigates would drop the document's own list.
        page.expose_function("__reportCspViolation", self.on_violation)
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self.on_console)
        page.on("pageerror", self.on_page_error)

    def on_violation(self, text: str) -> None:
        self.problems.append(f"{self.page.url}: CSP: {text}")

    def on_console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        # Chromium asks every site for /favicon.ico by itself; no page of ours requested it.
        if url.endswith("/favicon.ico") or url in self.refused:
            return
        if message.type == "error":
            self.problems.append(f"{self.page.url}: console error: {message.text}")

    def on_page_error(self, error: Error) -> None:
        self.problems.append(f"{self.page.url}: uncaught: {error}")

    def visit(self, url: str, status: int = 200, admin: bool = True) -> None:
        if status >= 400:
            self.refused.add(url)
        response = self.page.goto(url)
        assert response is not None and response.status == status, url
        parts = urlsplit(url)
        self.visited.add(f"{parts.path}?{parts.query}" if parts.query else parts.path)
        # Each page is the response its nonce was made for: none reused, none missing.
        policy = response.headers["content-security-policy"]
        nonce = re.search(r"'nonce-([^']+)'", policy)
        assert nonce and policy == content_security_policy(nonce.group(1)), url
        self.page.wait_for_load_state("load")
        if admin:
            assert self.page.evaluate("typeof window.htmx") == "object", f"no htmx on {url}"
            # Set by the library's inline script in base.html: it ran, by its nonce.
            assert self.page.evaluate("typeof window.StarletteAdmin.getIcon") == "function", url


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A served app with an admin, a notification for them and a small demo shop (products,
    tags, customers, orders, tickets). Shared by the module's tests: none of them changes what
    another looks at."""
    path = tmp_path_factory.mktemp("csp") / "csp.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "admin")

    async def seed() -> None:
        engine = create_engine(url)
        try:
            sessions = create_session_factory(engine)
            await seed_demo(sessions, orders=50, echo=lambda _: None)  # 50: one ticket
            sent = await notify(sessions, MemoryBroker(), user="admin", title="Stock is low")
            async with sessions.begin() as session:  # rows that only a job or a click writes
                session.add(NotificationRead(notification_id=sent.id, user_id=sent.user_id))
                session.add(
                    CustomerStats(
                        customer_id=await session.scalar(select(func.min(Customer.id))),
                        orders=1,
                        spent=Decimal("9.99"),
                        refreshed_at=dt.datetime.now(dt.UTC),
                    )
                )
        finally:
            await engine.dispose()

    anyio.run(seed)
    server = ThreadedServer(create_app(make_config(url, secret_key="csp-test-secret")))
    server.start()
    try:
        yield server.base_url, path
    finally:
        server.stop()


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


def signed_in(page: Page, base_url: str, at_login: Callable[[], None] | None = None) -> PolicyWatch:
    """The admin signed in through the login page, watched from its first document on;
    `at_login` looks at the login page first."""
    watch = PolicyWatch(page)
    watch.visit(f"{base_url}/admin/login", admin=False)
    if at_login is not None:
        at_login()
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("#toggle-password")  # the login page's own inline script
    expect(page.locator("input[name=password]")).to_have_attribute("type", "text")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/")
    return watch


MODEL_KEYS = [str(view.key) for view in model_views()]
READ_ONLY = {"audit", "customer-stats", "notification", "notification-read"}


def model_pages(watch: PolicyWatch, base_url: str, keys: list[str]) -> Iterator[str]:
    """Each model's list, then the create, detail and edit pages its links lead to, each
    visited in turn; yields the path of each once it has loaded (for checks on the page)."""
    page = watch.page
    for key in keys:
        watch.visit(f"{base_url}/admin/{key}/list")
        yield urlsplit(page.url).path
        row = page.locator("tr[data-sa-pk]").first
        links = [
            page.locator(f'a[href*="/admin/{key}/create"]'),
            row.locator(f'a[href^="/admin/{key}/detail"], a[data-sa-name="view"]'),
            row.locator('a[data-sa-name="edit"]'),
        ]
        hrefs = [str(link.first.get_attribute("href")) for link in links if link.count()]
        for href in hrefs:
            watch.visit(urljoin(page.url, href))
            yield urlsplit(page.url).path


@pytest.mark.browser
def test_the_list_and_form_widgets_work_under_the_policy(
    new_page: Page, shop: tuple[str, Path]
) -> None:
    base_url, db = shop
    page = new_page
    watch = signed_in(page, base_url)

    watch.visit(f"{base_url}/admin/product/list")
    rows = page.locator("tr[data-sa-pk]")
    search = page.locator("input[type=search][name=q]")
    search.fill("a")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=a"))
    page.locator("[data-sa-hook=sort-link]", has_text="Stock").click()
    expect(page).to_have_url(re.compile(r"sort=stock__asc"))
    expect(rows.first).to_be_visible()
    page.get_by_label("Page size").select_option("10")  # the library's onchange, now a listener
    expect(page).to_have_url(re.compile(r"page_size=10"))
    # The column picker's Apply: the library's onclick, now a listener.
    page.locator("#column-visibility-dropdown [data-bs-toggle=dropdown]").click()
    page.locator("[data-sa-hook=column-visibility-toggle][value=stock]").uncheck()
    page.locator("[data-sb-apply-columns]").click()
    expect(page).to_have_url(re.compile(r"[?&]cols="))
    expect(page.locator("th[data-column=stock]")).to_have_count(0)
    # A row action's confirmation, drawn by the library's actions.js into its modal: the page's
    # one copy of it, its form holding this row's stamp (static/starboard.js).
    rows.first.locator('a[data-sa-name="delete"]').click()
    expect(page.locator("#modal-action")).to_be_visible()
    stamp = rows.first.get_attribute("data-sb-seen")
    expect(page.locator("#modal-action input[name=seen]")).to_have_value(str(stamp))
    cancel(page.locator("#modal-action"))
    # A row's link takes the list to come back to as it is followed.
    listed = urlsplit(page.url)
    rows.first.locator('a[data-sa-name="edit"]').click()
    expect(page).to_have_url(re.compile(r"/admin/product/edit\?pk=\d+&_origin="))
    back = parse_qs(urlsplit(page.url).query)["_origin"][0]
    assert back == f"{listed.path}?{listed.query}"

    watch.visit(f"{base_url}/admin/product/create")
    page.locator("#category").click()  # a native <select>: its list is the browser's own
    page.select_option("#category", index=1)
    open_select2(page, "tags")
    # The JSON editor's code mode: Ace puts its stylesheets in the page (allowed by hash).
    page.locator(".jsoneditor-modes").first.click()
    page.get_by_text("Code").first.click()
    expect(page.locator(".ace_editor")).to_have_css("position", "relative")
    watch.visit(f"{base_url}/admin/product/edit?pk={first_id(db, 'product')}")
    open_select2(page, "tags")
    watch.visit(f"{base_url}/admin/order/create")
    open_select2(page, "customer", typed="a")

    # Ace's syntax checker, a blob: worker, stays refused (it would need data: scripts).
    refused_worker = [
        p
        for p in watch.problems
        if "CSP: worker-src blocked blob" in p or "worker from 'blob:" in p
    ]
    assert len(refused_worker) == 2  # the violation and Chromium's console line about it
    assert [p for p in watch.problems if p not in refused_worker] == []


INJECT = """nonce => {
    window.__ran = [];
    const script = document.createElement("script");
    script.textContent = "window.__ran.push('script')";
    document.body.append(script);
    const stale = document.createElement("script");
    stale.setAttribute("nonce", nonce);  // another response's nonce
    stale.textContent = "window.__ran.push('stale nonce')";
    document.body.append(stale);
    const button = document.createElement("button");
    button.id = "injected";
    button.textContent = "injected";
    button.setAttribute("onclick", "window.__ran.push('onclick')");
    document.body.prepend(button);
    const image = document.createElement("img");
    image.setAttribute("onerror", "window.__ran.push('onerror')");
    image.src = "/no-such-image";
    document.body.append(image);
}"""

# The page's violations once four are reported (each comes in a task of its own), or after 2 s.
VIOLATIONS_SOON = """() => new Promise((resolve) => {
    const until = Date.now() + 2000;
    const check = () => window.__cspViolations.length >= 4 || Date.now() > until
        ? resolve(window.__cspViolations) : setTimeout(check, 20);
    check();
})"""


@pytest.mark.browser
def test_an_injected_inline_script_does_not_run_while_the_pages_own_do(
    new_page: Page, shop: tuple[str, Path]
) -> None:
    base_url, _ = shop
    page = new_page
    watch = signed_in(page, base_url)
    earlier = page.goto(f"{base_url}/admin/product/list")
    assert earlier is not None
    stale_nonce = re.search(r"'nonce-([^']+)'", earlier.headers["content-security-policy"])
    assert stale_nonce
    watch.visit(f"{base_url}/admin/product/list")
    # The page's own nonce'd scripts ran: base.html's globals and list.js's initialised list.
    assert page.evaluate("typeof window.StarletteAdmin.icons") == "object"
    expect(page.locator("tr[data-sa-pk]").first).to_be_visible()

    page.evaluate(INJECT, stale_nonce.group(1))
    page.locator("#injected").dispatch_event("click")
    blocked = page.evaluate(VIOLATIONS_SOON)
    assert page.evaluate("window.__ran") == []
    assert sum(v.startswith("script-src-elem blocked inline") for v in blocked) == 2, blocked
    assert sum(v.startswith("script-src-attr blocked inline") for v in blocked) == 2, blocked
