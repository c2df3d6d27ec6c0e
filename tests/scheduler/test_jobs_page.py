"""`/admin/jobs` in-process: the list, a job's settings and preview, runs, permissions, frames."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from app.main import create_app
from app.models import AuditEntry, Group, JobRun, Notification, ScheduledJob
from app.scheduler.registry import load_jobs
from app.scheduler.runner import JOBS_CHANNEL
from app.scheduler.sync import sync_jobs
from tests.admin.test_time_zones import choose
from tests.conftest import SignedIn, add_user, csrf_token, in_session, make_config
from tests.scheduler import broken_rows
from tests.scheduler.test_schedules import TOO_LONG

PAGE = "/admin/jobs"
DEMO_JOBS = ("low_stock_report", "purge_job_runs", "refresh_customer_stats")
SAMPLE_JOBS = "tests.scheduler.sample_jobs"
WS = "wss://testserver/ws"
RUN_TIMEOUT_S = 15.0

Clients = Callable[[str], TestClient]


# --- set-up ----------------------------------------------------------------------------------


on_db = in_session  # a committed transaction of its own, outside the app


def synced(url: str, module: str = "app.jobs") -> None:
    """The rows a scheduler's start would write (in-process apps run none by default)."""

    async def work(session: Any) -> None:
        await sync_jobs(session, load_jobs(module), "UTC")

    on_db(url, work)


def add_people(url: str) -> None:
    add_user(url, "root")
    add_user(url, "viewer", superuser=False, permissions=["jobs:view"])
    add_user(url, "editor", superuser=False, permissions=["jobs:view", "jobs:edit"])
    add_user(url, "runner", superuser=False, permissions=["jobs:view", "jobs:run"])
    add_user(url, "nobody", superuser=False, permissions=["tag:view"])


def clients(url: str, signed_in: SignedIn, **config: Any) -> Clients:
    add_people(url)
    # An app each: every TestClient runs its own event loop, and asyncpg's pool is per loop.
    return lambda username: signed_in(create_app(make_config(url, **config)), username)


@pytest.fixture
def client_for(database_url: str, signed_in: SignedIn) -> Clients:
    """The demo jobs, on SQLite and PostgreSQL, no scheduler."""
    synced(database_url)
    return clients(database_url, signed_in)


@pytest.fixture
def sqlite_client_for(sqlite_url: str, signed_in: SignedIn) -> Clients:
    synced(sqlite_url)
    return clients(sqlite_url, signed_in)


@pytest.fixture
def running_client_for(database_url: str, signed_in: SignedIn) -> Clients:
    """The sample jobs with the scheduler embedded: "Run now" really runs them."""
    return clients(
        database_url,
        signed_in,
        scheduler="embedded",
        jobs_module=SAMPLE_JOBS,
        job_heartbeat=0.5,
    )


def token(client: TestClient) -> str:
    cookie = client.cookies.get("starlette_admin_csrftoken")
    return cookie or csrf_token(client.get("/admin/").text)


def post(client: TestClient, path: str, htmx: bool = True, **fields: str) -> httpx.Response:
    headers = {"HX-Request": "true"} if htmx else {}
    data = {"csrftoken": token(client), **fields}
    return client.post(path, data=data, headers=headers, follow_redirects=False)


def job_row(url: str, name: str) -> ScheduledJob:
    async def work(session: Any) -> ScheduledJob:
        row = await session.get(ScheduledJob, name)
        assert row is not None
        return row  # type: ignore[no-any-return]

    return on_db(url, work)  # type: ignore[no-any-return]


def runs(url: str, name: str) -> list[JobRun]:
    async def work(session: Any) -> list[JobRun]:
        query = select(JobRun).where(JobRun.job == name).order_by(JobRun.id)
        return list((await session.scalars(query)).all())

    return on_db(url, work)  # type: ignore[no-any-return]


def audit(url: str, action: str) -> list[AuditEntry]:
    async def work(session: Any) -> list[AuditEntry]:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await session.scalars(query)).all())

    return on_db(url, work)  # type: ignore[no-any-return]


def wait_for_run(url: str, run_id: int, *statuses: str) -> JobRun:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        found = [r for r in runs_by_id(url, run_id) if r.status in statuses]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"run {run_id} never reached {statuses}"
        time.sleep(0.1)


def runs_by_id(url: str, run_id: int) -> list[JobRun]:
    async def work(session: Any) -> list[JobRun]:
        run = await session.get(JobRun, run_id)
        return [run] if run else []

    return on_db(url, work)  # type: ignore[no-any-return]


def run_id_in(response: httpx.Response) -> int:
    match = re.search(r"Run #(\d+) queued", response.text)
    assert match, response.text[-800:]
    return int(match.group(1))


