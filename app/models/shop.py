"""The demo domain: a shop's back office (customers, products, orders, support)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    event,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, now_utc


def enum_column(enum_class: type[enum.Enum], **kwargs: Any) -> Enum:
    # Plain VARCHAR holding the value: portable, and new members need no DB type migration.
    return Enum(
        enum_class,
        native_enum=False,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        **kwargs,
    )


def trigram_index(table: str, column: str) -> Index:
    # Serves "contains" searches (LIKE and ILIKE '%term%') on PostgreSQL; SQLite has no equivalent.
    return Index(
        f"ix_{table}_{column}_trgm",
        column,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")


class Category(enum.Enum):
    ELECTRONICS = "electronics"
    BOOKS = "books"
    HOME = "home"
    GARDEN = "garden"
    TOYS = "toys"
    CLOTHING = "clothing"
    SPORTS = "sports"
    GROCERY = "grocery"


class OrderStatus(enum.Enum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class TicketPriority(enum.Enum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(enum.Enum):
    OPEN = "open"
    WAITING = "waiting"
    CLOSED = "closed"


product_tag = Table(
    "product_tag",
    Base.metadata,
    Column("product_id", ForeignKey("product.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Customer(Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, info={"email": True})
    city: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now(), index=True
    )

    orders: Mapped[list[Order]] = relationship(back_populates="customer")
    tickets: Mapped[list[Ticket]] = relationship(back_populates="customer")

    __table_args__ = tuple(trigram_index("customer", col) for col in ("name", "email", "city"))

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)

    products: Mapped[list[Product]] = relationship(secondary=product_tag, back_populates="tags")

    def __str__(self) -> str:
        return self.name


class Product(Base):
    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    category: Mapped[Category] = mapped_column(enum_column(Category), index=True)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2), info={"money": True})
    stock: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    available_from: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    specs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now(), index=True
    )

    tags: Mapped[list[Tag]] = relationship(secondary=product_tag, back_populates="products")

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class Order(Base):
    __tablename__ = "orders"  # "order" is an SQL keyword
    __table_args__ = (
        # The list's default sort and its "customer's orders" lookups.
        Index("ix_orders_customer_id_created_at", "customer_id", "created_at"),
        # The dashboard's counts and revenue by date range, read from the index alone.
        Index("ix_orders_created_at_status_total", "created_at", "status", "total"),
        # The list filtered by status over a date range reads that status's entries alone.
        Index("ix_orders_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"))
    status: Mapped[OrderStatus] = mapped_column(
        enum_column(OrderStatus), default=OrderStatus.PENDING, index=True
    )
    total: Mapped[Decimal] = mapped_column(
        Numeric(12, 2), default=Decimal("0.00"), info={"money": True}
    )
    shipped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now(), index=True
    )

    customer: Mapped[Customer] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return f"Order #{self.id}"


class OrderHour(Base):
    """Orders and revenue per UTC hour and status: what the dashboard and the orders' date
    drill-down count, instead of a million orders.

    Kept by database triggers on `orders` (migration 0011), so every writer keeps it exact: the
    ORM, bulk loads and raw SQL. Hours, not days: a day in any time zone is a run of whole hours.
    A SQLite migration that rebuilds `orders` drops its triggers and must create them again.
    """

    __tablename__ = "order_hour"
    # On SQLite the rows live in the key's b-tree: a stretch of hours is one range of it.
    __table_args__ = {"sqlite_with_rowid": False}

    hour: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    status: Mapped[OrderStatus] = mapped_column(enum_column(OrderStatus), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer)
    # Whole cents: sums that go up and down again stay exact on SQLite, which has no decimals.
    revenue_cents: Mapped[int] = mapped_column(BigInteger)

    def __str__(self) -> str:
        return (
            f"{self.orders} {self.status.value} orders in the hour from {self.hour:%Y-%m-%d %H}:00"
        )


class OrderItem(Base):
    __tablename__ = "order_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="RESTRICT"), index=True
    )
    # The least a form accepts (info "min"): the admin names the field when it is less.
    quantity: Mapped[int] = mapped_column(Integer, default=1, info={"min": 1})
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2), info={"min": 0, "money": True})

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id} in order {self.order_id}"


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        # The dashboard's open tickets by priority, read from the index alone.
        Index("ix_ticket_status_priority", "status", "priority"),
        trigram_index("ticket", "subject"),
        trigram_index("ticket", "body"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[TicketPriority] = mapped_column(
        enum_column(TicketPriority), default=TicketPriority.NORMAL, index=True
    )
    status: Mapped[TicketStatus] = mapped_column(
        enum_column(TicketStatus), default=TicketStatus.OPEN, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=now_utc, server_default=func.now(), index=True
    )
    # Set when the status becomes closed, cleared when reopened: "closed per day" counts it.
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    customer: Mapped[Customer] = relationship(back_populates="tickets")
    order: Mapped[Order | None] = relationship()

    def __str__(self) -> str:
        return f"#{self.id} {self.subject}"


@event.listens_for(Ticket.status, "set", active_history=True)
def _stamp_closing(ticket: Ticket, value: Any, previous: Any, _initiator: Any) -> None:
    # Forms set the stored string ("closed"), code the member: both mean closed.
    closed = (TicketStatus.CLOSED, TicketStatus.CLOSED.value)
    if value in closed and previous not in closed:
        ticket.closed_at = now_utc()
    elif value not in closed:
        ticket.closed_at = None


class CustomerStats(Base):
    """Per-customer figures recomputed by the refresh_customer_stats job (app/jobs.py)."""

    __tablename__ = "customer_stats"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    orders: Mapped[int] = mapped_column(Integer, default=0)
    # Indexed: "best customers by spend" is the list's natural sort.
    spent: Mapped[Decimal] = mapped_column(
        Numeric(14, 2), default=Decimal("0.00"), index=True, info={"money": True}
    )
    last_order_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    refreshed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    customer: Mapped[Customer] = relationship()

    def __str__(self) -> str:
        return f"customer {self.customer_id}: {self.orders} orders"
