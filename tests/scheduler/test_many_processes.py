"""Scheduler processes for real: uvicorn workers with SCHEDULER=embedded and `python -m app
scheduler`, on one PostgreSQL database and Redis.

Three processes fire an every-second job for ten seconds or so: the job's function runs once
per fire, in at least two of the processes, and no fire is missed (a minute of it, timed, is
bench/scheduler.py's).
A scheduler killed with SIGKILL mid-run leaves that run `abandoned` once its lease runs out, and
the next fire runs elsewhere. A PostgreSQL restart is survived: fires resume, /healthz is 200.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from app.auth.current import Actor
from app.db import create_engine, create_session_factory
from app.models import JobRun
from app.scheduler.service import JobEdit
from app.services import build_services, open_services
from tests.conftest import make_config, migrated_url
from tests.scheduler import jobs_for_tests
from tests.services import (
    ROOT,
    START_TIMEOUT_S,
    PostgresServer,
    UvicornServer,
    app_environment,
    log_tail,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

LEASE_S = 3.0
HEARTBEAT_S = 1.0
FIRES = 10  # enough every-second fires among three processes to catch one run twice
FIRES_WITHIN_S = 40.0  # generous: a busy machine starts late, never runs a fire twice
EVENTUALLY_S = 30.0  # how long a wait may take on a busy machine; how fast is the bench's job
TEST_ACTOR = Actor(None, "test", None)
# In any process's output, any of these is a failure (a lost claim, a crash, a stuck loop).
TROUBLE = ("Traceback", "ERROR", "could not claim")
HOST = socket.gethostname()
Run = Callable[..., UvicornServer]


@dataclass
class SchedulerProcess:
    """`python -m app scheduler` in a process (and session) of its own."""

    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def worker(self) -> str:
        return f"{HOST}:{self.process.pid}"

    def output(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(LEASE_S + 10)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@pytest.fixture
def start_scheduler(tmp_path: Path) -> Iterator[Callable[[Mapping[str, str]], SchedulerProcess]]:
    """`start_scheduler(env)`: a scheduler process, ready; every one is stopped at teardown."""
    started: list[SchedulerProcess] = []
    # Tests start several at once from threads: len(started) gave two of them one log file.
    numbers = itertools.count()

    def start(env: Mapping[str, str]) -> SchedulerProcess:
        log_file = tmp_path / f"scheduler-{next(numbers)}.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "app", "scheduler"],
                cwd=ROOT,
                env=app_environment(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        scheduler = SchedulerProcess(process, log_file)
        started.append(scheduler)
        deadline = time.monotonic() + START_TIMEOUT_S
        while f"Scheduler {scheduler.worker} running" not in scheduler.output():
            if process.poll() is not None or time.monotonic() > deadline:
                waited = START_TIMEOUT_S - (deadline - time.monotonic())
                raise AssertionError(
                    f"scheduler did not start (exit {process.poll()}, {waited:.1f} s):\n"
                    f"{log_tail(log_file)}"
                )
            time.sleep(0.05)
        return scheduler

    yield start
    for scheduler in started:
        scheduler.stop()


@pytest.fixture
def database(migrated_postgres_url: str) -> str:
    return migrated_postgres_url


def environment(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SCHEDULER": "embedded",
        "JOBS_MODULE": jobs_for_tests.MODULE,
        "JOB_LEASE_S": str(LEASE_S),
        "JOB_HEARTBEAT_S": str(HEARTBEAT_S),
        "JOB_SHUTDOWN_GRACE_S": "1",
    }


def edit(env: Mapping[str, str], name: str, change: JobEdit) -> None:
    """An operator's edit, saved and published on Redis as the page and the CLI do it."""

    async def work() -> None:
        config = make_config(
            env["DATABASE_URL"], redis_url=env["REDIS_URL"], jobs_module=jobs_for_tests.MODULE
        )
        async with open_services(build_services(config), listen=False) as services:
            await services.jobs.edit(name, change, TEST_ACTOR)

    anyio.run(work)


@dataclass(frozen=True)
class Seen:
    id: int
    scheduled_for: dt.datetime
    trigger: str
    status: str
    worker: str | None
    progress: float | None
    error: str | None


def runs_of(database_url: str, job: str) -> list[Seen]:
    async def work() -> list[Seen]:
        engine = create_engine(database_url)
        try:
            async with create_session_factory(engine)() as session:
                rows = await session.scalars(
                    select(JobRun).where(JobRun.job == job).order_by(JobRun.id)
                )
                return [
                    Seen(
                        r.id,
                        r.scheduled_for.astimezone(dt.UTC),
                        r.trigger,
                        r.status,
                        r.worker,
                        r.progress,
                        r.error,
                    )
                    for r in rows
                ]
        finally:
            await engine.dispose()

    return anyio.run(work)