def block(text: str, marker: str) -> str:
    """The start of the element carrying `marker`, and what follows it."""
    start = text.rindex("<", 0, text.index(marker))
    return text[start : start + 3000]


def next_run_of(text: str) -> dt.datetime:
    found = re.search(r'data-sb-next-run>.*?<time datetime="([^"]+)"', text, re.S)
    assert found, "no next run shown"
    return dt.datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))


# --- who may do what -------------------------------------------------------------------------


def test_each_action_needs_its_permission(sqlite_url: str, sqlite_client_for: Clients) -> None:
    nobody = sqlite_client_for("nobody")
    assert nobody.get(PAGE).status_code == 403
    assert nobody.get(f"{PAGE}/low_stock_report").status_code == 403
    assert nobody.get(f"{PAGE}/low_stock_report/preview?schedule=x").status_code == 403

    viewer = sqlite_client_for("viewer")
    editor = sqlite_client_for("editor")
    runner = sqlite_client_for("runner")
    page = viewer.get(f"{PAGE}/low_stock_report")
    assert page.status_code == 200
    assert "Run now" not in page.text and ">Save<" not in page.text
    assert "Run now" in runner.get(PAGE).text and "Run now" not in editor.get(PAGE).text
    for client in (viewer, runner):
        assert post(client, f"{PAGE}/low_stock_report", schedule="* * * * *").status_code == 403
        assert post(client, f"{PAGE}/low_stock_report/enabled").status_code == 403
        assert post(client, f"{PAGE}/low_stock_report/reset").status_code == 403
    for client in (viewer, editor):
        assert post(client, f"{PAGE}/low_stock_report/run").status_code == 403
        assert post(client, f"{PAGE}/runs/1/cancel").status_code == 403
    assert job_row(sqlite_url, "low_stock_report").revision == 1
    assert runs(sqlite_url, "low_stock_report") == []


# --- the list --------------------------------------------------------------------------------


def test_the_list_shows_every_demo_job_with_its_sentence_and_next_run(
    sqlite_client_for: Clients,
) -> None:
    page = sqlite_client_for("viewer").get(PAGE)
    assert page.status_code == 200
    for name in DEMO_JOBS:
        row = block(page.text, f'data-sb-job="{name}"')
        assert f'href="/admin/jobs/{name}"' in row
        assert re.search(r"data-sb-next-run>\s*<time datetime=", row), row
        assert "(in " in row and "never" in row
    low = block(page.text, 'data-sb-job="low_stock_report"')
    assert "<code>0 7 * * *</code>" in low
    assert "At 07:00" in low
    assert "Tells ops which products are low on stock" in html.unescape(low)
    assert next_run_of(low).time() == dt.time(7, 0)


def test_an_orphaned_job_is_greyed_marked_and_offers_no_run_or_switch(
    sqlite_url: str, sqlite_client_for: Clients
) -> None:
    async def work(session: Any) -> None:
        session.add(
            ScheduledJob(
                name="old_export", schedule="0 1 * * *", enabled=False, orphaned=True, edited=[]
            )
        )

    on_db(sqlite_url, work)
    root = sqlite_client_for("root")
    row = block(root.get(PAGE).text, 'data-sb-job="old_export"')
    row = row[: row.index("</tr>")]
    assert "sb-job-orphaned" in row and "orphaned (not in code)" in row
    assert "Run now" not in row and "data-sb-enabled" not in row
    assert "not scheduled" in row
    assert post(root, f"{PAGE}/old_export/run").status_code == 409
    assert post(root, f"{PAGE}/old_export/enabled", enabled="true").status_code == 409
    assert post(root, f"{PAGE}/old_export/reset").status_code == 409
    # A job never heard of is not there at all.
    for action in ("reset", "run"):
        assert post(root, f"{PAGE}/no_such_job/{action}").status_code == 404, action
    assert post(root, f"{PAGE}/no_such_job/enabled", enabled="true").status_code == 404
    assert runs(sqlite_url, "old_export") == []
    page = root.get(f"{PAGE}/old_export")
    assert "No longer in the code" in page.text and ">Save<" not in page.text


def test_unknown_jobs_and_runs_are_404(sqlite_client_for: Clients) -> None:
    root = sqlite_client_for("root")
    assert root.get(f"{PAGE}/no_such_job").status_code == 404
    assert root.get(f"{PAGE}/low_stock_report/runs/999").status_code == 404
    assert post(root, f"{PAGE}/no_such_job/run").status_code == 404
    assert post(root, f"{PAGE}/runs/999/cancel").status_code == 404


# --- editing ---------------------------------------------------------------------------------


