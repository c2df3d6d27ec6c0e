"""`python -m app jobs list|run|enable|disable|schedule|history` and `scheduler`.

Each command, its options and its `--json` fields: docs/reference.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from app.cli.shared import (
    Parser,
    UsageError,
    cell,
    cli_actor,
    command_services,
    positive_int,
    print_table,
    run_async,
    whole_number_up_to,
)
from app.config import Config

if TYPE_CHECKING:
    from app.models.jobs import JobRun
    from app.scheduler.registry import JobDefinition
    from app.services import Services


def add_jobs_parser(commands: Any) -> None:
    jobs = commands.add_parser("jobs", help="list, run and change scheduled jobs")
    actions = jobs.add_subparsers(dest="jobs_command", required=True, parser_class=Parser)
    listing = actions.add_parser("list", help="every job, its schedule, next and last run")
    listing.add_argument("--json", action="store_true", help="a JSON array of objects")
    run = actions.add_parser("run", help="queue a run now; a running scheduler takes it at once")
    run.add_argument("name")
    run.add_argument(
        "--wait", action="store_true", help="wait for the run: exit 0 if it succeeded, else 1"
    )
    run.add_argument(
        "--start-timeout",
        type=positive_int,
        default=START_TIMEOUT_S,
        metavar="SECONDS",
        help="with --wait: give up (exit 1) if no scheduler has started the run by then; "
        f"the run stays queued (default {START_TIMEOUT_S})",
    )
    actions.add_parser("enable", help="switch a job on").add_argument("name")
    actions.add_parser("disable", help="switch a job off").add_argument("name")
    schedule = actions.add_parser("schedule", help="change a job's schedule")
    schedule.add_argument("name")
    # Several words are joined: `jobs schedule report every 5m` needs no quotes.
    schedule.add_argument(
        "expression", nargs="+", help="5- or 6-field cron, or every 30s|5m|2h (quote cron)"
    )
    history = actions.add_parser("history", help="a job's runs, newest first")
    history.add_argument("name")
    history.add_argument(
        "--limit",
        type=whole_number_up_to(HISTORY_LIMIT_MAX),
        default=20,
        help="runs shown (1-1000)",
    )
    history.add_argument("--json", action="store_true", help="a JSON array of objects")


START_TIMEOUT_S = 60  # `jobs run --wait`: how long a run may wait for some scheduler to take it


HISTORY_LIMIT_MAX = 1000


def job_definitions(config: Config) -> dict[str, JobDefinition]:
    """The jobs declared in JOBS_MODULE; a module that will not load is a one-line error."""
    from app.scheduler.registry import JobDeclarationError, load_jobs

    try:
        return load_jobs(config.jobs_module, config.timezone)
    except ModuleNotFoundError as exc:
        if exc.name and config.jobs_module.startswith(exc.name):
            raise UsageError(f"JOBS_MODULE={config.jobs_module!r}: no such module") from None
        raise
    except JobDeclarationError as exc:
        raise UsageError(f"JOBS_MODULE={config.jobs_module!r}: {exc}") from None


def cmd_jobs(args: argparse.Namespace, config: Config) -> int:
    handler = JOBS_HANDLERS[args.jobs_command]
    definitions = job_definitions(config)

    async def work() -> int:
        async with command_services(config, definitions) as services:
            return await handler(args, services)

    # JobError (unknown job, invalid schedule, ...): nothing was saved; main() prints it.
    return int(run_async(work))


async def jobs_list(args: argparse.Namespace, services: Services) -> int:
    from app.scheduler.queries import overview

    async with services.session_factory() as session:
        found = [job.as_json() for job in await overview(session)]
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    rows = [
        (
            job["name"],
            job["schedule"],
            "orphaned" if job["orphaned"] else ("yes" if job["enabled"] else "no"),
            job["next_run_at"] or ("broken" if job["broken"] else "-"),
            job["last_run_at"] or "-",
            job["last_status"] or "-",
        )
        for job in found
    ]
    print_table(("NAME", "SCHEDULE", "ENABLED", "NEXT RUN", "LAST RUN", "LAST STATUS"), rows)
    # A row written around the checks is listed, not fatal: each says why it cannot run.
    for job in found:
        if job["broken"]:
            print(f"{job['name']}: not scheduled: {job['broken']}")
    return 0


async def jobs_run(args: argparse.Namespace, services: Services) -> int:
    from app.models.jobs import RunStatus

    queued = await services.jobs.request_run(args.name, cli_actor())
    run_id = queued.run_id
    if queued.already_queued:
        print(f"Run {run_id} of {args.name} already queued", flush=True)
    else:
        print(f"Queued run {run_id} of {args.name}", flush=True)
    if not args.wait:
        return 0
    run = await wait_for_run(services, run_id, args.start_timeout)
    if run is None:
        print(
            f"starboard jobs run: run {run_id} still queued after {args.start_timeout} s: no "
            "scheduler took it (start one: a web process with SCHEDULER=embedded, or `python -m "
            "app scheduler`); it stays queued and runs when one starts",
            file=sys.stderr,
        )
        return 1
    took = f" in {run.duration_s:g} s" if run.duration_s is not None else ""
    if run.status == RunStatus.SUCCEEDED:
        print(f"Run {run_id} succeeded{took}")
        return 0
    print(f"starboard jobs run: run {run_id} {run.status}{took}: {run.error}", file=sys.stderr)
    return 1


POLL_S = 0.2  # a plain read: the CLI subscribes to no channel (its broker is never started)


async def wait_for_run(services: Services, run_id: int, start_timeout: float) -> JobRun | None:
    """The run once finished; None if it was still queued after `start_timeout` seconds."""
    from app.models.jobs import FINISHED, JobRun, RunStatus

    loop = asyncio.get_running_loop()
    give_up = loop.time() + start_timeout
    told_running = False
    while True:
        async with services.session_factory() as session:
            run = await session.get(JobRun, run_id)
        if run is None:
            raise RuntimeError(f"run {run_id} was deleted while waiting for it")
        if run.status in FINISHED:
            return run
        if run.status == RunStatus.RUNNING and not told_running:
            print(f"Run {run_id} started on {run.worker}", flush=True)
            told_running = True
        # Only the wait for a scheduler is bounded: a running run ends, or is abandoned.
        if run.status == RunStatus.QUEUED and loop.time() > give_up:
            return None
        await asyncio.sleep(POLL_S)


async def jobs_enable(args: argparse.Namespace, services: Services) -> int:
    return await switch_job(args.name, True, services)


async def jobs_disable(args: argparse.Namespace, services: Services) -> int:
    return await switch_job(args.name, False, services)


async def switch_job(name: str, on: bool, services: Services) -> int:
    from app.scheduler.service import JobEdit

    changed = await services.jobs.edit(name, JobEdit(enabled=on), cli_actor())
    word = "enabled" if on else "disabled"
    print(f"{name} {word}" if changed else f"{name} was already {word}")
    return 0


async def jobs_schedule(args: argparse.Namespace, services: Services) -> int:
    from app.scheduler.queries import overview
    from app.scheduler.service import JobEdit

    expression = " ".join(args.expression)
    changed = await services.jobs.edit(args.name, JobEdit(schedule=expression), cli_actor())
    async with services.session_factory() as session:
        (job,) = await overview(session, args.name)
    shown = job.as_json()
    what = "schedule" if changed else "schedule unchanged"
    print(f"{args.name}: {what}: {shown['schedule']} ({shown['schedule_text']})")
    print(f"next run: {shown['next_run_at'] or 'none (the job is disabled)'}")
    return 0


async def jobs_history(args: argparse.Namespace, services: Services) -> int:
    from sqlalchemy import select

    from app.models.jobs import ScheduledJob
    from app.scheduler.queries import run_json, runs_of
    from app.scheduler.service import UnknownJob

    async with services.session_factory() as session:
        known = sorted((await session.scalars(select(ScheduledJob.name))).all())
        if args.name not in known:
            raise UnknownJob(args.name, known)
        runs, total = await runs_of(session, args.name, limit=args.limit)
    found = [run_json(run) for run in runs]
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    rows = [
        (
            str(run["id"]),
            run["trigger"],
            run["scheduled_for"] or "-",
            run["status"],
            "-" if run["duration_s"] is None else f"{run['duration_s']:g}s",
            run["worker"] or "-",
            cell((run["error"] or "-").splitlines()[0] if run["error"] else "-", 60),
        )
        for run in found
    ]
    header = ("ID", "TRIGGER", "SCHEDULED FOR", "STATUS", "DURATION", "WORKER", "ERROR")
    print_table(header, rows)
    print(f"{len(found)} of {total} runs")
    return 0


JOBS_HANDLERS: dict[str, Callable[[argparse.Namespace, Services], Coroutine[Any, Any, int]]] = {
    "list": jobs_list,
    "run": jobs_run,
    "enable": jobs_enable,
    "disable": jobs_disable,
    "schedule": jobs_schedule,
    "history": jobs_history,
}


def cmd_scheduler(args: argparse.Namespace, config: Config) -> int:
    from app.logs import use_log_format
    from app.scheduler.standalone import run_scheduler

    definitions = job_definitions(config)
    # The runner reports claims, failures and abandoned runs through logging.
    use_log_format(config.log_format)

    def ready(scheduler: Any) -> None:
        print(
            f"Scheduler {scheduler.worker} running {len(definitions)} jobs; "
            "stop it with Ctrl-C or SIGTERM",
            flush=True,
        )

    run_async(lambda: run_scheduler(config, definitions=definitions, ready=ready))
    print("Scheduler stopped", flush=True)
    return 0
