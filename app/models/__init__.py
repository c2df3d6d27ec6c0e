"""Every table. Importing this package registers them all on `Base.metadata`."""

from app.models.auth import User
from app.models.shop import (
    Category,
    Customer,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Tag,
    Ticket,
    TicketPriority,
    TicketStatus,
    product_tag,
)

__all__ = [
    "Category",
    "Customer",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Product",
    "Tag",
    "Ticket",
    "TicketPriority",
    "TicketStatus",
    "User",
    "product_tag",
]