def test_a_valid_schedule_edit_moves_the_next_run_and_is_audited(
    database_url: str, client_for: Clients
) -> None:
    editor = client_for("editor")
    before = next_run_of(editor.get(f"{PAGE}/low_stock_report").text)
    saved = post(
        editor,
        f"{PAGE}/low_stock_report",
        schedule="*/5 * * * *",
        timezone="Europe/Paris",
        timeout="90",
        overlap="queue",
        misfire="skip",
        misfire_grace="30",
    )
    assert saved.status_code == 200, saved.text[-1500:]
    assert "data-sb-saved" in saved.text and "Saved." in saved.text
    # The summary comes along out of band, with the next run moved.
    summary = block(saved.text, 'id="sb-job-summary"')
    assert 'hx-swap-oob="true"' in summary and "Every 5 minutes" in summary
    after = next_run_of(summary)
    assert after != before
    assert after - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=5)

    row = job_row(database_url, "low_stock_report")
    assert (row.schedule, row.timezone, row.timeout_s) == ("*/5 * * * *", "Europe/Paris", 90.0)
    assert (row.overlap, row.misfire, row.misfire_grace_s) == ("queue", "skip", 30.0)
    assert set(row.edited) == {
        "schedule",
        "timezone",
        "timeout_s",
        "overlap",
        "misfire",
        "misfire_grace_s",
    }
    assert row.updated_by == "editor"
    [entry] = audit(database_url, "job-edit")
    assert entry.username == "editor" and entry.object_pk == "low_stock_report"
    assert entry.changes and entry.changes["schedule"] == {"old": "0 7 * * *", "new": "*/5 * * * *"}

    page = editor.get(f"{PAGE}/low_stock_report").text
    assert 'data-sb-edited="schedule"' in page and "Changed in the browser" in page
    listed = block(editor.get(PAGE).text, 'data-sb-job="low_stock_report"')
    assert next_run_of(listed) == after


def test_an_invalid_cron_is_a_422_next_to_the_field_and_saves_nothing(
    database_url: str, client_for: Clients
) -> None:
    editor = client_for("editor")
    refused = post(
        editor,
        f"{PAGE}/low_stock_report",
        schedule="61 * * * *",
        timezone="UTC",
        timeout="",
        overlap="skip",
        misfire="run_once",
        misfire_grace="60",
    )
    assert refused.status_code == 422
    error = re.search(r'data-sb-error="schedule"[^>]*>([^<]*)<', refused.text)
    assert error, refused.text[-1500:]
    assert html.unescape(error.group(1)) == "invalid schedule '61 * * * *': minute must be 0-59"
    assert 'value="61 * * * *"' in refused.text  # the operator's text is kept
    assert "is-invalid" in block(refused.text, 'id="job-schedule"')[:300]
    row = job_row(database_url, "low_stock_report")
    assert (row.schedule, row.edited, row.revision) == ("0 7 * * *", [], 1)
    assert audit(database_url, "job-edit") == []


def test_a_schedule_that_never_fires_is_a_422_next_to_the_field_and_saves_nothing(
    sqlite_url: str, sqlite_client_for: Clients
) -> None:
    refused = post(
        sqlite_client_for("editor"),
        f"{PAGE}/low_stock_report",
        schedule="0 0 30 2 *",
        timezone="Europe/Paris",
        timeout="",
        overlap="skip",
        misfire="run_once",
        misfire_grace="60",
    )
    assert refused.status_code == 422
    errors = dict(re.findall(r'data-sb-error="(\w+)"[^>]*>([^<]*)<', refused.text))
    assert {k: html.unescape(v) for k, v in errors.items()} == {
        "schedule": broken_rows.NEVER_FIRES.reason
    }
    row = job_row(sqlite_url, "low_stock_report")
    assert (row.schedule, row.timezone, row.edited, row.revision) == ("0 7 * * *", "UTC", [], 1)
    assert audit(sqlite_url, "job-edit") == []


