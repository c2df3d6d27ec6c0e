"""Small builders for test data (the bulk demo seeder is tested on its own)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Category, Customer, Order, OrderItem, OrderStatus, Product, Tag

_serial = itertools.count(1)


def customer(**values: object) -> Customer:
    n = next(_serial)
    defaults: dict[str, object] = {"name": f"Customer {n}", "email": f"customer{n}@example.com"}
    return Customer(**{**defaults, **values})


def product(**values: object) -> Product:
    n = next(_serial)
    defaults: dict[str, object] = {
        "sku": f"SKU-{n:05d}",
        "name": f"Product {n}",
        "category": Category.BOOKS,
        "price": Decimal("9.99"),
        "stock": 10,
    }
    return Product(**{**defaults, **values})


def order(buyer: Customer, goods: list[Product], **values: object) -> Order:
    items = [OrderItem(product=p, quantity=1, unit_price=p.price) for p in goods]
    defaults: dict[str, object] = {
        "customer": buyer,
        "status": OrderStatus.PAID,
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=next(_serial)),
        "total": sum((p.price for p in goods), Decimal("0")),
        "items": items,
    }
    return Order(**{**defaults, **values})


async def shop(session: AsyncSession, *, customers: int = 3, orders_each: int = 3) -> None:
    """A small shop: tagged products, customers, orders with items."""
    tags = [Tag(name=f"tag-{next(_serial)}") for _ in range(3)]
    goods = [product(tags=tags[: i % 3 + 1]) for i in range(5)]
    for _ in range(customers):
        buyer = customer()
        for j in range(orders_each):
            session.add(order(buyer, goods[: j % 3 + 1]))
    session.add_all(goods)
    await session.flush()
