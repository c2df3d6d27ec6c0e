"""The demo seeder: same rows everywhere, nothing added twice, growth equal to seeding at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from app.auth.accounts import create_user, find_user
from app.auth.passwords import verify_password
from app.db import Base, create_engine, create_session_factory
from app.models import (
    Category,
    Customer,
    Group,
    Order,
    OrderItem,
    Product,
    Tag,
    Ticket,
    TicketStatus,
    User,
    product_tag,
)
from app.shop.clock import OPENING_DAY, REFERENCE_DAY
from app.shop.seed import OPS_GROUP, SeedReport, seed_demo
from tests.conftest import ADMIN_PASSWORD, migrated_url

SHOP_TABLES = [
    Base.metadata.tables[name]
    for name in ("product", "tag", "product_tag", "customer", "orders", "order_item", "ticket")
]

Factory = async_sessionmaker[AsyncSession]
Digest = Callable[[int], Awaitable[dict[str, str]]]


def canonical(value: Any) -> Any:
    # SQLite hands back naive UTC datetimes, PostgreSQL aware ones: compare the same instant.
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


async def table_digests(session_factory: Factory) -> dict[str, str]:
    """A hash of every row of every shop table, in primary key order."""
    digests = {}
    async with session_factory() as session:
        for table in SHOP_TABLES:
            rows = await session.execute(select(table).order_by(*table.primary_key.columns))
            text = "\n".join(repr(tuple(canonical(v) for v in row)) for row in rows)
            digests[table.name] = hashlib.sha256(text.encode()).hexdigest()
    return digests


async def quietly(session_factory: Factory, orders: int) -> SeedReport:
    return await seed_demo(session_factory, orders, echo=lambda line: None)


@pytest.fixture(scope="session")
async def fresh_sqlite_digest(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Digest]:
    """Digests of a fresh SQLite database seeded once with N orders (cached per N)."""
    known: dict[int, dict[str, str]] = {}

    async def digest(orders: int) -> dict[str, str]:
        if orders not in known:
            path: Path = tmp_path_factory.mktemp("reference") / "shop.db"
            url = await anyio.to_thread.run_sync(migrated_url, f"sqlite+aiosqlite:///{path}")
            engine = create_engine(url)
            try:
                await quietly(create_session_factory(engine), orders)
                known[orders] = await table_digests(create_session_factory(engine))
            finally:
                await engine.dispose()
        return known[orders]

    yield digest


async def row_counts(session_factory: Factory) -> dict[str, int]:
    async with session_factory() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table)) or 0
            for table in SHOP_TABLES
        }


async def test_two_fresh_databases_hold_the_same_rows(
    session_factory: Factory, fresh_sqlite_digest: Digest
) -> None:
    await quietly(session_factory, 300)

    assert await table_digests(session_factory) == await fresh_sqlite_digest(300)


async def test_a_second_run_adds_nothing(session_factory: Factory) -> None:
    first = await quietly(session_factory, 300)
    counts = await row_counts(session_factory)
    lines: list[str] = []

    second = await seed_demo(session_factory, 300, echo=lines.append)

    assert sum(second.added.values()) == 0
    assert second.present == counts == first.added
    assert await row_counts(session_factory) == counts
    assert lines == [
        "Demo shop: added nothing; already present: 500 products, 20 tags, "
        f"{counts['product_tag']:,} product tags, 50 customers, 300 orders, "
        f"{counts['order_item']:,} order items, 6 tickets."
    ]


async def test_growing_gives_the_shop_that_seeding_at_once_gives(
    session_factory: Factory, fresh_sqlite_digest: Digest
) -> None:
    await quietly(session_factory, 300)

    grown = await quietly(session_factory, 500)

    assert grown.added["orders"] == 200
    assert grown.added["ticket"] == 4
    assert grown.added["product"] == grown.added["customer"] == 0
    assert await table_digests(session_factory) == await fresh_sqlite_digest(500)


async def test_growing_past_a_customer_threshold_adds_customers(
    session_factory: Factory, fresh_sqlite_digest: Digest
) -> None:
    await quietly(session_factory, 500)

    grown = await quietly(session_factory, 1500)

    assert grown.added["customer"] == 1500 // 20 - 50
    assert await table_digests(session_factory) == await fresh_sqlite_digest(1500)


async def test_a_deleted_order_is_put_back_with_its_lines(session_factory: Factory) -> None:
    await quietly(session_factory, 300)
    async with session_factory.begin() as session:
        order = await session.get(Order, 120, options=[selectinload(Order.items)])
        assert order is not None
        before = order_snapshot(order)
        await session.delete(order)

    again = await quietly(session_factory, 300)

    assert again.added["orders"] == 1
    assert again.added["order_item"] == len(before[1])
    async with session_factory() as session:
        restored = await session.get(Order, 120, options=[selectinload(Order.items)])
        assert restored is not None
        assert order_snapshot(restored) == before


def order_snapshot(order: Order) -> tuple[Any, ...]:
    lines = sorted((i.id, i.product_id, i.quantity, i.unit_price) for i in order.items)
    return (order.customer_id, order.status, order.total, order.created_at), lines


async def test_order_totals_equal_the_sum_of_their_lines(session_factory: Factory) -> None:
    await quietly(session_factory, 400)

    async with session_factory() as session:
        totals = {i: t for i, t in await session.execute(select(Order.id, Order.total))}
        lines = await session.execute(
            select(OrderItem.order_id, OrderItem.quantity, OrderItem.unit_price)
        )
        summed: dict[int, Decimal] = {}
        counted: Counter[int] = Counter()
        for order_id, quantity, unit_price in lines:
            summed[order_id] = summed.get(order_id, Decimal(0)) + quantity * unit_price
            counted[order_id] += 1

    assert len(totals) == 400
    assert summed == totals
    assert set(counted.values()) <= {1, 2, 3, 4}


async def test_the_demo_looks_like_a_shop(session_factory: Factory) -> None:
    await quietly(session_factory, 1000)

    async with session_factory() as session:
        products = (await session.scalars(select(Product))).all()
        customers = {c.id: c for c in (await session.scalars(select(Customer))).all()}
        orders = {o.id: o for o in (await session.scalars(select(Order))).all()}
        tickets = (await session.scalars(select(Ticket))).all()
        links = await session.scalar(select(func.count()).select_from(product_tag))

    assert len(products) == 500
    assert {p.category for p in products} == set(Category)
    assert all(isinstance(p.price, Decimal) and p.price > 0 for p in products)
    assert any(p.stock == 0 for p in products) and any(0 < p.stock < 10 for p in products)
    assert all(p.available_from and p.specs and p.description for p in products)
    assert links and links > 500
    assert len(customers) == 50
    assert all(
        re.fullmatch(rf"[a-z]+\.[a-z]+\.{c.id}@example\.com", c.email) for c in customers.values()
    )
    assert len(orders) == 1000
    assert len({o.status for o in orders.values()}) >= 4
    earliest, latest = OPENING_DAY.replace(tzinfo=None), REFERENCE_DAY.replace(tzinfo=None)
    for order in orders.values():
        placed = canonical(order.created_at)
        assert earliest <= canonical(customers[order.customer_id].created_at) <= placed <= latest
    assert len(tickets) == 20
    assert any(t.order_id is None for t in tickets) and any(t.order_id for t in tickets)
    for ticket in tickets:
        if ticket.order_id is not None:
            assert orders[ticket.order_id].customer_id == ticket.customer_id
        # Closed tickets say when, after they were opened and by the reference day; others not.
        if ticket.status == TicketStatus.CLOSED:
            assert ticket.closed_at is not None
            closed = canonical(ticket.closed_at)
            assert canonical(ticket.created_at) < closed <= latest
        else:
            assert ticket.closed_at is None


async def test_new_rows_after_seeding_get_fresh_ids(session_factory: Factory) -> None:
    await quietly(session_factory, 300)

    async with session_factory.begin() as session:
        customer = Customer(name="Walk-in Customer", email="walk-in@example.com")
        tag = Tag(name="new tag")
        session.add_all([customer, tag])
        await session.flush()

    assert (customer.id, tag.id) == (51, 21)


async def test_the_first_run_creates_an_admin_and_shows_its_password_once(
    session_factory: Factory,
) -> None:
    first: list[str] = []
    report = await seed_demo(session_factory, 100, echo=first.append)
    later: list[str] = []
    await seed_demo(session_factory, 200, echo=later.append)

    assert report.admin_created
    password = next(line.split(": ", 1)[1] for line in first if "password:" in line)
    assert len(password) >= 16
    assert any("python -m app users set-password admin --password" in line for line in first)
    async with session_factory() as session:
        admin = await find_user(session, "admin")
    assert admin is not None and admin.is_superuser
    assert verify_password(admin.password_hash, password)
    assert not any("admin" in line or password in line for line in later)
    assert first[-1].startswith("Demo shop: added ")


async def test_no_admin_is_made_when_an_account_exists(session_factory: Factory) -> None:
    async with session_factory.begin() as session:
        await create_user(session, "alice", ADMIN_PASSWORD)
    lines: list[str] = []

    report = await seed_demo(session_factory, 100, echo=lines.append)

    assert not report.admin_created
    assert len(lines) == 1 and lines[0].startswith("Demo shop: added ")
    async with session_factory() as session:
        assert await find_user(session, "admin") is None


async def test_an_ops_group_is_made_once_with_the_first_admin_in_it(
    session_factory: Factory,
) -> None:
    first: list[str] = []
    report = await seed_demo(session_factory, 100, echo=first.append)
    async with session_factory.begin() as session:
        ops = await session.scalar(select(Group).where(Group.name == OPS_GROUP))
        assert ops is not None
        assert ops.permissions == ["jobs:view", "jobs:run", "product:view"]
        ops.permissions = ["jobs:view"]  # an operator's change
    again = await seed_demo(session_factory, 100, echo=lambda line: None)

    assert report.ops_group_created and not again.ops_group_created
    assert "  member of: ops (told about failed jobs and low stock)" in first
    async with session_factory() as session:
        groups = (await session.scalars(select(Group))).all()
        admin = await session.scalar(
            select(User).options(selectinload(User.groups)).where(User.username == "admin")
        )
    assert [(g.name, g.permissions) for g in groups] == [(OPS_GROUP, ["jobs:view"])]
    assert admin is not None and [g.name for g in admin.groups] == [OPS_GROUP]


async def test_an_existing_ops_group_is_kept_and_existing_accounts_are_not_enrolled(
    session_factory: Factory,
) -> None:
    async with session_factory.begin() as session:
        session.add(Group(name=OPS_GROUP, permissions=["audit:view"]))
        await create_user(session, "alice", ADMIN_PASSWORD)

    report = await quietly(session_factory, 100)

    assert not report.ops_group_created and not report.admin_created
    async with session_factory() as session:
        ops = await session.scalar(
            select(Group).options(selectinload(Group.users)).where(Group.name == OPS_GROUP)
        )
    assert ops is not None and ops.permissions == ["audit:view"] and ops.users == []


@pytest.mark.parametrize("orders", [0, -5])
async def test_a_bad_order_count_is_refused_and_nothing_is_written(
    session_factory: Factory, orders: int
) -> None:
    with pytest.raises(ValueError, match=r"orders: expected a whole number of at least 1, got"):
        await seed_demo(session_factory, orders, echo=lambda line: None)

    assert set((await row_counts(session_factory)).values()) == {0}
