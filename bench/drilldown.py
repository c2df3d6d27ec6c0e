"""Date drill-down latency at a million orders: `/admin/order/dates` at each level, with and
without a status filter, and with a filter the order summary cannot answer (one customer).

Same databases, clock and client as bench/dashboard.py; times the fragment server-side,
in-process through ASGI, on SQLite and on PostgreSQL, with the SQL statements each request
sends. Years, a year's months and a month's days are the three levels a list drills through.

    python -m bench.drilldown [--backend sqlite|postgres|both] [--repeats N] [--explain]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.admin.date_drilldown import next_month
from app.models import Order
from app.statement_log import StatementLog
from bench.dashboard import PINNED_AT, Case, run_main
from bench.statements import explain

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


async def drilldown_cases(engine: AsyncEngine) -> Sequence[Case]:
    return build_cases(await busiest_recent_customer(engine))


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(
        "drilldown",
        argv,
        __doc__,
        drilldown_cases,
        print_plans,
        f"{PATH} signed in as a superuser",
    )


if __name__ == "__main__":
    sys.exit(main())