def test_a_value_too_long_is_refused_whole_naming_the_limit_never_cut_to_fit(
    sqlite_url: str, sqlite_client_for: Clients
) -> None:
    fields = {"overlap": "skip", "misfire": "run_once", "misfire_grace": "60", "timeout": ""}
    editor = sqlite_client_for("editor")
    refused = post(editor, f"{PAGE}/low_stock_report", schedule=TOO_LONG, timezone="UTC", **fields)
    assert refused.status_code == 422
    error = re.search(r'data-sb-error="schedule"[^>]*>([^<]*)<', refused.text)
    assert error, refused.text[-1500:]
    assert html.unescape(error.group(1)).endswith("…': at most 200 characters, got 202")
    assert f'value="{TOO_LONG}"' in refused.text  # kept whole for the operator to shorten

    long_fields = {
        "schedule": "0 7 * * *",
        "timezone": "Europe/" + "x" * 300,  # past a file name's length: no zone lookup error
        "timeout": "9" * 300,
        "overlap": "skip" + " " * 300 + "x",
        "misfire": "run_once",
        "misfire_grace": "1" + "0" * 300,
    }
    refused = post(editor, f"{PAGE}/low_stock_report", **long_fields)
    assert refused.status_code == 422
    errors = dict(re.findall(r'data-sb-error="(\w+)"[^>]*>([^<]*)<', refused.text))
    assert set(errors) == {"timezone", "timeout", "overlap", "misfire_grace"}
    assert html.unescape(errors["timezone"]).endswith(
        "expected an IANA name such as UTC or Europe/Paris"
    )
    row = job_row(sqlite_url, "low_stock_report")
    assert (row.schedule, row.timezone, row.edited, row.revision) == ("0 7 * * *", "UTC", [], 1)


def test_every_bad_field_gets_its_own_message_and_nothing_is_saved(
    sqlite_url: str, sqlite_client_for: Clients
) -> None:
    refused = post(
        sqlite_client_for("editor"),
        f"{PAGE}/low_stock_report",
        schedule="0 7 * * *",
        timezone="Mars/Olympus_Mons",
        timeout="-5",
        overlap="sometimes",
        misfire="run_once",
        misfire_grace="soon",
    )
    assert refused.status_code == 422
    errors = dict(re.findall(r'data-sb-error="(\w+)"[^>]*>([^<]*)<', refused.text))
    errors = {k: html.unescape(v) for k, v in errors.items()}
    assert errors["timezone"].startswith("timezone 'Mars/Olympus_Mons': expected an IANA name")
    assert errors["timeout"] == "timeout: expected seconds from 1 to 604800, or empty for none"
    assert errors["overlap"] == "overlap: expected one of skip, queue, allow"
    assert errors["misfire_grace"] == "misfire grace: expected seconds from 0 to 86400, got 'soon'"
    assert "schedule" not in errors
    assert job_row(sqlite_url, "low_stock_report").edited == []
    # Digits of other scripts, and what float() reads beyond a plain number, are no seconds.
    for typed in ["\u0663", "1_0", "inf"]:
        odd = post(
            sqlite_client_for("editor"),
            f"{PAGE}/low_stock_report",
            schedule="0 7 * * *",
            timezone="UTC",
            timeout=typed,
            overlap="skip",
            misfire="run_once",
            misfire_grace=typed,
        )
        assert odd.status_code == 422, typed
        named = dict(re.findall(r'data-sb-error="(\w+)"[^>]*>([^<]*)<', odd.text))
        assert set(named) == {"timeout", "misfire_grace"}, typed
    assert job_row(sqlite_url, "low_stock_report").edited == []


def test_a_form_posted_without_htmx_redirects_or_shows_the_whole_page(
    sqlite_url: str, sqlite_client_for: Clients
) -> None:
    editor = sqlite_client_for("editor")
    fields = {"timezone": "UTC", "timeout": "", "overlap": "skip", "misfire": "run_once"}
    bad = post(editor, f"{PAGE}/low_stock_report", htmx=False, schedule="x", **fields)
    assert bad.status_code == 422 and "<html" in bad.text and 'id="sb-job-runs"' in bad.text
    assert bad.text.count('id="sb-job-summary"') == 1
    good = post(
        editor,
        f"{PAGE}/low_stock_report",
        htmx=False,
        schedule="every 2h",
        **fields,
        misfire_grace="60",
    )
    assert good.status_code == 303
    assert good.headers["location"].endswith("/admin/jobs/low_stock_report")
    assert "Saved." in editor.get(good.headers["location"]).text
    assert job_row(sqlite_url, "low_stock_report").schedule == "every 2h"


def test_the_preview_shows_the_sentence_and_next_five_fires_or_the_reason(
    sqlite_client_for: Clients,
) -> None:
    viewer = sqlite_client_for("viewer")
    preview = viewer.get(
        f"{PAGE}/low_stock_report/preview",
        params={"schedule": "30 9 * * 1-5", "timezone": "Europe/Paris"},
    )
    assert preview.status_code == 200
    assert "At 09:30, Monday through Friday" in preview.text
    fires = re.findall(r'<time datetime="([^"]+)" title="UTC">([^<]+)</time>', preview.text)
    assert len(fires) == 5
    for iso, shown in fires:  # the cron in Paris, the fires in the reader's zone (UTC)
        moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
        paris = moment.astimezone(ZoneInfo("Europe/Paris"))
        assert paris.weekday() < 5 and (paris.hour, paris.minute) == (9, 30)
        assert shown == spelled(moment)
    assert "(cron in Europe/Paris; times below in UTC)" in preview.text

    bad = viewer.get(f"{PAGE}/low_stock_report/preview", params={"schedule": "61 * * * *"})
    assert "invalid schedule &#39;61 * * * *&#39;: minute must be 0-59" in bad.text
    zone = viewer.get(
        f"{PAGE}/low_stock_report/preview", params={"schedule": "every 5m", "timezone": "Nowhere"}
    )
    assert "timezone &#39;Nowhere&#39;: expected an IANA name" in zone.text


