"""`python -m app jobs …` and `python -m app scheduler` as operators and scripts call them.

Most cases call `main()` in this process against SQLite (a subprocess costs ~2 s of imports);
`run --wait` meets a real scheduler (`run_scheduler`, the `scheduler` command's body, in a
thread); the last tests run the real entry points for the exit status and stderr a shell sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from app.db import create_engine, create_session_factory
from app.models import AuditEntry, JobRun, ScheduledJob
from app.scheduler import registry
from app.scheduler.standalone import run_scheduler
from tests.conftest import RunCli, make_config
from tests.scheduler import broken_rows, jobs_for_tests, never_firing_jobs
from tests.scheduler.test_schedules import TOO_LONG
from tests.services import ROOT, app_environment
from tests.test_cli import one_line

# Starboard's own jobs (BUILT_IN_JOBS) come with every JOBS_MODULE.
BUILT_IN = sorted(
    name for module in registry.BUILT_IN_JOBS for name in registry.jobs_in(import_module(module))
)
JOBS = sorted(["fails", "long", "quick", "tick", *BUILT_IN])
KNOWN = f"known jobs: {', '.join(JOBS)}"
LIST_FIELDS = {"name", "schedule", "enabled", "next_run_at", "last_run_at", "last_status"}
HISTORY_FIELDS = {"id", "job", "trigger", "scheduled_for", "started_at", "finished_at"}
HISTORY_FIELDS |= {"status", "worker", "error"}
FAST = {"JOB_HEARTBEAT_S": "0.2", "JOB_LEASE_S": "3", "JOB_SHUTDOWN_GRACE_S": "1"}
GAVE_UP_WITHIN_S = 30.0  # a busy machine is slow, never 30 s slow to give up a 1 s wait


@pytest.fixture
def cli(cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """`cli(url, *args)`: main() with this database, the test jobs and no Redis."""
    monkeypatch.setenv("JOBS_MODULE", jobs_for_tests.MODULE)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    return cli


def read(url: str, model: Any) -> list[Any]:
    async def work() -> list[Any]:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                return list((await session.scalars(select(model))).all())
        finally:
            await engine.dispose()

    return anyio.run(work)


def jobs_in(url: str) -> dict[str, ScheduledJob]:
    return {job.name: job for job in read(url, ScheduledJob)}


def break_rows(url: str, rows: dict[str, broken_rows.Broken]) -> None:
    async def work() -> None:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                for job, broken in rows.items():
                    await broken_rows.write(session, job, broken)
        finally:
            await engine.dispose()

    anyio.run(work)


@pytest.fixture
def scheduler(sqlite_url: str) -> Iterator[None]:
    """A scheduler on the test database in a thread of its own, as `python -m app scheduler`
    runs it; without Redis it finds queued runs on its heartbeat (0.2 s here)."""
    config = make_config(
        sqlite_url,
        jobs_module=jobs_for_tests.MODULE,
        job_heartbeat=0.2,
        job_lease=3.0,
        job_shutdown_grace=1.0,
    )
    started = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await run_scheduler(
            config, stop=box["stop"], ready=lambda s: started.set(), handle_signals=False
        )

    def target() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # shown by the assertion below
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert started.wait(30) and "error" not in box, box.get("error")
    yield
    box["loop"].call_soon_threadsafe(box["stop"].set)
    thread.join(15)
    assert not thread.is_alive() and "error" not in box, box.get("error")


# -- list --------------------------------------------------------------------------------------


def test_list_json_on_a_fresh_database_brings_the_jobs_from_code(cli: Any, sqlite_url: str) -> None:
    assert jobs_in(sqlite_url) == {}  # no server ever started on it

    ran = cli(sqlite_url, "jobs", "list", "--json")

    assert ran.code == 0, ran.err
    listed = json.loads(ran.out)
    assert [job["name"] for job in listed] == JOBS
    assert all(job.keys() >= LIST_FIELDS for job in listed)
    by_name = {job["name"]: job for job in listed}
    assert by_name["quick"] | {"next_run_at": None} == by_name["quick"] | {
        "schedule": "0 0 1 1 *",
        "enabled": True,
        "next_run_at": None,
        "last_run_at": None,
        "last_status": None,
    }
    assert by_name["quick"]["next_run_at"].endswith("-01-01T00:00:00+00:00")
    assert by_name["tick"]["enabled"] is False and by_name["tick"]["next_run_at"] is None
    assert sorted(jobs_in(sqlite_url)) == JOBS


def test_list_table_shows_one_line_per_job(cli: Any, sqlite_url: str) -> None:
    ran = cli(sqlite_url, "jobs", "list")

    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    header = ["NAME", "SCHEDULE", "ENABLED", "NEXT RUN", "LAST RUN", "LAST STATUS"]
    assert re.split(r"\s{2,}", lines[0]) == header
    assert [line.split()[0] for line in lines[1:]] == JOBS
    tick = next(line for line in lines if line.startswith("tick"))
    assert tick.split()[1:] == ["*", "*", "*", "*", "*", "*", "no", "-", "-", "-"]


def test_list_shows_rows_whose_schedule_cannot_run_as_broken_and_exits_0(
    cli: Any, sqlite_url: str
) -> None:
    cli(sqlite_url, "jobs", "list")  # the rows from code
    broken = {
        "quick": broken_rows.NEVER_FIRES,
        "fails": broken_rows.UNPARSABLE,
        "long": broken_rows.UNKNOWN_ZONE,
    }
    break_rows(sqlite_url, broken)

    listed = cli(sqlite_url, "jobs", "list", "--json")
    table = cli(sqlite_url, "jobs", "list")

    assert (listed.code, listed.err) == (0, "")
    by_name = {job["name"]: job for job in json.loads(listed.out)}
    for name, row in broken.items():
        assert by_name[name]["broken"] == row.reason
        assert by_name[name]["schedule"] == row.schedule
        assert by_name[name]["next_run_at"] is None
        assert by_name[name]["schedule_text"] == "broken schedule"
    assert by_name["tick"]["broken"] is None
    assert (table.code, table.err) == (0, "")
    lines = table.out.splitlines()
    quick = next(line for line in lines if line.startswith("quick "))
    assert quick.split()[-4:] == ["yes", "broken", "-", "-"]
    assert lines[-3:] == [
        f"{name}: not scheduled: {broken[name].reason}" for name in ("fails", "long", "quick")
    ]


# -- enable, disable, schedule -----------------------------------------------------------------


def test_disable_and_enable_switch_the_job_and_are_audited(cli: Any, sqlite_url: str) -> None:
    ran = cli(sqlite_url, "jobs", "disable", "quick")
    assert (ran.code, ran.out) == (0, "quick disabled\n"), ran.err
    assert jobs_in(sqlite_url)["quick"].enabled is False
    assert cli(sqlite_url, "jobs", "disable", "quick").out == "quick was already disabled\n"

    ran = cli(sqlite_url, "jobs", "enable", "quick")
    assert (ran.code, ran.out) == (0, "quick enabled\n"), ran.err
    job = jobs_in(sqlite_url)["quick"]
    assert job.enabled is True and job.edited == ["enabled"]
    assert job.updated_by is not None and job.updated_by.startswith("cli")
    entries = read(sqlite_url, AuditEntry)
    assert [(e.action, e.object_pk, e.changes) for e in entries] == [
        ("job-edit", "quick", {"enabled": {"old": True, "new": False}}),
        ("job-edit", "quick", {"enabled": {"old": False, "new": True}}),
    ]
    assert all(e.username is not None and e.username.startswith("cli") for e in entries)


def test_schedule_saves_the_new_expression_and_shows_the_next_run(
    cli: Any, sqlite_url: str
) -> None:
    ran = cli(sqlite_url, "jobs", "schedule", "quick", "every", "5m")  # words are joined

    assert ran.code == 0, ran.err
    first, second = ran.out.splitlines()
    assert first == "quick: schedule: every 5m (Every 5 minutes)"
    assert second.startswith("next run: ") and second.endswith(":00+00:00")
    job = jobs_in(sqlite_url)["quick"]
    assert (job.schedule, job.edited) == ("every 5m", ["schedule"])
    ran = cli(sqlite_url, "jobs", "schedule", "quick", "*/10 * * * * *")  # seconds first
    assert ran.code == 0 and ran.out.startswith("quick: schedule: */10 * * * * * ("), ran.err
    ran = cli(sqlite_url, "jobs", "schedule", "tick", "every 2h")
    assert ran.out.splitlines()[1] == "next run: none (the job is disabled)"


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("61 * * * *", "invalid schedule '61 * * * *': minute must be 0-59"),
        ("every 5 fortnights", "invalid schedule 'every 5 fortnights': "),
        ("* * *", "invalid schedule '* * *': "),
        (
            "0 0 30 2 *",
            "invalid schedule '0 0 30 2 *': never fires: day of month 30 never falls in month 2",
        ),
        (TOO_LONG, "…': at most 200 characters, got 202"),
    ],
)
def test_an_invalid_schedule_exits_2_with_the_reason_and_saves_nothing(
    cli: Any, sqlite_url: str, expression: str, says: str
) -> None:
    cli(sqlite_url, "jobs", "list")
    before = jobs_in(sqlite_url)["quick"]

    ran = cli(sqlite_url, "jobs", "schedule", "quick", expression)

    assert ran.code == 2 and ran.out == ""
    assert says in one_line(ran.err)
    after = jobs_in(sqlite_url)["quick"]
    assert (after.schedule, after.revision, after.edited) == (before.schedule, before.revision, [])
    assert read(sqlite_url, AuditEntry) == []


def test_a_new_schedule_for_a_row_with_an_unknown_zone_exits_2_naming_the_zone(
    cli: Any, sqlite_url: str
) -> None:
    cli(sqlite_url, "jobs", "list")
    break_rows(sqlite_url, {"quick": broken_rows.UNKNOWN_ZONE})

    ran = cli(sqlite_url, "jobs", "schedule", "quick", "every 5m")

    assert (ran.code, ran.out) == (2, "")
    assert one_line(ran.err) == f"starboard jobs: {broken_rows.UNKNOWN_ZONE.reason}"
    assert jobs_in(sqlite_url)["quick"].schedule == broken_rows.UNKNOWN_ZONE.schedule
    assert read(sqlite_url, AuditEntry) == []


@pytest.mark.parametrize(
    "args",
    [
        ["run", "nope"],
        ["enable", "nope"],
        ["disable", "nope"],
        ["schedule", "nope", "every 5m"],
        ["history", "nope"],
    ],
)
def test_an_unknown_job_exits_2_naming_the_known_ones(
    cli: Any, sqlite_url: str, args: list[str]
) -> None:
    ran = cli(sqlite_url, "jobs", *args)

    assert ran.code == 2 and ran.out == ""
    assert one_line(ran.err) == f"starboard jobs: job 'nope': no such job; {KNOWN}"
    assert read(sqlite_url, JobRun) == [] and read(sqlite_url, AuditEntry) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["history", "quick", "--limit", "0"], "--limit: expected a whole number from 1 to 1,000"),
        (["history", "quick", "--limit", "1001"], "--limit: expected a whole number from 1"),
        (["history", "quick", "--limit", "ten"], "--limit: expected a whole number from 1"),
        (["run", "quick", "--wait", "--start-timeout", "0"], "--start-timeout: expected a whole"),
        (["schedule", "quick"], "the following arguments are required: expression"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: jobs_command"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    cli: Any, sqlite_url: str, args: list[str], says: str
) -> None:
    ran = cli(sqlite_url, "jobs", *args)

    assert ran.code == 2 and ran.out == ""
    assert says in one_line(ran.err)


# -- run and history ---------------------------------------------------------------------------


def test_run_queues_a_manual_run_and_prints_its_id(cli: Any, sqlite_url: str) -> None:
    ran = cli(sqlite_url, "jobs", "run", "quick")

    assert ran.code == 0, ran.err
    (run,) = read(sqlite_url, JobRun)
    assert ran.out == f"Queued run {run.id} of quick\n"
    assert (run.job, run.trigger, run.status) == ("quick", "manual", "queued")
    assert run.triggered_by is not None and run.triggered_by.startswith("cli")
    assert [e.action for e in read(sqlite_url, AuditEntry)] == ["job-run"]


def test_run_again_while_the_run_waits_names_it_and_queues_no_other(
    cli: Any, sqlite_url: str
) -> None:
    first = cli(sqlite_url, "jobs", "run", "quick")
    again = cli(sqlite_url, "jobs", "run", "quick")

    assert (first.code, again.code) == (0, 0), again.err
    (run,) = read(sqlite_url, JobRun)
    assert again.out == f"Run {run.id} of quick already queued\n"
    assert [e.action for e in read(sqlite_url, AuditEntry)] == ["job-run"]


def test_run_wait_gives_up_when_no_scheduler_takes_the_run(cli: Any, sqlite_url: str) -> None:
    started = time.monotonic()
    ran = cli(sqlite_url, "jobs", "run", "quick", "--wait", "--start-timeout", "1")

    waited = time.monotonic() - started
    # It waited its second, then gave up; the generous bound only says it did not hang.
    assert 1 <= waited < GAVE_UP_WITHIN_S, waited
    assert ran.code == 1
    (run,) = read(sqlite_url, JobRun)
    assert ran.out == f"Queued run {run.id} of quick\n"
    assert one_line(ran.err).startswith(
        f"starboard jobs run: run {run.id} still queued after 1 s: no scheduler took it"
    )
    assert run.status == "queued"  # it runs when a scheduler starts


def test_run_wait_exits_0_when_the_run_succeeds(cli: Any, sqlite_url: str, scheduler: None) -> None:
    ran = cli(sqlite_url, "jobs", "run", "quick", "--wait", "--start-timeout", "20")

    assert ran.code == 0, ran.err
    (run,) = read(sqlite_url, JobRun)
    lines = ran.out.splitlines()
    assert lines[0] == f"Queued run {run.id} of quick"
    assert lines[-1].startswith(f"Run {run.id} succeeded in ")
    assert run.status == "succeeded" and "threshold 10" in run.log  # a live setting was read


def test_run_wait_exits_1_with_the_error_when_the_run_fails(
    cli: Any, sqlite_url: str, scheduler: None
) -> None:
    ran = cli(sqlite_url, "jobs", "run", "fails", "--wait", "--start-timeout", "20")

    assert ran.code == 1
    (run,) = read(sqlite_url, JobRun)
    assert run.status == "failed"
    assert one_line(ran.err).startswith(f"starboard jobs run: run {run.id} failed in ")
    assert ran.err.rstrip().endswith(": RuntimeError: boom on purpose")


def test_history_lists_runs_newest_first_with_the_contract_fields(
    cli: Any, sqlite_url: str, scheduler: None
) -> None:
    assert cli(sqlite_url, "jobs", "run", "quick", "--wait").code == 0
    assert cli(sqlite_url, "jobs", "run", "fails", "--wait").code == 1
    assert cli(sqlite_url, "jobs", "run", "quick", "--wait").code == 0

    ran = cli(sqlite_url, "jobs", "history", "quick", "--json")

    assert ran.code == 0, ran.err
    runs = json.loads(ran.out)
    assert len(runs) == 2 and runs[0]["id"] > runs[1]["id"]
    for run in runs:
        assert run.keys() >= HISTORY_FIELDS
        assert (run["job"], run["trigger"], run["status"], run["error"]) == (
            "quick",
            "manual",
            "succeeded",
            None,
        )
        assert run["worker"] and run["started_at"] <= run["finished_at"]
    assert json.loads(
        cli(sqlite_url, "jobs", "history", "quick", "--json", "--limit", "1").out
    ) == [runs[0]]
    (failed,) = json.loads(cli(sqlite_url, "jobs", "history", "fails", "--json").out)
    assert (failed["status"], failed["error"]) == ("failed", "RuntimeError: boom on purpose")

    table = cli(sqlite_url, "jobs", "history", "fails").out.splitlines()
    header = ["ID", "TRIGGER", "SCHEDULED FOR", "STATUS", "DURATION", "WORKER", "ERROR"]
    assert re.split(r"\s{2,}", table[0]) == header
    assert table[1].split()[:4] == [str(failed["id"]), "manual", failed["scheduled_for"], "failed"]
    assert table[1].endswith("RuntimeError: boom on purpose")
    assert table[-1] == "1 of 1 runs"
    listed = {job["name"]: job for job in json.loads(cli(sqlite_url, "jobs", "list", "--json").out)}
    assert (listed["quick"]["last_status"], listed["fails"]["last_status"]) == (
        "succeeded",
        "failed",
    )
    assert listed["quick"]["last_run_at"] == runs[0]["started_at"]


def test_history_of_a_job_never_run_is_empty(cli: Any, sqlite_url: str) -> None:
    assert json.loads(cli(sqlite_url, "jobs", "history", "quick", "--json").out) == []
    assert cli(sqlite_url, "jobs", "history", "quick").out.splitlines()[-1] == "0 of 0 runs"


# -- the real entry points ---------------------------------------------------------------------


def starboard(
    url: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    environment = app_environment(
        {"DATABASE_URL": url, "JOBS_MODULE": jobs_for_tests.MODULE, **FAST, **(env or {})}
    )
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_scheduler_command_runs_queued_runs_and_stops_cleanly_on_sigterm(
    sqlite_url: str, tmp_path: Path
) -> None:
    environment = app_environment(
        {"DATABASE_URL": sqlite_url, "JOBS_MODULE": jobs_for_tests.MODULE, **FAST}
    )
    log_file = tmp_path / "scheduler.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "scheduler"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        ran = starboard(sqlite_url, "jobs", "run", "quick", "--wait", "--start-timeout", "30")
        assert ran.returncode == 0, ran.stderr + log_file.read_text()
        assert ran.stdout.splitlines()[-1].startswith("Run 1 succeeded in ")
        (run,) = read(sqlite_url, JobRun)
        assert run.worker == f"{os.uname().nodename}:{process.pid}"
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    output = log_file.read_text()
    assert f"Scheduler {run.worker} running {len(JOBS)} jobs" in output
    assert output.rstrip().endswith("Scheduler stopped")
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"JOB_LEASE_S": "soon"}, "JOB_LEASE_S='soon': expected seconds from 1 to 3600"),
        ({"JOB_HEARTBEAT_S": "0"}, "JOB_HEARTBEAT_S='0': expected seconds from 0.1 to 600"),
        (
            {"JOB_LEASE_S": "3", "JOB_HEARTBEAT_S": "5"},
            "JOB_HEARTBEAT_S=5: must be less than JOB_LEASE_S=3",
        ),
        ({"JOB_SHUTDOWN_GRACE_S": "-1"}, "JOB_SHUTDOWN_GRACE_S='-1': expected seconds from 0"),
        ({"JOBS_MODULE": "no such"}, "JOBS_MODULE='no such': expected a module name"),
        ({"JOBS_MODULE": "app.nowhere"}, "JOBS_MODULE='app.nowhere': no such module"),
        (
            {"JOBS_MODULE": never_firing_jobs.MODULE},
            "job 'february_30_report': invalid schedule '0 0 30 2 *': never fires",
        ),
    ],
)
def test_bad_job_settings_stop_the_scheduler_with_one_line(
    cli: Any, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, env: dict[str, str], says: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    ran = cli(sqlite_url, "scheduler")  # stops before it starts: no signal handlers to undo

    assert ran.code == 2 and ran.out == ""
    assert says in one_line(ran.err)