def wait_for(what: str, check: Callable[[], Any], within: float, pause: float = 0.2) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:g} s")
        time.sleep(pause)


def outputs(servers: list[UvicornServer], schedulers: list[SchedulerProcess]) -> dict[str, str]:
    shown = {f"uvicorn {s.pid}": s.output() for s in servers}
    return shown | {f"scheduler {s.process.pid}": s.output() for s in schedulers}


def trouble_in(logs: Mapping[str, str]) -> dict[str, list[str]]:
    return {
        name: [line for line in text.splitlines() if any(mark in line for mark in TROUBLE)]
        for name, text in logs.items()
        if any(mark in text for mark in TROUBLE)
    }


def uvicorn_worker(server: UvicornServer) -> str:
    return f"{HOST}:{server.pid}"  # one uvicorn process, no --workers: it runs the app itself


def executions(path: Path) -> list[tuple[dt.datetime, int]]:
    """(fire, process id) for every execution of `tick`'s function, in the order they ran."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        fire, pid = line.split()
        found.append((dt.datetime.fromisoformat(fire).astimezone(dt.UTC), int(pid)))
    return found


@pytest.mark.timeout(180)
def test_three_processes_run_every_fire_of_an_every_second_job_exactly_once(
    run_uvicorn: Run,
    start_scheduler: Callable[[Mapping[str, str]], SchedulerProcess],
    database: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    ran_file = tmp_path / "tick-executions.txt"
    env = environment(database, redis_url) | {jobs_for_tests.EXECUTIONS_FILE: str(ran_file)}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        web = [pool.submit(run_uvicorn, env) for _ in range(2)]
        alone = pool.submit(start_scheduler, env)
        servers, scheduler = [future.result() for future in web], alone.result()
    pids = {*(server.pid for server in servers), scheduler.process.pid}

    enabled_at = dt.datetime.now(dt.UTC)
    edit(env, "tick", JobEdit(enabled=True))  # every process hears it on Redis

    def enough() -> bool:
        ran = executions(ran_file)
        return len(ran) >= FIRES and len({pid for _, pid in ran}) >= 2

    wait_for(f"{FIRES} fires, run by two processes or more", enough, within=FIRES_WITHIN_S)
    edit(env, "tick", JobEdit(enabled=False))

    def settled() -> tuple[list[tuple[dt.datetime, int]], list[Seen]] | None:
        ran = executions(ran_file)  # read first: every execution in it has its row already
        runs = runs_of(database, "tick")
        done = all(run.status not in ("queued", "running") for run in runs)
        succeeded = {run.scheduled_for for run in runs if run.status == "succeeded"}
        recorded = succeeded <= {fire for fire, _ in ran}  # (other statuses: asserted below)
        return (ran, runs) if done and recorded else None

    time.sleep(2 * HEARTBEAT_S)  # a fire claimed just before the edit was heard counts too
    ran, runs = wait_for("the last fires finished", settled, within=EVENTUALLY_S)

    # What the job function did, not what the rows say (their unique key hides a second run).
    by_fire = Counter(fire for fire, _ in ran)
    assert [fire for fire, times in by_fire.items() if times > 1] == [], "a fire ran twice"
    fires = sorted(by_fire)
    first, last = fires[0], fires[-1]
    seconds = int((last - first).total_seconds())
    every_second = [first + dt.timedelta(seconds=n) for n in range(seconds + 1)]
    missing = sorted(set(every_second) - set(fires))
    assert missing == [], f"{len(missing)} fires missing: {missing[:10]}"
    assert len(fires) >= FIRES
    assert first > enabled_at  # nothing from before it was enabled
    by_pid = Counter(pid for _, pid in ran)
    assert set(by_pid) <= pids and len(by_pid) >= 2, by_pid

    # Each run recorded is one execution, by the process the row names, and it succeeded.
    assert sorted((run.scheduled_for, run.worker) for run in runs) == sorted(
        (fire, f"{HOST}:{pid}") for fire, pid in ran
    )
    assert Counter((run.trigger, run.status) for run in runs) == {
        ("schedule", "succeeded"): len(runs)
    }
    assert all(process.is_running() for process in servers)
    assert scheduler.process.poll() is None
    assert trouble_in(outputs(servers, [scheduler])) == {}


@pytest.mark.timeout(120)
def test_a_scheduler_killed_mid_run_leaves_the_run_abandoned_and_the_next_fire_runs_elsewhere(
    run_uvicorn: Run,
    start_scheduler: Callable[[Mapping[str, str]], SchedulerProcess],
    database: str,
    redis_url: str,
) -> None:
    env = environment(database, redis_url)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        web = pool.submit(run_uvicorn, env)
        alone = [pool.submit(start_scheduler, env) for _ in range(2)]
        server, schedulers = web.result(), [future.result() for future in alone]
    kill_by_worker: dict[str, Callable[[], object]] = {uvicorn_worker(server): server.kill}
    kill_by_worker |= {scheduler.worker: scheduler.kill for scheduler in schedulers}

    edit(env, "long", JobEdit(enabled=True))  # every 5 s, ~30 s a run, overlap skip
    victim = wait_for(
        "a long run past its start",
        lambda: next(
            (r for r in runs_of(database, "long") if r.status == "running" and r.progress),
            None,
        ),
        within=EVENTUALLY_S,
    )
    kill_by_worker[victim.worker]()  # SIGKILL: no chance to record anything
    killed_at = time.monotonic()

    def abandoned() -> Seen | None:
        now = next(r for r in runs_of(database, "long") if r.id == victim.id)
        return now if now.status == "abandoned" else None

    ended = wait_for("the killed run abandoned", abandoned, within=EVENTUALLY_S)
    # Not before the lease it held could have run out (renewed at its last heartbeat).
    assert time.monotonic() - killed_at >= LEASE_S - HEARTBEAT_S - 0.5
    assert ended.error is not None and "stopped" in ended.error
    assert ended.progress is not None and 0 < ended.progress < 1

    def next_run() -> Seen | None:
        later = [r for r in runs_of(database, "long") if r.id > victim.id and r.status == "running"]
        return later[0] if later else None

    survivor = wait_for("the next fire running", next_run, within=EVENTUALLY_S)
    assert survivor.worker != victim.worker and survivor.worker in kill_by_worker
    assert survivor.scheduled_for > victim.scheduled_for
    between = [r for r in runs_of(database, "long") if victim.id < r.id < survivor.id]
    # Fires while the dead run still held its lease were skipped on purpose (overlap: skip).
    assert {r.status for r in between} <= {"skipped"}, between


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test alone: restarting it disturbs no other test."""
    server = PostgresServer.create()
    try:
        yield server
    finally:
        server.destroy()


