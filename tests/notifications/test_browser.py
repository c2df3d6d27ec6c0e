"""Live notifications in Chromium against a real uvicorn: toasts, the badge, reconnects, notices.

Notifications are sent the way scripts send them, with the `notify` command (run in this
process, not the server's). Server and CLI share a redis-server (REDIS_URL), so a notification
reaches open tabs at once; the first test also runs without Redis, where the command's publish
reaches the server through the database within a second. While the server is down in the
restart test nobody listens on Redis: what the tab missed comes from the database, replayed
when it reconnects.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from app.cli import main
from tests.conftest import ADMIN_PASSWORD, add_user, migrated_url
from tests.services import RunUvicorn, UvicornServer

pytestmark = pytest.mark.browser

LIVE_MS = 15_000  # a reconnect after a restart waits out a few backoff steps


@dataclass
class Served:
    server: UvicornServer
    env: dict[str, str]
    run_uvicorn: RunUvicorn

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def restart(self, between: Callable[[], object]) -> None:
        """Stops the server, runs `between`, starts it again on the same port."""
        port = self.server.port
        self.server.stop()
        between()
        self.server = self.run_uvicorn(self.env, port=port)


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path, run_uvicorn: RunUvicorn) -> Served:
    """The server, with a redis-server as its broker, or (`"database"` as the fixture's param)
    none: then frames between processes go through the database (docs/reference.md)."""
    # Set up in a fixture: browser test bodies run without asyncio (see tests/services.py).
    broker = getattr(request, "param", "redis")
    path = tmp_path / "live.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "alice")  # a superuser
    add_user(url, "bob", superuser=False, permissions=["tag:view"])
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO tag (id, name) VALUES (1, 'fragile'), (2, 'heavy')")
    env = {"DATABASE_URL": url, "SECRET_KEY": "live-test-secret"}
    if broker == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    return Served(run_uvicorn(env), env, run_uvicorn)


Notify = Callable[..., None]


@pytest.fixture
def notify(
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Notify:
    """`notify(*args)`: `python -m app notify …` as main() with the server's environment.

    In a thread of this process (a subprocess costs a second of imports, and this thread's
    asyncio belongs to the browser); it still publishes on the server's Redis as a script does.
    """
    monkeypatch.chdir(tmp_path)  # no developer's .env is read
    monkeypatch.delenv("REDIS_URL", raising=False)  # a server without Redis: none here either
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)

    def send(*args: str) -> None:
        capsys.readouterr()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            code = pool.submit(main, ["notify", *args]).result(timeout=60)
        assert code == 0, capsys.readouterr().err

    return send


def signed_in(open_page: Callable[..., Page], base_url: str, username: str) -> Page:
    page = open_page()
    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/")
    return page


def visit(page: Page, url: str) -> Page:
    """Opens `url` and waits until its socket has caught up and is live."""
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-sb-socket", "open")
    return page


def badge(page: Page) -> Locator:
    return page.locator("header.navbar [data-sb-unread]")


def toasts(page: Page) -> Locator:
    return page.locator("#sb-toasts .sb-toast")


# Without Redis too: the command's notification reaches the server's open tabs through the
# database, as in the default set-up (`make run`).
@pytest.mark.parametrize("served", ["redis", "database"], indirect=True)
def test_the_recipient_gets_a_toast_and_the_badge_counts_up(
    open_page: Callable[..., Page], served: Served, notify: Notify
) -> None:
    alice = visit(signed_in(open_page, served.base_url, "alice"), f"{served.base_url}/admin/")
    bob = visit(signed_in(open_page, served.base_url, "bob"), f"{served.base_url}/admin/")
    expect(badge(bob)).to_be_hidden()

    notify("--user", "bob", "--level", "warning", "--link", "/admin/tag/list",
           "Stock is low", "Only 3 left")  # fmt: skip
    toast = toasts(bob).filter(has_text="Stock is low")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("Only 3 left")
    expect(toast).to_have_class(r"toast show sb-toast sb-toast-warning")
    expect(toast.get_by_role("link", name="Open")).to_have_attribute("href", "/admin/tag/list")
    expect(badge(bob)).to_have_text("1")
    toast.get_by_role("button", name="Close").click()  # before it hides itself
    expect(toast).to_have_count(0)

    # Sent after bob's: once alice has this one, she would have had bob's too.
    notify("--all", "Maintenance at noon")
    expect(toasts(alice).filter(has_text="Maintenance at noon")).to_be_visible()
    expect(toasts(alice)).to_have_count(1)
    expect(badge(alice)).to_have_text("1")
    expect(badge(bob)).to_have_text("2")


def test_a_tab_catches_up_on_what_it_missed_while_the_server_was_down(
    open_page: Callable[..., Page], served: Served, notify: Notify
) -> None:
    bob = visit(signed_in(open_page, served.base_url, "bob"), f"{served.base_url}/admin/tag/list")
    notify("--user", "bob", "Before the restart")
    expect(toasts(bob).filter(has_text="Before the restart")).to_be_visible()
    bob.evaluate(
        """() => { window.seen = [];
                   document.body.addEventListener('sb:notification',
                                                  (e) => window.seen.push(e.detail.title)); }"""
    )

    def while_down() -> None:
        expect(bob.locator("body")).to_have_attribute("data-sb-socket", "closed")
        notify("--user", "bob", "Sent while you were away")
        notify("--all", "And this one")

    served.restart(while_down)
    expect(toasts(bob).filter(has_text="Sent while you were away")).to_be_visible(timeout=LIVE_MS)
    expect(toasts(bob).filter(has_text="And this one")).to_be_visible()
    # In order, each once, and nothing from before the restart again.
    assert bob.evaluate("window.seen") == ["Sent while you were away", "And this one"]
    expect(badge(bob)).to_have_text("3")
    expect(bob.locator("body")).to_have_attribute("data-sb-socket", "open")

    notify("--user", "bob", "Live again")  # and the new socket is live
    expect(toasts(bob).filter(has_text="Live again")).to_be_visible()
    expect(badge(bob)).to_have_text("4")


def test_marking_all_read_in_one_tab_clears_the_badge_in_the_other(
    open_page: Callable[..., Page], served: Served, notify: Notify
) -> None:
    first = signed_in(open_page, served.base_url, "bob")
    second = first.context.new_page()
    notify("--user", "bob", "Export ready")
    notify("--all", "New release")
    visit(first, f"{served.base_url}/admin/notifications")
    visit(second, f"{served.base_url}/admin/notifications")
    expect(badge(second)).to_have_text("2")
    expect(second.locator("#sb-inbox [data-read=false]")).to_have_count(2)

    first.get_by_role("button", name="Mark all read").click()
    expect(first.get_by_text("Marked 2 notifications read.")).to_be_visible()
    expect(badge(first)).to_be_hidden()
    expect(badge(second)).to_be_hidden()
    # The other tab's inbox refreshes itself too (htmx, on the badge's change).
    expect(second.locator("#sb-inbox [data-read=true]")).to_have_count(2)

    notify("--user", "bob", "One more")
    expect(badge(first)).to_have_text("1")
    expect(badge(second)).to_have_text("1")
    expect(second.locator("#sb-inbox [data-read=false]")).to_have_count(1)


def test_an_edit_shows_a_reload_notice_on_anothers_open_list(
    open_page: Callable[..., Page], served: Served
) -> None:
    tags = f"{served.base_url}/admin/tag/list"
    bob = visit(signed_in(open_page, served.base_url, "bob"), tags)
    bob_elsewhere = visit(bob.context.new_page(), f"{served.base_url}/admin/")
    alice = signed_in(open_page, served.base_url, "alice")
    alice_list = visit(alice.context.new_page(), tags)

    alice.goto(tags)
    alice.locator("tr[data-sa-pk='1'] [data-sa-name=edit]").click()
    alice.fill("#name", "very fragile")
    alice.get_by_role("button", name="Save", exact=True).click()
    expect(alice.get_by_text("was changed successfully")).to_be_visible()

    notice = bob.locator("[data-sb-model-notice]")
    expect(notice).to_contain_text("tag changed by alice (edited #1)")
    # Not on other pages, and not for one's own change.
    expect(bob_elsewhere.locator("[data-sb-model-notice]")).to_have_count(0)
    expect(alice_list.locator("[data-sb-model-notice]")).to_have_count(0)

    notice.get_by_role("link", name="reload").click()
    expect(bob.locator("tr[data-sa-pk='1']")).to_contain_text("very fragile")
    expect(bob.locator("[data-sb-model-notice]")).to_have_count(0)
