"""Dashboard latency at a million orders: the whole page and its costliest cards alone.

Seeds 1,000,000 orders once (the same databases as bench/admin_list.py, reused between runs;
`BENCH_ORDERS=20000` for a smoke run) and times `/admin/` signed in as a superuser (every card)
server-side, in-process through ASGI, on SQLite and on PostgreSQL, with the SQL statements each
request sends. The app's clock is pinned to the seeded shop's last trading day, so "today",
7 and 30 days and the charts all cover the densest stretch of orders. The cards are timed read
afresh (their kept figures dropped before each request, as a change to their rows does), and
the whole page once more as served again, its figures kept (app/dashboard/kept.py); then, on an
app with REDIS_URL set (a redis-server of its own), as another process serves it: its own copies
dropped before each request, the figures read from Redis.

    python -m bench.dashboard [--backend sqlite|postgres|both] [--repeats N] [--explain]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Secret

from app.cache import Cache, declared_namespaces
from app.clock import FakeClock
from app.config import Config
from app.main import create_app
from app.shop.clock import REFERENCE_DAY
from app.statement_log import StatementLog
from bench.admin_list import server_version, sql_counts
from bench.backends import on_each_backend
from bench.client import signed_in_client, timed_get
from bench.dataset import (
    BenchConfigError,
    order_count,
)
from bench.goals import Goal, conclude, shortfalls
from bench.statements import explain
from bench.stats import Samples, count, load_average, ms, table
from tests.services import RedisServer

# Midday of the seeded shop's last day: a full "today" and 60 full days behind it.
PINNED_AT = REFERENCE_DAY - dt.timedelta(hours=12)
WARMUP = 3
REPEATS = 40  # p95 is then the 38th of 40
GOAL_MS = 150.0
# The page: the signed-in user and one statement a card (nine for a superuser).
PAGE_STATEMENTS = 10
CARD_STATEMENTS = 2
KEPT_GOAL_MS = 25.0  # the page served again: its figures kept, who is signed in kept


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    must_show: str  # text the answer must hold: a page that errs quietly is no measurement
    max_statements: int
    goal_ms: float = GOAL_MS  # p95
    afresh: bool = False  # the cards' kept figures dropped before each request


CASES = (
    Case("dashboard", "/admin/", 'data-sb-card="recent_activity"', PAGE_STATEMENTS, afresh=True),
    Case(
        "orders card",
        "/admin/dashboard/cards/orders",
        'data-sb-period="30 days"',
        CARD_STATEMENTS,
        afresh=True,
    ),
    Case(
        "orders chart",
        "/admin/dashboard/cards/orders_per_day",
        'data-points="30"',
        CARD_STATEMENTS,
        afresh=True,
    ),
    Case(
        "tickets chart",
        "/admin/dashboard/cards/tickets_per_day",
        'data-points="30"',
        CARD_STATEMENTS,
        afresh=True,
    ),
    Case(
        "job runs chart",
        "/admin/dashboard/cards/job_runs_per_hour",
        'data-points="24"',
        CARD_STATEMENTS,
        afresh=True,
    ),
    Case("dashboard, kept", "/admin/", 'data-sb-card="recent_activity"', 0, KEPT_GOAL_MS),
)
# With REDIS_URL: "afresh" drops this process's copies only, so the figures come from Redis.
REDIS_CASES = (
    Case(
        "dashboard, kept in Redis",
        "/admin/",
        'data-sb-card="recent_activity"',
        0,
        KEPT_GOAL_MS,
        afresh=True,
    ),
)


@dataclass
class Outcome:
    case: Case
    times: Samples = field(default_factory=Samples)
    db: Samples = field(default_factory=Samples)
    statements: list[int] = field(default_factory=list)

    def goals(self, bench: str = "", backend: str = "") -> list[Goal]:
        case, most = f"{backend} {self.case.name}".strip(), self.case.max_statements
        return [
            Goal(bench, case, "p95", self.times.p95, "ms", "<=", self.case.goal_ms),
            Goal(bench, case, "SQL statements", max(self.statements), "", "<=", most),
        ]

    def failures(self) -> list[str]:
        return shortfalls(self.goals())


def drop_figures(cache: Cache) -> None:
    """As a change to every card's rows does (the cards' namespaces: app/dashboard/kept.py)."""
    cache.drop(n for n in declared_namespaces() if n.startswith("dashboard:"))


async def measure(
    client: httpx.AsyncClient, log: StatementLog, case: Case, repeats: int, cache: Cache
) -> Outcome:
    outcome = Outcome(case)
    for i in range(WARMUP + repeats):
        if case.afresh:
            drop_figures(cache)
        timing = await timed_get(client, log, case.path)
        if case.must_show not in timing.response.text:
            raise RuntimeError(f"{case.name}: {case.path} does not show {case.must_show!r}")
        if i >= WARMUP:
            outcome.times.add(timing.seconds)
            outcome.db.add(timing.db_seconds)
            outcome.statements.append(timing.statements)
    return outcome


async def print_plans(
    client: httpx.AsyncClient, log: StatementLog, engine: AsyncEngine, cases: Sequence[Case]
) -> None:
    log.reset()
    await client.get(cases[0].path)
    recorded = list(log.statements)
    print(f"\n--- dashboard: {len(recorded)} statement(s)")
    for statement, parameters in recorded:
        print(f"\n{statement}\n  parameters: {parameters}\n")
        print(await explain(engine, statement, parameters))


# What a benchmark of pages in this shape gives: its cases (some are found in the database),
# and how it prints the plans behind them.
ChooseCases = Callable[[AsyncEngine], Awaitable[Sequence[Case]]]
PrintPlans = Callable[
    [httpx.AsyncClient, StatementLog, AsyncEngine, Sequence[Case]], Awaitable[None]
]


async def run_cases(
    url: str,
    repeats: int,
    choose: ChooseCases,
    plans: PrintPlans | None,
    redis_cases: Sequence[Case] = (),
) -> tuple[str, list[Outcome]]:
    """Each case timed on the app at `url`, its clock at PINNED_AT, signed in as a superuser;
    then `redis_cases` on the same with REDIS_URL set."""
    config = Config(database_url=url, secret_key=Secret("bench-secret"), scheduler="off")
    version, outcomes = await time_cases(config, repeats, choose, plans)
    if redis_cases:
        with tempfile.TemporaryDirectory(prefix="starboard-bench-") as directory:
            redis_server = RedisServer(Path(directory))
            redis_server.start()
            try:
                with_redis = dataclasses.replace(config, redis_url=redis_server.url)

                async def chosen(_engine: AsyncEngine) -> Sequence[Case]:
                    return redis_cases

                outcomes += (await time_cases(with_redis, repeats, chosen, None))[1]
            finally:
                redis_server.stop()
    return version, outcomes


async def time_cases(
    config: Config, repeats: int, choose: ChooseCases, plans: PrintPlans | None
) -> tuple[str, list[Outcome]]:
    app = create_app(config, clock=FakeClock(PINNED_AT))
    log = StatementLog(app.state.engine)
    cases = await choose(app.state.engine)
    async with signed_in_client(app) as client:
        outcomes = []
        print(f"  load average before: {load_average()}", flush=True)
        for case in cases:
            print(f"  measuring {case.name} ...", flush=True)
            outcomes.append(await measure(client, log, case, repeats, app.state.cache))
        print(f"  load average after: {load_average()}", flush=True)
        if plans is not None:
            drop_figures(app.state.cache)  # the plans of the statements a read afresh sends
            await plans(client, log, app.state.engine, cases)
        return await server_version(app.state.engine), outcomes


def report(title: str, outcomes: Sequence[Outcome], repeats: int, what: str) -> str:
    headers = ["case", "p50", "p95", "p99", "db p50", "SQL", "goal p95", "result"]
    rows = [
        [
            o.case.name,
            ms(o.times.p50),
            ms(o.times.p95),
            ms(o.times.p99),
            ms(o.db.p50),
            sql_counts(o.statements),
            f"<= {o.case.goal_ms:.0f} ms",
            "FAIL" if o.failures() else "PASS",
        ]
        for o in outcomes
    ]
    lines = [
        f"\n{title}",
        f"latency in ms, server-side (in-process ASGI, request to full body), {repeats} requests"
        f" per case after {WARMUP} warm-ups, {what};\n"
        "db = time inside the database driver; SQL = statements per request",
        "",
        table(headers, rows),
    ]
    lines.extend(f"FAIL {o.case.name}: {'; '.join(o.failures())}" for o in outcomes if o.failures())
    return "\n".join(lines)


def summary(name: str, results: dict[str, list[Outcome]]) -> str:
    goals = [
        goal
        for backend, outcomes in results.items()
        for o in outcomes
        for goal in o.goals(name, backend)
    ]
    line = conclude(name, goals, "cases meet the goal")
    return line + ("" if all(g.met for g in goals) else " (rerun with --explain for query plans)")


def run_main(
    name: str,
    argv: Sequence[str] | None,
    description: str | None,
    choose: ChooseCases,
    plans: PrintPlans,
    what: str,
    redis_cases: Sequence[Case] = (),
) -> int:
    """`python -m bench.<name>`: the cases on each backend, reported, then one verdict."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=description)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeats", type=count, default=REPEATS, help="timed requests per case")
    parser.add_argument("--explain", action="store_true", help="print the cases' query plans")
    args = parser.parse_args(argv)
    try:
        orders = order_count()
    except BenchConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    results = on_each_backend(
        name,
        args.backend,
        orders,
        lambda url: run_cases(
            url, args.repeats, choose, plans if args.explain else None, redis_cases
        ),
        lambda title, outcomes: report(title, outcomes, args.repeats, what),
    )
    print("\n" + summary(name, results))
    return 0


async def dashboard_cases(_engine: AsyncEngine) -> Sequence[Case]:
    return CASES


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(
        "dashboard",
        argv,
        __doc__,
        dashboard_cases,
        print_plans,
        f"signed in as a superuser (every card), clock at {PINNED_AT:%Y-%m-%d %H:%M} UTC",
        REDIS_CASES,
    )


if __name__ == "__main__":
    sys.exit(main())
