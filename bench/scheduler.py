"""Scheduled jobs on PostgreSQL: how late fires start, whether any runs twice or not at all, and
how soon the schedulers use an edited schedule.

Each scheduler is a process of its own (this module run with `--worker`: a Scheduler built
directly, as `python -m app scheduler` builds it, with the default lease and heartbeat, Redis
for channels, uvloop), all on one fresh database of the bench cluster in var/bench/pg.

- Start delay: an every-second job; for each fire in a window of --fires seconds, the job's
  own clock reading when its function began, minus the second it was due (same machine, same
  clock). p50/p99/max over the window, with duplicate fires (a second run more than once) and
  missed fires (a second run by nobody), counted from what the job functions printed.
  With one process, with three, and with three and 10,000 more enabled jobs (daily, at times
  at least an hour away, so they are planned but do not fire in the window).
- Edit pickup: a job is edited (JobsService.edit: saved, audited, published on Redis) to fire
  at one second about two seconds ahead; pickup is the time from the start of the edit call
  until a scheduler's plan holds the new revision (each process writes its clock when its
  reload of the job completes), the slowest of the three per edit. The edited fire must then
  run once, on time (its start delay is reported as well).

    python -m bench.scheduler [--fires N] [--edits N] [--fillers N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
from sqlalchemy import text

from app import schema
from app.auth.current import Actor
from app.channels.choose import broker_for
from app.constance import LiveSettings
from app.constance.hooks import load_declarations
from app.db import create_engine, create_session_factory
from app.scheduler.context import JobContext
from app.scheduler.registry import JobDefinition
from app.scheduler.runner import Scheduler
from app.scheduler.service import JobEdit, JobsService
from bench.dataset import BENCH_DIR, ROOT
from bench.goals import Goal, conclude, shortfalls
from bench.postgres import PostgresUnavailable, running_postgres
from bench.stats import Samples, count, load_average, ms, table
from tests.services import RedisServer, app_environment

FIRES = 60
EDITS = 20
FILLERS = 10_000
LEAD_S = 2.0  # the window starts this long after every process is ready
READY_TIMEOUT_S = 180.0
DATABASE = "starboard_scheduler"
ACTOR = Actor(user_id=None, username="bench", client_address=None)
RARELY = "0 3 1 1 *"

START_GOAL_MS = 250.0
PICKUP_GOAL_MS = 1000.0
ANCHORS = [
    "django-celery-beat picks up a schedule change by polling: up to 5 s late (its issues)",
    "django-celery-beat with 1,000 crontabs: tasks sent 12-18 s late (its issues)",
    "django-celery-beat with more than one beat running: duplicate runs (its issues)",
]


# --- the scheduler process -------------------------------------------------------------------


async def tick(ctx: JobContext) -> None:
    print(f"RAN {ctx.job} {ctx.scheduled_for.timestamp():.0f} {time.time():.6f}", flush=True)


async def filler(ctx: JobContext) -> None:
    return None


def definitions(fillers: int, base_hour: int) -> dict[str, JobDefinition]:
    """The every-second job, the job the edits move, and `fillers` daily jobs an hour or more
    after `base_hour` (UTC), at 1,200 different times."""
    found = {
        "tick": JobDefinition("tick", tick, "every 1s"),
        "probe": JobDefinition("probe", tick, RARELY),
    }
    for n in range(fillers):
        hour = (base_hour + 2 + (n // 60) % 20) % 24
        name = f"daily_{n:05d}"
        found[name] = JobDefinition(name, filler, f"{n % 60} {hour} * * *")
    return found


class ReportingScheduler(Scheduler):
    """Writes when a job's new plan is in place, for the pickup figure."""

    async def reload_job(self, name: str) -> None:
        await super().reload_job(name)
        planned = self.planned.get(name)
        revision = planned.row.revision if planned else -1
        print(f"PLANNED {name} {revision} {time.time():.6f}", flush=True)


