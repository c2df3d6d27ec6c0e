"""Seeding the demo shop: products, tags and N orders of history, adding only what is missing.

Every row has a fixed primary key and fixed content (see products.py and history.py), so seeding
is repeatable, a second run adds nothing, and a larger N adds only the rows a smaller one lacked.
Rows go in by chunk, one transaction each: a plain executemany on SQLite, COPY on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, between, func, insert, select, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from app.auth.accounts import create_user, has_any_user
from app.db import Base
from app.models import Customer, Group, Order, OrderItem, Product, Tag, Ticket, product_tag
from app.shop import products as demo_products
from app.shop.history import (
    CUSTOMER_CHUNK,
    CUSTOMER_COLUMNS,
    ITEM_COLUMNS,
    MAX_ITEMS,
    ORDER_CHUNK,
    ORDER_COLUMNS,
    TICKET_CHUNK,
    TICKET_COLUMNS,
    OrderBatch,
    Row,
    chunk_count,
    chunk_ids,
    customer_rows,
    customers_for,
    order_batch,
    tickets_for,
)

Echo = Callable[[str], object]

PRODUCTS = Base.metadata.tables[Product.__tablename__]
TAGS = Base.metadata.tables[Tag.__tablename__]
CUSTOMERS = Base.metadata.tables[Customer.__tablename__]
ORDERS = Base.metadata.tables[Order.__tablename__]
ORDER_ITEMS = Base.metadata.tables[OrderItem.__tablename__]
TICKETS = Base.metadata.tables[Ticket.__tablename__]

# Report order and wording: the summary line reads in the shop's words.
TABLE_LABELS = {
    "product": "products",
    "tag": "tags",
    "product_tag": "product tags",
    "customer": "customers",
    "orders": "orders",
    "order_item": "order items",
    "ticket": "tickets",
}
TABLES_WITH_ID_SEQUENCE = ("product", "tag", "customer", "orders", "order_item", "ticket")
PROGRESS_EVERY = 100_000
ADMIN_USERNAME = "admin"
# Failed runs and the low-stock report notify this group; its members watch and run jobs.
OPS_GROUP = "ops"
OPS_PERMISSIONS = ["jobs:view", "jobs:run", "product:view"]
SQLITE_BULK_CACHE_KIB = 256 * 1024


@dataclass
class SeedReport:
    """What one run did: rows added and rows already there, per table."""

    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLE_LABELS, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLE_LABELS, 0))
    admin_created: bool = False
    ops_group_created: bool = False

    @property
    def touched(self) -> list[str]:
        return [table for table, count in self.added.items() if count]

    def summary(self) -> str:
        added = counts_in_words(self.added) or "nothing"
        present = counts_in_words(self.present) or "nothing"
        return f"Demo shop: added {added}; already present: {present}."


def counts_in_words(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {TABLE_LABELS[table]}" for table, n in counts.items() if n)


async def seed_demo(
    session_factory: async_sessionmaker[AsyncSession],
    orders: int = 2000,
    *,
    echo: Echo = print,
) -> SeedReport:
    """Make the demo shop hold (at least) `orders` orders and everything they refer to."""
    if isinstance(orders, bool) or not isinstance(orders, int) or orders < 1:
        raise ValueError(f"orders: expected a whole number of at least 1, got {orders!r}")
    report = SeedReport()
    async with bulk_connection(engine_of(session_factory)) as conn:
        report.present = await count_rows(conn)
        await seed_products(conn, report)
        await seed_customers(conn, customers_for(orders), report)
        await seed_orders(conn, orders, report, echo)
        if report.touched:
            await refresh_statistics(conn, report.touched)
    report.ops_group_created = await ensure_ops_group(session_factory)
    report.admin_created = await ensure_admin(session_factory, echo)
    echo(report.summary())
    return report


def engine_of(session_factory: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    engine = session_factory.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        raise TypeError("seed_demo needs a session factory bound to an AsyncEngine")
    return engine


@asynccontextmanager
async def bulk_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection for the whole run; on SQLite with a page cache that holds the indexes."""
    async with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            yield conn
            return
        # Random-order index inserts (orders by date) thrash SQLite's default 2 MB page cache.
        usual = await conn.scalar(text("PRAGMA cache_size"))
        await conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")
        await conn.commit()
        try:
            yield conn
        finally:
            await conn.rollback()
            await conn.exec_driver_sql(f"PRAGMA cache_size={int(usual or 0)}")
            await conn.commit()


