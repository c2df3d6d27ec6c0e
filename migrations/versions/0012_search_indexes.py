"""search and filter indexes: trigrams for the searched text of customers and tickets on
PostgreSQL, and orders by status then date

Revision ID: 0012
Revises: 0011

Global search looks each way of matching up on its own index (app/admin/model_search.py): a text
column without a trigram index is a scan of its whole table whenever nothing matches. The orders
list filtered by status over a date range reads only that status's entries of the range.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column); customer.name and customer.email have theirs since 0002.
TRIGRAM_COLUMNS = (("customer", "city"), ("ticket", "subject"), ("ticket", "body"))


def upgrade() -> None:
    op.create_index("ix_orders_status_created_at", "orders", ["status", "created_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    # pg_trgm is a trusted extension: the database owner may create it (0002 did, IF NOT EXISTS).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, col in TRIGRAM_COLUMNS:
        op.create_index(
            f"ix_{table}_{col}_trgm",
            table,
            [col],
            postgresql_using="gin",
            postgresql_ops={col: "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, col in TRIGRAM_COLUMNS:
            op.drop_index(f"ix_{table}_{col}_trgm", table_name=table)
    op.drop_index("ix_orders_status_created_at", table_name="orders")
