"""Date drill-down latency at a million orders: `/admin/order/dates` at each level, with and
without a status filter, and with a filter the order summary cannot answer (one customer).

Same databases, clock and client as bench/dashboard.py; times the fragment server-side,
in-process through ASGI, on SQLite and on PostgreSQL, with the SQL statements each request
sends. Years, a year's months and a month's days are the three levels a list drills through.

    python -m bench.drilldown [--backend sqlite|postgres|both] [--repeats N] [--explain]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Secret

from app.admin.date_drilldown import next_month
from app.clock import FakeClock
from app.config import Config
from app.main import create_app
from app.models import Order
from app.statement_log import StatementLog
from bench.admin_list import server_version, sql_counts
from bench.backends import on_each_backend
from bench.client import signed_in_client
from bench.dashboard import PINNED_AT, REPEATS, WARMUP, Case, Outcome, measure
from bench.dataset import BenchConfigError, order_count
from bench.statements import explain
from bench.stats import count, load_average, ms, table, verdict

GOAL_MS = 150.0
# The signed-in user; the buckets' counts.
STATEMENTS = 2
YEAR = f"created_at__gte={PINNED_AT.year}-01-01&created_at__lt={PINNED_AT.year + 1}-01-01"
FIRST = PINNED_AT.date().replace(day=1)
MONTH = f"created_at__gte={FIRST}&created_at__lt={next_month(FIRST)}"
STATUS = "status__exact=delivered"  # the commonest status: the most rows behind each count
PATH = "/admin/order/dates"


def build_cases(customer: int) -> list[Case]:
    def case(name: str, query: str, must_show: str) -> Case:
        path = f"{PATH}?{query}" if query else PATH
        return Case(name, path, f'data-sb-bucket="{must_show}"', STATEMENTS, GOAL_MS)

    month = f"{PINNED_AT:%b}"
    day = "1"  # the month's first day: its orders have had time to be delivered
    return [
        case("years", "", str(PINNED_AT.year)),
        case("years, delivered", STATUS, str(PINNED_AT.year)),
        case("a year's months", YEAR, month),
        case("a year's months, delivered", f"{YEAR}&{STATUS}", month),
        case("a month's days", MONTH, day),
        case("a month's days, delivered", f"{MONTH}&{STATUS}", day),
        # Not in the summary: counted from the orders, along the (customer, created_at) index.
        case("years, one customer", f"customer__id__exact={customer}", str(PINNED_AT.year)),
    ]


async def busiest_recent_customer(engine: AsyncEngine) -> int:
    """The customer of the newest order: one with orders in the pinned month."""
    async with engine.connect() as conn:
        found = await conn.scalar(select(Order.customer_id).order_by(Order.id.desc()).limit(1))
    if found is None:
        raise RuntimeError("the bench database holds no orders")
    return int(found)


async def print_plans(
    client: httpx.AsyncClient, log: StatementLog, engine: AsyncEngine, cases: Sequence[Case]
) -> None:
    for case in cases:
        log.reset()
        await client.get(case.path)
        for statement, parameters in list(log.statements)[1:]:  # after the signed-in user
            print(f"\n--- {case.name}\n{statement}\n  parameters: {parameters}\n")
            print(await explain(engine, statement, parameters))


async def run_backend(url: str, repeats: int, show_plans: bool) -> tuple[str, list[Outcome]]:
    config = Config(database_url=url, secret_key=Secret("bench-secret"), scheduler="off")
    app = create_app(config, clock=FakeClock(PINNED_AT))
    log = StatementLog(app.state.engine)
    cases = build_cases(await busiest_recent_customer(app.state.engine))
    async with signed_in_client(app) as client:
        outcomes = []
        print(f"  load average before: {load_average()}", flush=True)
        for case in cases:
            print(f"  measuring {case.name} ...", flush=True)
            outcomes.append(await measure(client, log, case, repeats))
        print(f"  load average after: {load_average()}", flush=True)
        if show_plans:
            await print_plans(client, log, app.state.engine, cases)
        return await server_version(app.state.engine), outcomes


def report(title: str, outcomes: Sequence[Outcome], repeats: int) -> str:
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
        f" per case after {WARMUP} warm-ups, {PATH} signed in as a superuser;\n"
        "db = time inside the database driver; SQL = statements per request",
        "",
        table(headers, rows),
    ]
    lines.extend(f"FAIL {o.case.name}: {'; '.join(o.failures())}" for o in outcomes if o.failures())
    return "\n".join(lines)


def summary(results: dict[str, list[Outcome]]) -> str:
    total = sum(len(outcomes) for outcomes in results.values())
    failing = [
        f"{backend} {o.case.name} ({'; '.join(o.failures())})"
        for backend, outcomes in results.items()
        for o in outcomes
        if o.failures()
    ]
    line = verdict("drilldown", total - len(failing), total, "cases meet the goal", failing)
    return line + (" (rerun with --explain for query plans)" if failing else "")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.drilldown", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeats", type=count, default=REPEATS, help="timed requests per case")
    parser.add_argument("--explain", action="store_true", help="print each case's query plan")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        orders = order_count()
    except BenchConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    results = on_each_backend(
        "drilldown",
        args.backend,
        orders,
        lambda url: run_backend(url, args.repeats, args.explain),
        lambda title, outcomes: report(title, outcomes, args.repeats),
    )
    print("\n" + summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