def spelled(moment: dt.datetime, zone: str = "UTC", seconds: bool = False) -> str:
    """A moment as `local_time` writes it in English: "Dec 1, 2026, 3:30\u202fPM CET"."""
    local = moment.astimezone(ZoneInfo(zone))
    clock = local.strftime("%I:%M:%S" if seconds else "%I:%M").lstrip("0")
    return f"{local:%b} {local.day}, {local.year}, {clock}\u202f{local:%p} {local.tzname()}"


def test_a_user_in_paris_sees_the_preview_and_next_run_in_paris_time_the_cron_in_its_zone(
    sqlite_url: str, sqlite_client_for: Clients
) -> None:
    choose(sqlite_url, "viewer", "Europe/Paris")
    viewer = sqlite_client_for("viewer")

    preview = viewer.get(
        f"{PAGE}/low_stock_report/preview",
        params={"schedule": "30 9 * * *", "timezone": "America/New_York"},
    ).text
    page = viewer.get(f"{PAGE}/low_stock_report").text  # the demo's "0 7 * * *", in UTC

    fires = re.findall(r'<time datetime="([^"]+)" title="Europe/Paris">([^<]+)</time>', preview)
    assert len(fires) == 5
    for iso, shown in fires:
        moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
        new_york = moment.astimezone(ZoneInfo("America/New_York"))
        assert (new_york.hour, new_york.minute) == (9, 30)
        assert shown == spelled(moment, "Europe/Paris")
        assert shown.endswith((" CET", " CEST"))
    assert "(cron in America/New_York; times below in Europe/Paris)" in preview
    summary = page[page.index('id="sb-job-summary"') :]
    assert "(cron in UTC)" in summary
    next_run = re.search(
        r'data-sb-next-run>.*?<time datetime="([^"]+)" title="Europe/Paris">([^<]+)</time>',
        summary,
        flags=re.S,
    )
    assert next_run, summary[:3000]
    moment = dt.datetime.fromisoformat(next_run.group(1).replace("Z", "+00:00"))
    assert (moment.hour, moment.minute) == (7, 0)
    assert next_run.group(2) == spelled(moment, "Europe/Paris")
    form = page[page.index('id="sb-schedule-preview"') :]
    assert 'title="Europe/Paris"' in form and "(cron in UTC; times below in Europe/Paris)" in form


def test_a_preview_of_fires_within_a_minute_shows_their_seconds(
    sqlite_url: str, sqlite_client_for: Clients
) -> None:
    choose(sqlite_url, "viewer", "Europe/Paris")
    viewer = sqlite_client_for("viewer")

    preview = viewer.get(
        f"{PAGE}/low_stock_report/preview", params={"schedule": "every 30s", "timezone": "UTC"}
    ).text

    fires = re.findall(r'<time datetime="([^"]+)" title="Europe/Paris">([^<]+)</time>', preview)
    assert len(fires) == 5 and len({shown for _, shown in fires}) == 5
    for iso, shown in fires:
        moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
        assert shown == spelled(moment, "Europe/Paris", seconds=True)


def test_the_preview_says_why_a_schedule_never_fires_or_a_zone_is_unknown(
    sqlite_client_for: Clients,
) -> None:
    viewer = sqlite_client_for("viewer")
    preview = f"{PAGE}/low_stock_report/preview"
    never = viewer.get(preview, params={"schedule": "0 0 30 2 *", "timezone": "Europe/Paris"})
    assert never.status_code == 200
    error = re.search(r"data-sb-preview-error>([^<]*)<", never.text)
    assert error and html.unescape(error.group(1)) == broken_rows.NEVER_FIRES.reason
    assert "<time" not in never.text
    long_zone = viewer.get(preview, params={"schedule": "every 5m", "timezone": "x" * 300})
    assert long_zone.status_code == 200
    assert "expected an IANA name" in long_zone.text
    too_long = viewer.get(preview, params={"schedule": TOO_LONG})
    assert too_long.status_code == 200 and "at most 200 characters, got 202" in too_long.text


# --- rows written around the checks ---------------------------------------------------------