@pytest.mark.timeout(120)
def test_a_postgresql_restart_is_survived(
    run_uvicorn: Run,
    start_scheduler: Callable[[Mapping[str, str]], SchedulerProcess],
    own_postgres: PostgresServer,
    redis_url: str,
) -> None:
    database = migrated_url(own_postgres.create_database("restarted"))
    env = environment(database, redis_url)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        web, alone = pool.submit(run_uvicorn, env), pool.submit(start_scheduler, env)
        server, scheduler = web.result(), alone.result()
    edit(env, "tick", JobEdit(enabled=True))
    wait_for("fires", lambda: len(runs_of(database, "tick")) >= 3, within=EVENTUALLY_S)

    own_postgres.stop()
    wait_for("/healthz 503", lambda: server.healthz().status_code == 503, within=EVENTUALLY_S)
    time.sleep(2 * HEARTBEAT_S)  # fires and heartbeats fail meanwhile
    own_postgres.start()
    restarted_at = dt.datetime.now(dt.UTC)

    wait_for("/healthz 200", lambda: server.healthz().status_code == 200, within=EVENTUALLY_S)

    def resumed() -> list[Seen]:
        after = [r for r in runs_of(database, "tick") if r.scheduled_for > restarted_at]
        return after if len(after) >= 5 else []

    after = wait_for("fires after the restart", resumed, within=EVENTUALLY_S, pause=0.5)
    assert {r.status for r in after} <= {"succeeded", "running"}, after
    fires = sorted(r.scheduled_for for r in after)
    assert fires[-1] - fires[-5] == dt.timedelta(seconds=4), fires  # every second again
    assert server.is_running() and scheduler.process.poll() is None
    workers = {r.worker for r in after}
    assert workers <= {uvicorn_worker(server), scheduler.worker}, workers
    # Nothing is left running from before the restart: those runs finished or were abandoned.
    stuck = [
        r
        for r in runs_of(database, "tick")
        if r.status == "running" and r.scheduled_for < restarted_at
    ]
    assert stuck == []
