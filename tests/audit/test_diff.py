"""Diffs read from ORM objects: JSON-safe values, only what changed, secrets masked."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.audit import diff
from app.models import Category, Customer, Order, OrderStatus, Product, Tag, User
from tests import factories
from tests.audit.conftest import run


def test_values_become_json_safe() -> None:
    assert diff.json_safe(Decimal("12.50")) == "12.50"
    assert diff.json_safe(dt.date(2026, 11, 23)) == "2026-11-23"
    moment = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    assert diff.json_safe(moment) == "2026-11-23T10:00:00+00:00"
    assert diff.json_safe(dt.time(14, 30)) == "14:30:00"
    assert diff.json_safe(Category.BOOKS) == "books"
    assert diff.json_safe({"sizes": (Decimal("1.5"), OrderStatus.PAID)}) == {
        "sizes": ["1.5", "paid"]
    }
    assert diff.json_safe(b"\x01\xff") == "01ff"


def test_an_edit_lists_only_changed_fields() -> None:
    old = {"price": Decimal("9.5"), "stock": 3, "tags": ["a"]}
    new = {"price": Decimal("9.50"), "stock": 4, "tags": ["a", "b"]}
    assert diff.edited(old, new) == {
        "stock": {"old": 3, "new": 4},
        "tags": {"old": ["a"], "new": ["a", "b"]},
    }


def test_secrets_are_masked_on_both_sides_yet_recorded_as_changed() -> None:
    assert diff.edited({"password_hash": "$argon2$old"}, {"password_hash": "$argon2$new"}) == {
        "password_hash": {"old": diff.MASK, "new": diff.MASK}
    }
    assert diff.created({"api_token": "t0k3n", "note": None}) == {
        "api_token": {"old": None, "new": diff.MASK},
        "note": {"old": None, "new": None},
    }
    assert diff.deleted({"client_secret": "s"}) == {
        "client_secret": {"old": diff.MASK, "new": None}
    }


def test_pending_changes_read_against_what_was_loaded(database_url: str) -> None:
    """Columns, to-one relations through their foreign key, many-to-many as labels."""

    async def prepare(session: Any) -> tuple[int, int]:
        red, blue = Tag(name="red"), Tag(name="blue")
        lamp = factories.product(name="Lamp", sku="LAMP", price=Decimal("12.50"), tags=[red])
        first, second = factories.customer(), factories.customer()
        session.add_all([lamp, blue, second, factories.order(first, [lamp])])
        await session.flush()
        return lamp.id, second.id

    lamp_id, second_id = run(database_url, prepare)

    async def change(session: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        lamp = await session.scalar(
            select(Product).where(Product.id == lamp_id).options(selectinload(Product.tags))
        )
        order = await session.scalar(select(Order).options(selectinload(Order.customer)))
        blue = await session.scalar(select(Tag).where(Tag.name == "blue"))
        second = await session.get(Customer, second_id)
        before = diff.committed_values(lamp), diff.committed_values(order)
        lamp.price, lamp.tags = Decimal("15"), [blue]
        order.customer = second
        assert diff.committed_values(lamp) == before[0]  # pending changes are not "committed"
        await session.flush()
        return (
            diff.edited(before[0], diff.values(lamp)),
            diff.edited(before[1], diff.values(order)),
        )

    lamp_changes, order_changes = run(database_url, change)
    assert lamp_changes == {
        "price": {"old": "12.50", "new": "15"},
        "tags": {"old": ["red"], "new": ["blue"]},
    }
    assert list(order_changes) == ["customer_id"]
    assert order_changes["customer_id"]["new"] == second_id


def test_a_users_password_hash_never_leaves_masked(database_url: str) -> None:
    async def create(session: Any) -> None:
        session.add(User(username="dora", password_hash="$argon2id$secret-hash"))

    async def change(session: Any) -> dict[str, Any]:
        user = await session.scalar(select(User).where(User.username == "dora"))
        before = diff.committed_values(user)
        user.password_hash = "$argon2id$another-hash"
        user.email = "dora@example.com"
        await session.flush()
        return diff.edited(before, diff.values(user))

    run(database_url, create)
    changes = run(database_url, change)
    assert changes == {
        "email": {"old": None, "new": "dora@example.com"},
        "password_hash": {"old": diff.MASK, "new": diff.MASK},
        "session_epoch": {"old": 0, "new": 1},
    }