async def count_rows(conn: AsyncConnection) -> dict[str, int]:
    async with conn.begin():
        counts: dict[str, int] = {}
        for table in TABLE_LABELS:
            counts[table] = await conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0
        return counts


async def seed_products(conn: AsyncConnection, report: SeedReport) -> None:
    async with conn.begin():
        have = (await conn.execute(select(PRODUCTS.c.id, PRODUCTS.c.sku))).all()
        taken_ids, taken_skus = {row.id for row in have}, {row.sku for row in have}
        products = [
            p.row()
            for p in demo_products.products()
            if p.id not in taken_ids and p.sku not in taken_skus
        ]
        await insert_rows(conn, PRODUCTS, products, report)

        have = (await conn.execute(select(TAGS.c.id, TAGS.c.name))).all()
        taken_ids, taken_names = {row.id for row in have}, {row.name for row in have}
        tags = [
            t
            for t in demo_products.tag_rows()
            if t["id"] not in taken_ids and t["name"] not in taken_names
        ]
        await insert_rows(conn, TAGS, tags, report)

        product_ids = set(await conn.scalars(select(PRODUCTS.c.id)))
        tag_ids = set(await conn.scalars(select(TAGS.c.id)))
        pairs = select(product_tag.c.product_id, product_tag.c.tag_id)
        linked = {(p, t) for p, t in await conn.execute(pairs)}
        links = [
            {"product_id": p, "tag_id": t}
            for p, t in demo_products.product_tag_pairs()
            if (p, t) not in linked and p in product_ids and t in tag_ids
        ]
        await insert_rows(conn, product_tag, links, report)


async def seed_customers(conn: AsyncConnection, customers: int, report: SeedReport) -> None:
    async with conn.begin():
        chunks = await incomplete_chunks(conn, CUSTOMERS, CUSTOMER_CHUNK, customers)
    for chunk in chunks:
        async with conn.begin():
            have = await present_ids(conn, CUSTOMERS, chunk_ids(chunk, CUSTOMER_CHUNK, customers))
            rows = [r for r in customer_rows(chunk, customers) if r[0] not in have]
            await bulk_write(conn, CUSTOMERS, CUSTOMER_COLUMNS, rows, report)


async def seed_orders(conn: AsyncConnection, orders: int, report: SeedReport, echo: Echo) -> None:
    async with conn.begin():
        chunks = sorted(
            set(await incomplete_chunks(conn, ORDERS, ORDER_CHUNK, orders))
            | set(await incomplete_chunks(conn, TICKETS, TICKET_CHUNK, tickets_for(orders)))
        )
    if not chunks:
        return
    started = time.monotonic()
    loud = len(chunks) * ORDER_CHUNK >= PROGRESS_EVERY
    if loud:
        echo(f"Adding demo orders up to #{orders:,} ({len(chunks)} chunks of {ORDER_CHUNK:,})...")
    async with aclosing(generated_batches(chunks, orders)) as batches:
        async for chunk, batch in batches:
            async with conn.begin():
                await write_order_batch(conn, chunk, orders, batch, report)
            done = chunk_ids(chunk, ORDER_CHUNK, orders).stop - 1
            if loud and (done % PROGRESS_EVERY < ORDER_CHUNK or done == orders):
                echo(f"  orders: {done:,} of {orders:,} ({time.monotonic() - started:.0f} s)")


async def generated_batches(
    chunks: list[int], orders: int
) -> AsyncGenerator[tuple[int, OrderBatch]]:
    """Each chunk's rows; the next is generated in a thread while the caller writes this one."""
    upcoming = asyncio.create_task(asyncio.to_thread(order_batch, chunks[0], orders))
    try:
        for position, chunk in enumerate(chunks):
            batch = await upcoming
            if position + 1 < len(chunks):
                following = chunks[position + 1]
                upcoming = asyncio.create_task(asyncio.to_thread(order_batch, following, orders))
            yield chunk, batch
    finally:
        upcoming.cancel()


