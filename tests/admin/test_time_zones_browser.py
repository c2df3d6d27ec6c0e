"""Time zones in Chromium: a user in Europe/Paris sees a job's next run in Paris time, and a
newcomer is offered the browser's zone, which "Use it" stores."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from playwright.sync_api import Page, expect

from app.local_formats import Reader
from app.main import create_app
from tests.admin.test_product_browser import sign_in
from tests.admin.test_time_zones import choose
from tests.conftest import add_user, make_config, migrated_url
from tests.scheduler.test_jobs_page import synced
from tests.services import ServeInThread

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path, serve_in_thread: ServeInThread) -> tuple[str, Path]:
    """The demo jobs (no scheduler: the page computes next runs from the rows), TIMEZONE=UTC."""
    path = tmp_path / "zones.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    synced(url)
    add_user(url, "pierre")
    choose(url, "pierre", "Europe/Paris")
    add_user(url, "newcomer")
    server = serve_in_thread(create_app(make_config(url, secret_key="zones-test-secret")))
    return server.base_url, path


def stored_zone(path: Path, username: str) -> str | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT time_zone FROM user_account WHERE username = ?", (username,))
        zone: str | None = row.fetchone()[0]
    return zone


def test_a_user_in_paris_sees_a_jobs_next_run_in_paris_time(
    open_page: Callable[..., Page], served: tuple[str, Path]
) -> None:
    base_url, _ = served
    page = open_page(
        locale="en-US", timezone_id="America/Los_Angeles"
    )  # the browser's says nothing
    sign_in(page, base_url, "pierre")
    page.goto(f"{base_url}/admin/jobs")
    shown = page.locator('[data-sb-job="low_stock_report"] [data-sb-next-run] time')
    expect(shown).to_have_attribute("title", "Europe/Paris")
    iso = shown.get_attribute("datetime")
    assert iso
    at = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    paris = Reader(zone="Europe/Paris", locale=Locale.parse("en_US"))
    expect(shown).to_have_text(paris.time_text(at))  # e.g. "Dec 2, 2026, 8:00 AM CET"
    expect(page.locator("#sb-time-zone")).to_have_count(0)  # chose already: nothing proposed

    # The preview follows a schedule typed in New York's zone, and shows its fires in Paris's.
    page.goto(f"{base_url}/admin/jobs/low_stock_report")
    page.locator("#job-timezone").fill("America/New_York")
    expect(page.locator("[data-sb-preview-zone]")).to_have_text(
        "(cron in America/New_York; times below in Europe/Paris)"
    )
    fires = page.locator("[data-sb-preview-fires] time")
    expect(fires).to_have_count(5)
    first = fires.first
    expect(first).to_have_attribute("title", "Europe/Paris")
    iso = first.get_attribute("datetime")
    assert iso
    fire = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    assert fire.astimezone(ZoneInfo("America/New_York")).hour == 7  # the demo's "0 7 * * *"
    expect(first).to_have_text(paris.time_text(fire))


def test_at_first_sign_in_the_browsers_zone_is_proposed_and_use_it_stores_it(
    open_page: Callable[..., Page], served: tuple[str, Path]
) -> None:
    base_url, path = served
    page = open_page(locale="en-US", timezone_id="Europe/Paris")
    sign_in(page, base_url, "newcomer")
    proposal = page.locator("#sb-time-zone")
    expect(proposal).to_be_visible()
    expect(proposal).to_contain_text("Your browser is in Europe/Paris. Show times in Europe/Paris?")
    proposal.get_by_role("button", name="Use it").click()
    expect(page).to_have_url(f"{base_url}/admin/")
    expect(page.locator("#sb-time-zone")).to_have_count(0)
    assert stored_zone(path, "newcomer") == "Europe/Paris"
    # The dashboard's recent activity (the sign-in) now shows Paris time.
    expect(page.locator('.sb-activity time[title="Europe/Paris"]').first).to_be_visible()


def test_a_browser_in_the_sites_zone_is_offered_nothing(
    open_page: Callable[..., Page], served: tuple[str, Path]
) -> None:
    base_url, path = served
    page = open_page(locale="en-US", timezone_id="UTC")
    sign_in(page, base_url, "newcomer")
    expect(page.locator("#sb-time-zone")).to_be_hidden()
    assert stored_zone(path, "newcomer") is None