BROKEN = {
    "low_stock_report": broken_rows.UNPARSABLE,
    "purge_job_runs": broken_rows.NEVER_FIRES,
    "refresh_customer_stats": broken_rows.UNKNOWN_ZONE,
}


def break_rows(url: str) -> None:
    """The demo jobs' rows broken by SQL, the one with an unknown zone with a finished run."""

    async def work(session: Any) -> None:
        for name, broken in BROKEN.items():
            await broken_rows.write(session, name, broken)
        moment = dt.datetime(2026, 11, 1, 7, tzinfo=dt.UTC)
        session.add(
            JobRun(
                job="refresh_customer_stats",
                trigger="manual",
                scheduled_for=moment,
                status="succeeded",
                started_at=moment,
                finished_at=moment,
                duration_s=0.5,
                worker="host:1",
                log="",
            )
        )

    on_db(url, work)


def test_rows_whose_schedule_cannot_run_show_as_broken_with_the_reason(
    database_url: str, client_for: Clients
) -> None:
    break_rows(database_url)
    viewer = client_for("viewer")

    page = viewer.get(PAGE)

    assert page.status_code == 200
    for name, broken in BROKEN.items():
        row = block(page.text, f'data-sb-job="{name}"')
        row = row[: row.index("</tr>")]
        reason = re.search(r"data-sb-broken>(.*?)</div>", row, re.S)
        assert reason, row
        assert html.unescape(reason.group(1)).endswith(f"broken</span> {broken.reason}")
        assert "not scheduled" in block(row, "data-sb-next-run")
        assert "data-sb-sentence" not in row
        for path in (f"{PAGE}/{name}", f"{PAGE}/{name}/row", f"{PAGE}/{name}/summary"):
            shown = viewer.get(path)
            assert shown.status_code == 200, (path, shown.text[-800:])
            assert broken.reason in html.unescape(shown.text)
        job_page = viewer.get(f"{PAGE}/{name}").text
        preview = re.search(r"data-sb-preview-error>([^<]*)<", job_page)
        assert preview and html.unescape(preview.group(1)) == broken.reason
    # The run of the job with an unknown zone: its times in the viewer's zone (TIMEZONE, UTC).
    listed = block(page.text, 'data-sb-job="refresh_customer_stats"')
    assert 'data-sb-status="succeeded"' in listed
    [run] = runs(database_url, "refresh_customer_stats")
    shown = viewer.get(f"{PAGE}/refresh_customer_stats/runs/{run.id}")
    assert shown.status_code == 200 and "Nov 1, 2026, 7:00\u202fAM UTC" in shown.text


def test_a_broken_row_is_mended_from_its_page(sqlite_url: str, sqlite_client_for: Clients) -> None:
    break_rows(sqlite_url)
    editor = sqlite_client_for("editor")
    fields = {"timeout": "", "overlap": "skip", "misfire": "run_once", "misfire_grace": "60"}
    name, broken = "refresh_customer_stats", broken_rows.UNKNOWN_ZONE

    # Saved again as stored: the zone is named as the problem, the schedule is not.
    again = post(editor, f"{PAGE}/{name}", schedule="0 7 * * *", timezone=broken.timezone, **fields)
    assert again.status_code == 422
    errors = dict(re.findall(r'data-sb-error="(\w+)"[^>]*>([^<]*)<', again.text))
    assert {k: html.unescape(v) for k, v in errors.items()} == {"timezone": broken.reason}

    mended = post(editor, f"{PAGE}/{name}", schedule="0 7 * * *", timezone="Europe/Paris", **fields)
    assert mended.status_code == 200, mended.text[-1500:]
    assert "data-sb-broken" not in mended.text and "At 07:00" in mended.text
    assert job_row(sqlite_url, name).timezone == "Europe/Paris"
    row = block(editor.get(PAGE).text, f'data-sb-job="{name}"')
    assert next_run_of(row) > dt.datetime.now(dt.UTC)


