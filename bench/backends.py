"""Running one benchmark on SQLite and then PostgreSQL, on the seeded dataset of each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bench.dataset import BENCH_DIR, postgres_url, prepare, sqlite_url
from bench.postgres import PostgresUnavailable, running_postgres

T = TypeVar("T")

Measure = Callable[[str], Coroutine[Any, Any, tuple[str, list[T]]]]


def on_each_backend(
    name: str,
    backend: str,
    orders: int,
    measure: Measure[T],
    report: Callable[[str, list[T]], str],
) -> dict[str, list[T]]:
    """`measure(url)` -> (server version, outcomes) on each backend `backend` names ("sqlite",
    "postgres" or "both"), each reported as it ends; PostgreSQL skipped when it cannot start."""
    results: dict[str, list[T]] = {}
    if backend in ("sqlite", "both"):
        url = sqlite_url(orders)
        print(f"{name} on SQLite, {orders:,} orders ({url})", flush=True)
        prepare(url, orders)
        version, results["SQLite"] = asyncio.run(measure(url))
        print(report(f"{version}, {orders:,} orders", results["SQLite"]))
    if backend in ("postgres", "both"):
        try:
            with running_postgres(BENCH_DIR / "pg") as server:
                url = asyncio.run(postgres_url(server, orders))
                print(f"\n{name} on PostgreSQL, {orders:,} orders ({url})", flush=True)
                prepare(url, orders)
                version, results["PostgreSQL"] = asyncio.run(measure(url))
            print(report(f"{version}, {orders:,} orders", results["PostgreSQL"]))
        except PostgresUnavailable as exc:
            print(f"\n{name} on PostgreSQL skipped: {exc}")
    return results