async def serve(args: argparse.Namespace) -> None:
    engine = create_engine(args.database)
    broker, client = broker_for(args.redis, engine)
    live = LiveSettings(load_declarations("app.live_settings").declared)
    scheduler = ReportingScheduler(
        definitions(args.filler_jobs, args.base_hour),
        create_session_factory(engine),
        broker,
        live,
        worker=args.worker,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await broker.start()
    await scheduler.start()
    print("READY", flush=True)
    try:
        await stop.wait()
    finally:
        await scheduler.stop()
        await broker.stop()
        if client is not None:
            await client.aclose()
        await engine.dispose()


# --- processes ----------------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log_file: Path

    def lines(self) -> list[str]:
        return self.log_file.read_text(errors="replace").splitlines()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextlib.contextmanager
def workers(
    count: int, database_url: str, redis_url: str, fillers: int, directory: Path, label: str
) -> Iterator[list[Worker]]:
    base_hour = dt.datetime.now(dt.UTC).hour
    started: list[Worker] = []
    try:
        for n in range(count):
            name = f"{label}-{n}"
            log_file = directory / f"{name}.log"
            with log_file.open("wb") as log:
                argv = [sys.executable, "-m", "bench.scheduler", "--worker", name]
                argv += ["--database", database_url, "--redis", redis_url]
                argv += ["--filler-jobs", str(fillers), "--base-hour", str(base_hour)]
                process = subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env=app_environment({"DATABASE_URL": database_url}),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            started.append(Worker(name, process, log_file))
        deadline = time.monotonic() + READY_TIMEOUT_S
        for worker in started:
            while "READY" not in worker.lines():
                if worker.process.poll() is not None or time.monotonic() > deadline:
                    tail = "\n".join(worker.lines()[-30:])
                    raise RuntimeError(f"scheduler {worker.name} did not start:\n{tail}")
                time.sleep(0.1)
        yield started
    finally:
        for worker in started:
            worker.stop()


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Fires:
    name: str
    processes: int
    jobs: int
    delay: Samples = field(default_factory=Samples)
    duplicates: int = 0
    missed: int = 0
    seconds: int = 0

    def goals(self) -> list[Goal]:
        bench, case = "scheduler", self.name
        return [
            Goal(bench, case, "start delay p99", self.delay.p99, "ms", "<=", START_GOAL_MS),
            Goal(bench, case, "fires run twice", self.duplicates, "", "==", 0),
            Goal(bench, case, "fires missed", self.missed, "", "==", 0),
        ]

    def failures(self) -> list[str]:
        return shortfalls(self.goals())


def ran(started: Sequence[Worker], job: str) -> dict[int, list[float]]:
    """Due second -> the clock readings of every start of that fire, across processes."""
    found: dict[int, list[float]] = defaultdict(list)
    for worker in started:
        for line in worker.lines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "RAN" and parts[1] == job:
                found[int(parts[2])].append(float(parts[3]))
    return found


def count_fires(result: Fires, started: Sequence[Worker], first: int, last: int) -> Fires:
    starts = ran(started, "tick")
    for second in range(first, last):
        readings = starts.get(second, [])
        result.seconds += 1
        if not readings:
            result.missed += 1
            continue
        result.duplicates += len(readings) - 1
        result.delay.add(min(readings) - second)
    return result


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def measure_fires(
    name: str, started: Sequence[Worker], fires: int, fillers: int
) -> tuple[Fires, int]:
    first = math.ceil(time.time() + LEAD_S)
    last = first + fires
    print(f"  {name}: {fires} fires ...", flush=True)
    sleep_until(last + 1.0)  # the last fire has started well before this
    result = Fires(name, len(started), fillers + 2)
    return result, first


@dataclass
class Pickup:
    edits: int = 0
    slowest: Samples = field(default_factory=Samples)  # edit call to the last process's plan
    fastest: Samples = field(default_factory=Samples)  # ... to the first process's plan
    call: Samples = field(default_factory=Samples)  # the edit call alone (commit + publish)
    delay: Samples = field(default_factory=Samples)  # the edited fire's start delay
    not_run: int = 0
    duplicates: int = 0

    def goals(self) -> list[Goal]:
        bench, case, slowest = "scheduler", "edit pickup", self.slowest.ms(100)
        return [
            Goal(bench, case, "edit to every plan, max", slowest, "ms", "<=", PICKUP_GOAL_MS),
            Goal(bench, case, "edited fires not run", self.not_run, "", "==", 0),
            Goal(bench, case, "edited fires run twice", self.duplicates, "", "==", 0),
        ]

    def failures(self) -> list[str]:
        return shortfalls(self.goals())


async def edit_schedules(
    database_url: str, redis_url: str, edits: int
) -> list[tuple[int, float, float, int]]:
    """Moves `probe` to one second ~2 s ahead, `edits` times; (revision, edit start, due)."""
    engine = create_engine(database_url)
    broker, client = broker_for(redis_url, engine)  # publishing needs no subscription
    service = JobsService({}, create_session_factory(engine), broker)
    done = []
    try:
        for _ in range(edits):
            due = math.ceil(time.time() + LEAD_S)
            at = dt.datetime.fromtimestamp(due, dt.UTC)
            cron = f"{at.second} {at.minute} {at.hour} {at.day} {at.month} *"
            began = time.time()
            await service.edit("probe", JobEdit(schedule=cron), ACTOR)
            ended = time.time()
            async with engine.connect() as conn:
                revision = await conn.scalar(
                    text("SELECT revision FROM scheduled_job WHERE name = 'probe'")
                )
            done.append((int(revision), began, ended, due))
            await asyncio.sleep(max(0.0, due + 0.6 - time.time()))
    finally:
        if client is not None:
            await client.aclose()
        await engine.dispose()
    return done


def measure_pickup(started: Sequence[Worker], edits: list[tuple[int, float, float, int]]) -> Pickup:
    result = Pickup(edits=len(edits))
    planned: dict[tuple[str, int], float] = {}
    for worker in started:
        for line in worker.lines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "PLANNED" and parts[1] == "probe":
                key = (worker.name, int(parts[2]))
                planned[key] = min(planned.get(key, math.inf), float(parts[3]))
    starts = ran(started, "probe")
    for revision, began, ended, due in edits:
        seen = [planned.get((w.name, revision), math.inf) for w in started]
        result.slowest.add(max(seen) - began)
        result.fastest.add(min(seen) - began)
        result.call.add(ended - began)
        readings = starts.get(due, [])
        if not readings:
            result.not_run += 1
        else:
            result.duplicates += len(readings) - 1
            result.delay.add(min(readings) - due)
    return result


# --- the run ------------------------------------------------------------------------------


async def fresh_database(server_url: str) -> str:
    engine = create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    finally:
        await engine.dispose()
    return f"{server_url}/{DATABASE}"


def run(args: argparse.Namespace, directory: Path) -> tuple[list[Fires], Pickup]:
    print(f"  load average before: {load_average()}", flush=True)
    redis_server = RedisServer(directory / "redis")
    redis_server.start()
    results: list[Fires] = []
    try:
        with running_postgres(BENCH_DIR / "pg") as server_url:
            cases = [
                ("1 process", 1, 0),
                ("3 processes", 3, 0),
                (f"3 processes, {args.fillers:,} more jobs", 3, args.fillers),
            ]
            pickup = Pickup()
            for label, processes, fillers in cases:
                database_url = uvloop.run(fresh_database(server_url))
                schema.upgrade(database_url, quiet=True)
                print(f"  {label}: starting ...", flush=True)
                tag = f"p{processes}-j{fillers}"
                with workers(
                    processes, database_url, redis_server.url, fillers, directory, tag
                ) as started:
                    result, first = measure_fires(label, started, args.fires, fillers)
                    if processes == 3 and not fillers:
                        print(f"  {label}: {args.edits} schedule edits ...", flush=True)
                        edits = uvloop.run(
                            edit_schedules(database_url, redis_server.url, args.edits)
                        )
                        sleep_until(edits[-1][3] + 1.0)
                        pickup = measure_pickup(started, edits)
                results.append(count_fires(result, started, first, first + args.fires))
    finally:
        redis_server.stop()
    print(f"  load average after: {load_average()}", flush=True)
    return results, pickup


def report(fires: list[Fires], pickup: Pickup, args: argparse.Namespace) -> str:
    headers = ["start delay, every-second job", "jobs", "fires", "p50 ms", "p99 ms", "max ms"]
    headers += ["duplicates", "missed", "goal", "result"]
    rows = [
        [
            f.name,
            f"{f.jobs:,}",
            str(f.seconds),
            ms(f.delay.p50),
            ms(f.delay.p99),
            ms(f.delay.ms(100)),
            str(f.duplicates),
            str(f.missed),
            f"p99 <= {START_GOAL_MS:.0f} ms, 0, 0",
            "FAIL" if f.failures() else "PASS",
        ]
        for f in fires
    ]
    pickup_headers = ["edit pickup, 3 processes", "edits", "edit()", "first p50", "p50"]
    pickup_headers += ["p99", "max", "fire delay p50", "fire max", "goal", "result"]
    pickup_rows = [
        [
            "edit() until every process's plan has it",
            str(pickup.edits),
            ms(pickup.call.p50),
            ms(pickup.fastest.p50),
            ms(pickup.slowest.p50),
            ms(pickup.slowest.p99),
            ms(pickup.slowest.ms(100)),
            ms(pickup.delay.p50),
            ms(pickup.delay.ms(100)),
            f"max <= {PICKUP_GOAL_MS:.0f} ms",
            "FAIL" if pickup.failures() else "PASS",
        ]
    ]
    lines = [
        f"\nStart delay in ms: when the job function began minus the second it was due, over"
        f" {args.fires} consecutive fires; duplicates = extra runs of a fire, missed = fires"
        " nobody ran (from what every process's job printed)",
        "",
        table(headers, rows),
        "\nEdit pickup in ms: JobsService.edit (commit, audit, publish on Redis) from its start"
        " until a scheduler's plan holds the new revision; first = the quickest process, p50/p99/"
        "max = the slowest of the three; then the edited fire (~2 s ahead) must run once:"
        f" {pickup.not_run} not run, {pickup.duplicates} run twice",
        "",
        table(pickup_headers, pickup_rows),
        "\nContext, not measured here:",
        *(f"  - {anchor}" for anchor in ANCHORS),
    ]
    return "\n".join(lines)


def summary(fires: list[Fires], pickup: Pickup) -> str:
    goals = [goal for f in fires for goal in f.goals()] + pickup.goals()
    return conclude("scheduler", goals, "goals met")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__)
    parser.add_argument("--fires", type=count, default=FIRES, help="fires timed per case")
    parser.add_argument("--edits", type=count, default=EDITS, help="schedule edits timed")
    parser.add_argument("--fillers", type=count, default=FILLERS, help="jobs besides the two")
    # A scheduler process of the bench (started by the bench itself).
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--base-hour", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--filler-jobs", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        uvloop.run(serve(args))
        return 0
    print(
        "scheduler: every-second job on PostgreSQL with 1 and 3 scheduler processes (Redis"
        f" channels), then with {args.fillers:,} more jobs; schedule edit pickup",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="starboard-bench-") as directory:
            fires, pickup = run(args, Path(directory))
    except PostgresUnavailable as exc:
        print(f"scheduler: SKIPPED, {exc}")
        return 0
    print(report(fires, pickup, args))
    print(summary(fires, pickup))
    return 1 if any(f.failures() for f in fires) or pickup.failures() else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