def test_the_app_starts_with_broken_rows_and_its_scheduler_skips_them_telling_ops_once(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    synced(sqlite_url)
    break_rows(sqlite_url)
    add_people(sqlite_url)
    add_user(sqlite_url, "on_call", superuser=False, groups={"ops": ["jobs:view"]})
    for _ in range(2):  # a restart tells nobody again
        app = create_app(make_config(sqlite_url, scheduler="embedded", job_heartbeat=0.5))
        root = signed_in(app, "root")  # started: the lifespan has run
        scheduler: Any = app.state.scheduler
        for name, broken in BROKEN.items():
            assert scheduler.planned[name].broken == broken.reason
            assert scheduler.planned[name].next_fire is None
        assert root.get(PAGE).status_code == 200

    async def told(session: Any) -> list[tuple[str, str, str | None]]:
        query = (
            select(Notification.title, Notification.body, Notification.link)
            .join(Group, Notification.group_id == Group.id)
            .where(Group.name == "ops")
            .order_by(Notification.title)
        )
        return [tuple(row) for row in (await session.execute(query)).all()]

    assert on_db(sqlite_url, told) == [
        (f"Job {name} is not scheduled", broken.reason, f"/admin/jobs/{name}")
        for name, broken in sorted(BROKEN.items())
    ]


def test_switching_a_job_off_and_on_from_its_row(
    sqlite_url: str, sqlite_client_for: Clients
) -> None:
    editor = sqlite_client_for("editor")
    off = post(editor, f"{PAGE}/purge_job_runs/enabled", shown_in="list", enabled="false")
    assert off.status_code == 200
    assert off.text.lstrip().startswith("<tr") and "Switched off." in off.text
    assert "not scheduled" in off.text and "checked" not in block(off.text, "data-sb-enabled")[:80]
    assert job_row(sqlite_url, "purge_job_runs").enabled is False

    on = post(editor, f"{PAGE}/purge_job_runs/enabled", shown_in="page", enabled=["false", "true"])  # type: ignore[arg-type]
    assert on.status_code == 200 and 'id="sb-job-summary"' in on.text and "Switched on." in on.text
    assert job_row(sqlite_url, "purge_job_runs").enabled is True
    again = post(editor, f"{PAGE}/purge_job_runs/enabled", enabled=["false", "true"])  # type: ignore[arg-type]
    assert "Already on." in again.text
    assert [e.changes for e in audit(sqlite_url, "job-edit")] == [
        {"enabled": {"old": True, "new": False}},
        {"enabled": {"old": False, "new": True}},
    ]


@pytest.mark.parametrize("sent", [{}, {"enabled": "maybe"}, {"enabled": ["true", "1"]}])
def test_a_switch_that_says_neither_on_nor_off_is_refused_and_changes_nothing(
    sqlite_url: str, sqlite_client_for: Clients, sent: dict[str, Any]
) -> None:
    editor = sqlite_client_for("editor")
    before = job_row(sqlite_url, "purge_job_runs").enabled
    refused = post(editor, f"{PAGE}/purge_job_runs/enabled", **sent)
    assert refused.status_code == 422
    assert "enabled: true or false" in refused.text
    assert job_row(sqlite_url, "purge_job_runs").enabled is before


def test_reset_to_code_defaults_forgets_the_browser_edits(
    database_url: str, client_for: Clients
) -> None:
    editor = client_for("editor")
    fields = {"timezone": "UTC", "timeout": "", "overlap": "skip", "misfire": "run_once"}
    post(editor, f"{PAGE}/low_stock_report", schedule="every 5m", misfire_grace="5", **fields)
    assert "Reset to code defaults" in editor.get(f"{PAGE}/low_stock_report").text
    reset = post(editor, f"{PAGE}/low_stock_report/reset")
    assert reset.status_code == 200
    assert "Reset to the code&#39;s defaults (schedule, misfire grace)." in reset.text
    assert 'value="0 7 * * *"' in reset.text and "As declared in code" in reset.text
    row = job_row(database_url, "low_stock_report")
    assert (row.schedule, row.misfire_grace_s, row.edited) == ("0 7 * * *", 60.0, [])
    assert len(audit(database_url, "job-edit")) == 2


# --- running ---------------------------------------------------------------------------------


def test_run_now_queues_a_manual_run_that_can_be_cancelled_before_it_starts(
    database_url: str, client_for: Clients
) -> None:
    runner = client_for("runner")
    queued = post(runner, f"{PAGE}/low_stock_report/run", shown_in="list")
    assert queued.status_code == 200 and queued.text.lstrip().startswith("<tr")
    assert queued.headers["HX-Trigger"] == "sb:runs-changed"
    run_id = run_id_in(queued)
    [run] = runs(database_url, "low_stock_report")
    assert (run.id, run.status, run.trigger, run.triggered_by) == (
        run_id,
        "queued",
        "manual",
        "runner",
    )
    assert [e.username for e in audit(database_url, "job-run")] == ["runner"]

    history = runner.get(f"{PAGE}/low_stock_report/runs").text
    row = block(history, f'data-sb-run="{run_id}"')
    assert 'data-sb-status="queued"' in row and "runner" in row and "Cancel" in row

    cancelled = post(runner, f"{PAGE}/runs/{run_id}/cancel", shown_in="row")
    assert cancelled.status_code == 200 and "Cancel requested." in cancelled.text
    assert 'data-sb-status="failed"' in cancelled.text
    run = wait_for_run(database_url, run_id, "failed")
    assert run.error == "cancelled by runner before it started"
    again = post(runner, f"{PAGE}/runs/{run_id}/cancel", shown_in="detail")
    assert "Already failed: nothing to cancel." in again.text and 'id="sb-run"' in again.text


def test_a_second_run_now_while_the_run_waits_names_that_run(
    database_url: str, client_for: Clients
) -> None:
    runner = client_for("runner")
    run_id = run_id_in(post(runner, f"{PAGE}/low_stock_report/run", shown_in="list"))
    again = post(runner, f"{PAGE}/low_stock_report/run", shown_in="list")
    assert again.status_code == 200
    assert f"Run #{run_id} already queued." in again.text
    assert [run.id for run in runs(database_url, "low_stock_report")] == [run_id]
    assert len(audit(database_url, "job-run")) == 1


def test_run_now_runs_the_job_and_its_page_shows_the_outcome(
    database_url: str, running_client_for: Clients
) -> None:
    root = running_client_for("root")
    run_id = run_id_in(post(root, f"{PAGE}/quick/run", shown_in="page"))
    run = wait_for_run(database_url, run_id, "succeeded", "failed")
    assert run.status == "succeeded" and run.progress == 1.0

    page = root.get(f"{PAGE}/quick/runs/{run_id}")
    assert page.status_code == 200
    assert 'data-sb-status-badge="succeeded"' in page.text
    assert "quick job ran" in block(page.text, "data-sb-log")
    assert "data-sb-follow-log" not in page.text  # finished: nothing more to follow
    listed = block(root.get(PAGE).text, 'data-sb-job="quick"')
    assert f'data-sb-last-run="{run_id}"' in listed and 'data-sb-status="succeeded"' in listed


def test_a_failing_runs_page_shows_its_log_error_and_traceback(
    database_url: str, running_client_for: Clients
) -> None:
    root = running_client_for("root")
    run_id = run_id_in(post(root, f"{PAGE}/broken/run"))
    run = wait_for_run(database_url, run_id, "succeeded", "failed")
    assert run.status == "failed"
    # The address ops get in the failure notification.
    page = root.get(f"/admin/jobs/broken/runs/{run_id}").text
    assert "about to divide the stock" in block(page, "data-sb-log")
    assert "ZeroDivisionError: stock divided by zero shelves" in block(page, "data-sb-run-error")
    trace = block(page, "data-sb-traceback")
    assert "Traceback (most recent call last)" in trace and 'raise ZeroDivisionError("stock' in (
        html.unescape(trace)
    )


def test_a_running_run_shows_its_progress_and_can_be_cancelled(
    database_url: str, running_client_for: Clients
) -> None:
    runner = running_client_for("runner")
    run_id = run_id_in(post(runner, f"{PAGE}/waits/run"))
    wait_for_run(database_url, run_id, "running")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while "waiting" not in (detail := runner.get(f"{PAGE}/waits/runs/{run_id}/detail").text):
        assert time.monotonic() < deadline, detail
        time.sleep(0.1)
    assert 'aria-valuenow="10"' in detail and "width: 10%" in detail
    assert "data-sb-follow-log" in detail and "Cancel" in detail

    cancelled = post(runner, f"{PAGE}/runs/{run_id}/cancel", shown_in="detail")
    assert cancelled.status_code == 200 and "Cancel requested." in cancelled.text
    run = wait_for_run(database_url, run_id, "failed")
    assert run.error == "cancelled by runner"
    assert [e.username for e in audit(database_url, "job-cancel")] == ["runner"]


def test_job_frames_reach_only_sockets_of_users_who_may_see_jobs(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    synced(sqlite_url)
    add_people(sqlite_url)
    app = create_app(make_config(sqlite_url))
    viewer, nobody = signed_in(app, "viewer"), signed_in(app, "nobody")
    frame = {
        "type": "job",
        "name": "low_stock_report",
        "run_id": 7,
        "status": "running",
        "progress": 0.5,
        "message": "half",
    }
    with viewer.websocket_connect(WS) as seen, nobody.websocket_connect(WS) as unseen:
        assert seen.receive_json()["type"] == "unread"
        assert unseen.receive_json()["type"] == "unread"
        seen.send_json({"type": "ping"})
        unseen.send_json({"type": "ping"})
        assert seen.receive_json()["type"] == "pong"  # both subscribed by now
        assert unseen.receive_json()["type"] == "pong"
        broker: Any = app.state.broker
        viewer.portal.call(broker.publish, JOBS_CHANNEL, frame)  # type: ignore[union-attr]
        assert seen.receive_json() == frame
        unseen.send_json({"type": "ping"})
        assert unseen.receive_json() == {"type": "pong"}
