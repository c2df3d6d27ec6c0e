"""The demo shop's admin: only what differs from the defaults the mapper gives."""

from app.admin.model_view import AutoModelView
from app.models import CustomerStats, Product


class ProductView(AutoModelView):
    model = Product
    # Long text and JSON make a product list unreadable; they stay on detail and forms.
    exclude_fields_from_list = ["description", "specs"]
    fields_default_sort = ["name"]


class CustomerStatsView(AutoModelView):
    model = CustomerStats
    written_by_the_app = True  # recomputed by the refresh_customer_stats job
