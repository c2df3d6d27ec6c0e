"""Global search latency at a million orders (issue 13's goal: p95 <= 200 ms).

Times `/admin/search?q=…&results=1` (the header's dropdown) server-side, in-process through ASGI,
as a superuser (every model searched), on the seeded dataset `bench.admin_list` uses, on SQLite
and PostgreSQL: a customer's e-mail (found in customers, their orders and tickets), a product
name, an order's id, and a word nothing holds (every table searched to its end).

    python -m bench.search [--backend sqlite|postgres|both] [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Secret

from app.config import Config
from app.main import create_app
from app.models.shop import Customer, Order, Product
from app.statement_log import StatementLog
from bench.admin_list import server_version
from bench.backends import on_each_backend
from bench.client import signed_in_client, timed_get
from bench.dataset import BenchConfigError, order_count
from bench.goals import Goal, conclude
from bench.stats import Samples, count, load_average, ms, table

SEARCH = "/admin/search"
WARMUP = 3
REPEATS = 40
GOAL_MS = 200.0


@dataclass
class Outcome:
    case: str
    term: str
    times: Samples = field(default_factory=Samples)
    statements: list[int] = field(default_factory=list)

    def goal(self, backend: str = "") -> Goal:
        case = f"{backend} {self.case}".strip()
        return Goal("search", case, "p95", self.times.p95, "ms", "<=", GOAL_MS)


async def terms(session_factory: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    """(case, term): real values from the middle of the tables."""
    async with session_factory() as session:
        newest = await session.scalar(select(Order.id).order_by(Order.id.desc()).limit(1))
        middle = (newest or 0) // 2
        order = await session.get(Order, middle)
        assert order is not None, "is the database seeded?"
        customer = await session.get(Customer, order.customer_id)
        product = await session.scalar(select(Product).order_by(Product.id).limit(1))
    assert customer is not None and product is not None
    return [
        ("customer e-mail", customer.email),
        ("product name", product.name),
        ("order id", str(order.id)),
        ("no match", "qzxv-nothing"),
    ]


async def measure(
    client: httpx.AsyncClient, log: StatementLog, case: str, term: str, repeats: int
) -> Outcome:
    outcome = Outcome(case, term)
    params: dict[str, str | int] = {"q": term, "results": 1}
    for _ in range(WARMUP):
        await timed_get(client, log, SEARCH, params)
    for _ in range(repeats):
        timing = await timed_get(client, log, SEARCH, params)
        if case != "no match" and "data-sb-search-hit" not in timing.response.text:
            raise RuntimeError(f"{case}: searching {term!r} found nothing")
        outcome.times.add(timing.seconds)
        outcome.statements.append(timing.statements)
    return outcome


async def run_backend(url: str, repeats: int) -> tuple[str, list[Outcome]]:
    app = create_app(Config(database_url=url, secret_key=Secret("bench-secret"), scheduler="off"))
    log = StatementLog(app.state.engine)
    async with signed_in_client(app) as client:
        print(f"  load average before: {load_average()}", flush=True)
        outcomes = [
            await measure(client, log, case, term, repeats)
            for case, term in await terms(app.state.session_factory)
        ]
        print(f"  load average after: {load_average()}", flush=True)
        return await server_version(app.state.engine), outcomes


def report(title: str, outcomes: Sequence[Outcome], repeats: int) -> str:
    rows = [
        [
            o.case,
            o.term,
            ms(o.times.p50),
            ms(o.times.p95),
            ms(o.times.p99),
            str(max(o.statements)),
            f"<= {GOAL_MS:.0f} ms",
            "PASS" if o.goal().met else "FAIL",
        ]
        for o in outcomes
    ]
    headers = ["case", "q", "p50", "p95", "p99", "SQL", "goal p95", "result"]
    return "\n".join(
        [
            f"\n{title}",
            f"latency in ms, server-side (in-process ASGI), {repeats} requests per case after"
            f" {WARMUP} warm-ups, as a superuser; SQL = statements per request (one per model)",
            "",
            table(headers, rows),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeats", type=count, default=REPEATS, help="timed requests per case")
    args = parser.parse_args(argv)
    try:
        orders = order_count()
    except BenchConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    results = on_each_backend(
        "search",
        args.backend,
        orders,
        lambda url: run_backend(url, args.repeats),
        lambda title, outcomes: report(title, outcomes, args.repeats),
    )
    goals = [o.goal(backend) for backend, outcomes in results.items() for o in outcomes]
    print("\n" + conclude("search", goals, "cases meet the goal"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
