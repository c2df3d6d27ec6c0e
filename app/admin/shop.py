"""The demo shop's admin: only what differs from the defaults the mapper gives."""

from collections.abc import Sequence
from typing import ClassVar

from app.admin.model_view import AutoModelView
from app.models import CustomerStats, Product, Ticket


class ProductView(AutoModelView):
    model = Product
    # Long text and JSON make a product list unreadable; they stay on detail and forms.
    exclude_fields_from_list = ["description", "specs"]
    fields_default_sort = ["name"]
    phone_columns = ["name", "price", "stock"]


class CustomerStatsView(AutoModelView):
    model = CustomerStats
    written_by_the_app = True  # recomputed by the refresh_customer_stats job
    phone_columns = ["customer", "orders", "spent"]


class TicketView(AutoModelView):
    model = Ticket
    phone_columns = ["subject", "status", "priority"]
    # Stamped when the status becomes closed (the dashboard's "closed per day"), never typed.
    exclude_fields_from_create: ClassVar[Sequence[str]] = ["closed_at"]  # type: ignore[misc]
    exclude_fields_from_edit: ClassVar[Sequence[str]] = ["closed_at"]  # type: ignore[misc]