async def write_order_batch(
    conn: AsyncConnection, chunk: int, orders: int, batch: OrderBatch, report: SeedReport
) -> None:
    order_ids = chunk_ids(chunk, ORDER_CHUNK, orders)
    item_ids = range((order_ids.start - 1) * MAX_ITEMS + 1, (order_ids.stop - 1) * MAX_ITEMS + 1)
    ticket_ids = chunk_ids(chunk, TICKET_CHUNK, tickets_for(orders))
    have_orders = await present_ids(conn, ORDERS, order_ids)
    have_items = await present_ids(conn, ORDER_ITEMS, item_ids)
    have_tickets = await present_ids(conn, TICKETS, ticket_ids)
    new_orders = [r for r in batch.orders if r[0] not in have_orders]
    items = batch.items
    if have_orders or have_items:
        # Lines come with their order only: an order already here keeps the lines it has.
        new_ids = {r[0] for r in new_orders}
        items = [r for r in items if r[1] in new_ids and r[0] not in have_items]
    tickets = [r for r in batch.tickets if r[0] not in have_tickets]
    await bulk_write(conn, ORDERS, ORDER_COLUMNS, new_orders, report)
    await bulk_write(conn, ORDER_ITEMS, ITEM_COLUMNS, items, report)
    await bulk_write(conn, TICKETS, TICKET_COLUMNS, tickets, report)


async def incomplete_chunks(
    conn: AsyncConnection, table: Table, size: int, last_id: int
) -> list[int]:
    """Chunks of ids 1..last_id with at least one id missing from the table."""
    if last_id < 1:
        return []
    if await conn.scalar(select(func.count()).where(between(table.c.id, 1, last_id))) == last_id:
        return []
    chunk = ((table.c.id - 1) // size).label("chunk")
    per_chunk = select(chunk, func.count()).where(between(table.c.id, 1, last_id))
    result = await conn.execute(per_chunk.group_by("chunk"))
    counts: dict[int, int] = {c: n for c, n in result}
    return [
        c
        for c in range(chunk_count(last_id, size))
        if counts.get(c, 0) < len(chunk_ids(c, size, last_id))
    ]


async def present_ids(conn: AsyncConnection, table: Table, ids: range) -> set[int]:
    if not ids:
        return set()
    return set(
        await conn.scalars(select(table.c.id).where(between(table.c.id, ids.start, ids.stop - 1)))
    )


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], report: SeedReport
) -> None:
    if rows:
        await conn.execute(insert(table), rows)
        report.added[table.name] += len(rows)


async def bulk_write(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: list[Row],
    report: SeedReport,
) -> None:
    """Bulk-write tuples: COPY on PostgreSQL (several times faster), executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        await copy_rows(conn, table, columns, rows)
    else:
        await conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
    report.added[table.name] += len(rows)


async def copy_rows(
    conn: AsyncConnection, table: Table, columns: Sequence[str], rows: Iterable[Row]
) -> None:
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():
        # SQLAlchemy begins the asyncpg transaction at the first statement; COPY must be inside it.
        await conn.execute(select(1))
    await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))


async def refresh_statistics(conn: AsyncConnection, tables: list[str]) -> None:
    """Point id sequences past the explicit ids we wrote, and refresh the planner's statistics."""
    async with conn.begin():
        if conn.dialect.name == "postgresql":
            for table in tables:
                if table in TABLES_WITH_ID_SEQUENCE:
                    await conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
        for table in tables:
            await conn.execute(text(f"ANALYZE {table}"))


async def ensure_ops_group(session_factory: async_sessionmaker[AsyncSession]) -> bool:
    """The `ops` group when missing; an existing one is left as operators made it."""
    async with session_factory.begin() as session:
        if await session.scalar(select(Group.id).where(Group.name == OPS_GROUP)) is not None:
            return False
        session.add(Group(name=OPS_GROUP, permissions=list(OPS_PERMISSIONS)))
    return True


async def ensure_admin(session_factory: async_sessionmaker[AsyncSession], echo: Echo) -> bool:
    """A first admin account when there is no account at all; its password is shown once."""
    password = secrets.token_urlsafe(16)
    async with session_factory.begin() as session:
        if await has_any_user(session):
            return False
        # In ops, so the first operator hears about failed jobs and low stock.
        groups = (
            [OPS_GROUP]
            if await session.scalar(select(Group.id).where(Group.name == OPS_GROUP))
            else []
        )
        await create_user(session, ADMIN_USERNAME, password, superuser=True, groups=groups)
    echo("Created the admin account (its password is shown only this once):")
    echo(f"  username: {ADMIN_USERNAME}")
    echo(f"  password: {password}")
    if groups:
        echo(f"  member of: {OPS_GROUP} (told about failed jobs and low stock)")
    echo(
        f"  change it with: python -m app users set-password {ADMIN_USERNAME} "
        "--password NEW_PASSWORD"
    )
    return True
