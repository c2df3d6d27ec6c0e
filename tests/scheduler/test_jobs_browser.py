"""Scheduled jobs in Chromium against a real uvicorn running its scheduler: Run now and watch it
run without a reload; an invalid cron refused inline; a valid edit moving the next run."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import add_user, migrated_url
from tests.notifications.test_browser import signed_in, visit
from tests.scheduler.sample_jobs import SLOW_STEPS
from tests.services import RunUvicorn

pytestmark = pytest.mark.browser

RUN_MS = 30_000  # the slow job takes about 3 s; generous for a busy machine


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, module_uvicorn: RunUvicorn
) -> tuple[str, Path]:
    """One server for the module: each test runs or edits a job of its own (slow, quick, broken;
    the last test edits quick, after the one that runs it)."""
    # Set up in a fixture: browser test bodies run without asyncio (see tests/services.py).
    path = tmp_path_factory.mktemp("jobs") / "jobs.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "alice")
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "jobs-test-secret",
        "SCHEDULER": "embedded",
        "JOBS_MODULE": "tests.scheduler.sample_jobs",
        "JOB_HEARTBEAT_S": "0.5",
    }
    return module_uvicorn(env).base_url, path


def stored(path: Path, name: str) -> tuple[str, str]:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT schedule, edited FROM scheduled_job WHERE name = ?", (name,))
        schedule, edited = row.fetchone()
    return schedule, edited


def next_run(page: Page) -> dt.datetime:
    shown = page.locator("#sb-job-summary [data-sb-next-run] time").get_attribute("datetime")
    assert shown
    return dt.datetime.fromisoformat(shown.replace("Z", "+00:00"))


# Every state of the run's row and of the summary badge, as the page showed them: a progress
# step lasts 0.4 s, too short to be sure to catch with a look, but a recorder sees each one.
RECORD_STATES = """() => {
  window.sbShown = [];
  const text = (element) => (element ? element.textContent.trim() : null);
  new MutationObserver(() => {
    const row = document.querySelector("#sb-job-runs [data-sb-run]");
    const bar = row && row.querySelector("[data-sb-progress]");
    const shown = {
      status: row ? row.dataset.sbStatus : null,
      percent: bar ? bar.getAttribute("aria-valuenow") : null,
      message: text(row && row.querySelector("[data-sb-progress-message]")),
      summary: text(document.querySelector("#sb-job-summary [data-sb-status-badge]")),
    };
    const last = window.sbShown[window.sbShown.length - 1];
    if (JSON.stringify(last) !== JSON.stringify(shown)) window.sbShown.push(shown);
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             characterData: true});
}"""


def test_run_now_shows_the_progress_moving_and_the_success_badge_without_reload(
    open_page: Callable[..., Page], served: tuple[str, Path]
) -> None:
    base_url, _ = served
    page = visit(signed_in(open_page, base_url, "alice"), f"{base_url}/admin/jobs/slow")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    page.evaluate(RECORD_STATES)

    page.locator("#sb-job-summary").get_by_role("button", name="Run now").click()
    # ("Run #1 queued." shows under the button until the run's first frame re-renders it.)
    row = page.locator("#sb-job-runs [data-sb-run]").first
    expect(row).to_have_attribute("data-sb-status", "running", timeout=RUN_MS)
    expect(row.locator("[data-sb-status-badge]")).to_have_text("succeeded", timeout=RUN_MS)
    expect(row.locator("[data-sb-progress]")).to_have_count(0)
    expect(page.locator("#sb-job-summary [data-sb-status-badge]")).to_have_text("succeeded")
    assert page.evaluate("window.sameDocument") is True

    shown = page.evaluate("window.sbShown")
    # Moved in place by frames: some step part way, then a later one, each with its message.
    steps = [
        (int(now["percent"]), now["message"])
        for now in shown
        if now["status"] == "running" and now["percent"] not in (None, "0", "100")
    ]
    percents = [percent for percent, _ in steps]
    assert len(set(percents)) >= 2 and percents == sorted(percents), shown
    for percent, message in steps:
        step = round(percent * SLOW_STEPS / 100)
        assert message == f"step {step} of {SLOW_STEPS}", shown
    # The summary followed the same run: running, then succeeded (checked above).
    assert "running" in [now["summary"] for now in shown], shown

    # The run's own page has the log.
    row.get_by_role("link").first.click()
    expect(page.locator("[data-sb-log]")).to_contain_text("step 8")


def test_a_row_of_the_list_follows_its_run_to_the_success_badge_without_reload(
    open_page: Callable[..., Page], served: tuple[str, Path]
) -> None:
    base_url, _ = served
    listing = visit(signed_in(open_page, base_url, "alice"), f"{base_url}/admin/jobs")
    listing.evaluate("window.sameDocument = true")
    row = listing.locator('[data-sb-job="quick"]')
    expect(row.locator("[data-sb-last]")).to_contain_text("never")

    row.get_by_role("button", name="Run now").click()
    expect(listing.locator('[data-sb-job="quick"] [data-sb-status-badge]')).to_have_text(
        "succeeded", timeout=RUN_MS
    )
    assert listing.evaluate("window.sameDocument") is True


def test_an_invalid_cron_shows_its_error_inline_and_saves_nothing(
    new_page: Page, served: tuple[str, Path]
) -> None:
    base_url, path = served
    page = visit(signed_in(lambda: new_page, base_url, "alice"), f"{base_url}/admin/jobs/broken")
    schedule = page.locator("#job-schedule")
    schedule.fill("61 * * * *")
    # The preview tells as it is typed...
    expect(page.locator("[data-sb-preview-error]")).to_have_text(
        "invalid schedule '61 * * * *': minute must be 0-59"
    )
    # ...and saving is refused next to the field.
    page.get_by_role("button", name="Save").click()
    expect(page.locator('[data-sb-error="schedule"]')).to_have_text(
        "invalid schedule '61 * * * *': minute must be 0-59"
    )
    expect(page.locator("#job-schedule")).to_have_value("61 * * * *")
    assert stored(path, "broken") == ("0 4 1 1 *", "[]")


def test_a_valid_edit_moves_the_next_run(new_page: Page, served: tuple[str, Path]) -> None:
    base_url, path = served
    page = visit(signed_in(lambda: new_page, base_url, "alice"), f"{base_url}/admin/jobs/quick")
    before = next_run(page)
    page.locator("#job-schedule").fill("*/5 * * * *")
    expect(page.locator("[data-sb-preview-sentence]")).to_have_text("Every 5 minutes")
    expect(page.locator("[data-sb-preview-fires] li")).to_have_count(5)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-sb-saved]")).to_have_text("Saved.")
    expect(page.locator("#sb-job-summary [data-sb-sentence]")).to_have_text("Every 5 minutes")
    after = next_run(page)
    assert after < before
    assert after - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=5)
    assert after.minute % 5 == 0
    expect(page.locator('[data-sb-edited="schedule"]')).to_be_visible()
    assert stored(path, "quick") == ("*/5 * * * *", '["schedule"]')


def test_run_now_leaves_no_error_in_the_browser_console(
    new_page: Page, served: tuple[str, Path]
) -> None:
    base_url, _ = served
    problems: list[str] = []
    new_page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    new_page.on("pageerror", lambda error: problems.append(str(error)))
    page = visit(signed_in(lambda: new_page, base_url, "alice"), f"{base_url}/admin/jobs")
    page.locator('[data-sb-job="broken"]').get_by_role("button", name="Run now").click()
    badge = page.locator('[data-sb-job="broken"] [data-sb-status-badge]')
    expect(badge).to_have_text("failed", timeout=RUN_MS)

    visit(page, f"{base_url}/admin/jobs/broken")
    page.locator("#sb-job-summary").get_by_role("button", name="Run now").click()
    row = page.locator("#sb-job-runs [data-sb-run]").first
    expect(row.locator("[data-sb-status-badge]")).to_have_text("failed", timeout=RUN_MS)
    page.wait_for_timeout(500)  # a late frame's handler has had its turn
    assert problems == [], "\n".join(problems)
