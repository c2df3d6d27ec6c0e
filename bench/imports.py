"""A big import: 100,000 orders from a CSV file, dry run then apply, as the `import_rows` job.

On SQLite and on PostgreSQL (the bench cluster in var/bench/pg), each on a fresh database with
1,000 customers: the job's function is called with a run's context as the scheduler builds it
(arguments as the list's Import queues them), timed from its start to its end, with the
process's peak memory growth. Goal: each step within 60 s on each backend, all rows stored.

    python -m bench.imports [--backend sqlite|postgres|both] [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select, text

from app import schema
from app.auth.accounts import create_user
from app.channels.memory import MemoryBroker
from app.constance import DeclaredSettings, LiveSettings
from app.db import create_engine, create_session_factory
from app.imports.files import digest_of, save
from app.imports.job import ImportTask, import_rows
from app.live_settings import SETTINGS
from app.models import AuditEntry, Customer, Order
from app.scheduler import JobContext
from bench.dataset import BENCH_DIR
from bench.goals import Goal, conclude
from bench.postgres import PostgresUnavailable, running_postgres

ROWS = 100_000
CUSTOMERS = 1_000
GOAL_S = 60.0
REQUESTER = "bench-importer"
FIELDS = [
    {"name": name, "label": label}
    for name, label in (
        ("id", "Id"),
        ("customer", "Customer"),
        ("status", "Status"),
        ("total", "Total"),
        ("shipped_at", "Shipped at"),
        ("created_at", "Created at"),
    )
]


@dataclass(frozen=True)
class Step:
    backend: str
    name: str  # "dry run" or "apply"
    seconds: float
    grew_mib: float


def orders_csv(rows: int, customers: list[int]) -> bytes:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    statuses = ("pending", "paid", "shipped", "delivered")
    lines = ["customer,status,total,created_at\n"]
    for n in range(rows):
        at = start + dt.timedelta(minutes=n)
        lines.append(
            f"{customers[n % len(customers)]},{statuses[n % 4]},{n % 500}.{n % 100:02d},"
            f"{at.isoformat()}\n"
        )
    return "".join(lines).encode()


def memory_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since the last reset) of this process, from Linux."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from VmRSS


async def fresh_database(url: str) -> list[int]:
    """The schema and 1,000 customers; their keys."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine).begin() as session:
            await session.execute(
                insert(Customer),
                [{"name": f"Customer {n}", "email": f"c{n}@example.org"} for n in range(CUSTOMERS)],
            )
            await create_user(session, REQUESTER, "bench-importer-password")
        async with engine.connect() as conn:
            return list(await conn.scalars(select(Customer.id).order_by(Customer.id)))
    finally:
        await engine.dispose()


async def run_step(url: str, task: ImportTask, run_id: int) -> None:
    engine = create_engine(url)
    try:

        async def report(fraction: float | None, message: str | None) -> None:
            return None

        ctx = JobContext(
            job="import_rows",
            run_id=run_id,
            scheduled_for=dt.datetime.now(dt.UTC),
            session_factory=create_session_factory(engine),
            broker=MemoryBroker(),
            settings=LiveSettings(DeclaredSettings(SETTINGS)),
            report=report,
            call_soon=lambda _call: None,
            arguments=task.as_arguments(),
            triggered_by=task.requester,
        )
        await import_rows(ctx)
    finally:
        await engine.dispose()


async def stored(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            orders = await conn.scalar(select(func.count()).select_from(Order))
            entries = await conn.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.model == "order")
            )
        return int(orders or 0), int(entries or 0)
    finally:
        await engine.dispose()


def measure(backend: str, url: str, rows: int, directory: Path) -> tuple[list[Step], int]:
    schema.upgrade(url, quiet=True)
    customers = asyncio.run(fresh_database(url))
    content = orders_csv(rows, customers)
    path = save(directory, content, "csv")
    task = ImportTask(
        model="order",
        table="Order",
        file=str(path),
        format="csv",
        digest=digest_of(content),
        requester=REQUESTER,
        user_id=None,
        client_address=None,
        fields=FIELDS,
        update_existing=False,
        dry_run=True,
    )
    steps = []
    for name, step, run_id in (
        ("dry run", task, 1),
        ("apply", ImportTask(**{**task.as_arguments(), "dry_run": False, "dry_run_id": 1}), 2),
    ):
        reset_peak()
        before = memory_mib("VmRSS")
        started = time.perf_counter()
        asyncio.run(run_step(url, step, run_id))
        grew = memory_mib("VmHWM") - before
        steps.append(Step(backend, name, time.perf_counter() - started, grew))
        print(f"  {name}: {steps[-1].seconds:.1f} s, peak memory +{steps[-1].grew_mib:.0f} MiB")
    orders, entries = asyncio.run(stored(url))
    print(f"  stored {orders:,} orders and {entries:,} audit entries")
    return steps, orders


async def new_postgres_database(server: str) -> str:
    engine = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("DROP DATABASE IF EXISTS starboard_imports"))
            await conn.execute(text("CREATE DATABASE starboard_imports"))
    finally:
        await engine.dispose()
    return f"{server}/starboard_imports"


def goals_of(steps: list[Step], orders: int, rows: int, backend: str) -> list[Goal]:
    found = [
        Goal("imports", backend, f"{rows:,} orders, {s.name}", s.seconds, "s", "<=", GOAL_S)
        for s in steps
    ]
    return [*found, Goal("imports", backend, "orders stored", orders, "", "==", rows)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args(argv)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)  # before the database: the cluster reads it too
    directory = BENCH_DIR / "imports"
    goals: list[Goal] = []
    if args.backend in ("sqlite", "both"):
        database = BENCH_DIR / "imports.sqlite"
        for stale in BENCH_DIR.glob("imports.sqlite*"):
            stale.unlink()
        print(f"imports on SQLite ({database})", flush=True)
        steps, orders = measure("SQLite", f"sqlite+aiosqlite:///{database}", args.rows, directory)
        goals += goals_of(steps, orders, args.rows, "SQLite")
    if args.backend in ("postgres", "both"):
        try:
            with running_postgres(BENCH_DIR / "pg") as server:
                url = asyncio.run(new_postgres_database(server))
                print(f"\nimports on PostgreSQL ({url})", flush=True)
                steps, orders = measure("PostgreSQL", url, args.rows, directory)
                goals += goals_of(steps, orders, args.rows, "PostgreSQL")
        except PostgresUnavailable as exc:
            print(f"\nimports on PostgreSQL skipped: {exc}")
    print(conclude("imports", goals, f"{args.rows:,} orders imported from CSV"))
    return 0 if all(goal.met for goal in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
