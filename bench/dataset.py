"""The seeded demo databases benchmarks run against, built once and reused between runs."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import schema
from app.db import create_engine, create_session_factory

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
DEFAULT_ORDERS = 1_000_000


class BenchConfigError(ValueError):
    """A benchmark setting we cannot run with; the message names it and what is accepted."""


def order_count() -> int:
    """`BENCH_ORDERS` (e.g. 20000 for a quick smoke run), or a million."""
    raw = os.environ.get("BENCH_ORDERS", "").replace("_", "").strip()
    if not raw:
        return DEFAULT_ORDERS
    if not raw.isdigit() or int(raw) < 1:
        raise BenchConfigError(
            f"BENCH_ORDERS={raw!r}: expected a whole number of orders, e.g. 20000"
        )
    return int(raw)


def size_label(orders: int) -> str:
    """1m, 20k, 1234: one database per size, so runs of different sizes never mix."""
    for unit, suffix in ((1_000_000, "m"), (1_000, "k")):
        if orders % unit == 0:
            return f"{orders // unit}{suffix}"
    return str(orders)


def sqlite_url(orders: int) -> str:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{BENCH_DIR / f'orders-{size_label(orders)}.sqlite'}"


async def postgres_url(server_url: str, orders: int) -> str:
    """The size's database on a running server, created when missing."""
    name = f"starboard_orders_{size_label(orders)}"
    engine = create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return f"{server_url}/{name}"


def _indent(*parts: object) -> None:
    print("  ", *parts)


def prepare(url: str, orders: int, echo: Callable[[str], object] = _indent) -> None:
    """Migrate, then seed up to `orders` (a no-op once there); PostgreSQL also gets fresh stats.

    Blocking, and called outside any event loop: the migration runs a loop of its own.
    `echo` gets the seeding's progress lines.
    """
    schema.upgrade(url, quiet=True)
    asyncio.run(_seed(url, orders, echo))


async def _seed(url: str, orders: int, echo: Callable[[str], object]) -> None:
    from app.shop.seed import seed_demo

    engine = create_engine(url)
    try:
        started = time.perf_counter()
        await seed_demo(create_session_factory(engine), orders=orders, echo=echo)
        echo(f"seeded to {orders:,} orders in {time.perf_counter() - started:.1f}s")
    finally:
        await engine.dispose()
    if make_url(url).get_backend_name() == "postgresql":
        await _vacuum_analyze(url)


async def _vacuum_analyze(url: str) -> None:
    # What autovacuum reaches on its own after a bulk load; done now so every run plans alike.
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("VACUUM (ANALYZE)"))
    finally:
        await engine.dispose()
