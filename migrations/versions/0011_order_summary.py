"""order summary: orders and revenue per UTC hour and status, kept by triggers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 00:30:00.000000

The triggers catch every writer of `orders` (the ORM, seed-demo's bulk loads, raw SQL), so
`order_hour` stays exact; the upgrade fills it from the orders already there. An hour whose
orders all went away keeps its row, at zero. On SQLite they run per row; on PostgreSQL once
per statement over its transition tables, so a bulk COPY adds one grouped upsert, not one per
row. Two transactions adding orders of the same hour and status on PostgreSQL take turns
at its summary row, the second waiting for the first to commit. A later SQLite migration that rebuilds `orders` (batch mode) drops these triggers with
the old table and must create them again.

The rows go in by hour, as later ones will: a stretch of hours is then a few adjacent pages on
PostgreSQL (read in random order it was hundreds, and the planner started parallel workers for
it), and on SQLite the table is the key's own b-tree (WITHOUT ROWID).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# SQLite stores a UTC moment as `YYYY-MM-DD HH:MM:SS.ffffff` text; its hour, written alike.
SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00.000000', {row}.created_at)"
SQLITE_CENTS = "CAST(round({row}.total * 100) AS INTEGER)"

SQLITE_ADD = f"""
    INSERT INTO order_hour (hour, status, orders, revenue_cents)
    VALUES ({SQLITE_HOUR.format(row='NEW')}, NEW.status, 1, {SQLITE_CENTS.format(row='NEW')})
    ON CONFLICT (hour, status) DO UPDATE SET
        orders = orders + 1, revenue_cents = revenue_cents + excluded.revenue_cents;
"""
SQLITE_TAKE = f"""
    UPDATE order_hour SET
        orders = orders - 1, revenue_cents = revenue_cents - {SQLITE_CENTS.format(row='OLD')}
    WHERE hour = {SQLITE_HOUR.format(row='OLD')} AND status = OLD.status;
"""

SQLITE_TRIGGERS = {
    "order_hour_insert": f"AFTER INSERT ON orders BEGIN {SQLITE_ADD} END",
    "order_hour_update": (
        "AFTER UPDATE OF status, total, created_at ON orders"
        " WHEN OLD.status IS NOT NEW.status OR OLD.total IS NOT NEW.total"
        " OR OLD.created_at IS NOT NEW.created_at"
        f" BEGIN {SQLITE_TAKE} {SQLITE_ADD} END"
    ),
    "order_hour_delete": f"AFTER DELETE ON orders BEGIN {SQLITE_TAKE} END",
}

POSTGRES_HOUR = "date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"

# `changed` lists (created_at, status, total, sign): +1 for a row that came, -1 for one that
# went; an update is both, and a row updated in what it is not counted by nets out to nothing.
POSTGRES_APPLY = """
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_hour AS kept (hour, status, orders, revenue_cents)
    SELECT hour, status, orders, revenue_cents FROM (
        SELECT {hour} AS hour, status, sum(sign) AS orders,
               sum(sign * round(total * 100)) AS revenue_cents
        FROM ({changed}) AS changed (created_at, status, total, sign)
        GROUP BY 1, 2
    ) AS per_hour
    WHERE orders <> 0 OR revenue_cents <> 0
    ORDER BY hour, status  -- the same order in every transaction: no deadlock between them
    ON CONFLICT (hour, status) DO UPDATE SET
        orders = kept.orders + excluded.orders,
        revenue_cents = kept.revenue_cents + excluded.revenue_cents;
    RETURN NULL;
END
$$
"""
ADDED = "SELECT created_at, status, total, 1 FROM added"
REMOVED = "SELECT created_at, status, total, -1 FROM removed"

POSTGRES_FUNCTIONS = {
    "order_hour_inserted": ADDED,
    "order_hour_updated": f"{ADDED} UNION ALL {REMOVED}",
    "order_hour_deleted": REMOVED,
}
POSTGRES_TRIGGERS = {
    "order_hour_insert": (
        "AFTER INSERT ON orders REFERENCING NEW TABLE AS added"
        " FOR EACH STATEMENT EXECUTE FUNCTION order_hour_inserted()"
    ),
    "order_hour_update": (
        "AFTER UPDATE ON orders REFERENCING OLD TABLE AS removed NEW TABLE AS added"
        " FOR EACH STATEMENT EXECUTE FUNCTION order_hour_updated()"
    ),
    "order_hour_delete": (
        "AFTER DELETE ON orders REFERENCING OLD TABLE AS removed"
        " FOR EACH STATEMENT EXECUTE FUNCTION order_hour_deleted()"
    ),
    "order_hour_truncate": (
        "AFTER TRUNCATE ON orders FOR EACH STATEMENT EXECUTE FUNCTION order_hour_emptied()"
    ),
}
POSTGRES_EMPTIED = """
CREATE FUNCTION order_hour_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM order_hour;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table('order_hour',
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded', name='orderstatus', native_enum=False, length=20), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('revenue_cents', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('hour', 'status', name=op.f('pk_order_hour')),
    sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"INSERT INTO order_hour (hour, status, orders, revenue_cents)"
            f" SELECT {POSTGRES_HOUR}, status, count(*), sum(round(total * 100))"
            " FROM orders GROUP BY 1, 2 ORDER BY 1, 2"
        )
        op.execute("ANALYZE order_hour")  # planned by its real size from the first read
        for name, changed in POSTGRES_FUNCTIONS.items():
            op.execute(POSTGRES_APPLY.format(name=name, hour=POSTGRES_HOUR, changed=changed))
        op.execute(POSTGRES_EMPTIED)
        for name, body in POSTGRES_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        op.execute(
            f"INSERT INTO order_hour (hour, status, orders, revenue_cents)"
            f" SELECT {SQLITE_HOUR.format(row='orders')}, status, count(*),"
            f" sum({SQLITE_CENTS.format(row='orders')}) FROM orders GROUP BY 1, 2 ORDER BY 1, 2"
        )
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in POSTGRES_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON orders")
        for name in (*POSTGRES_FUNCTIONS, "order_hour_emptied"):
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table('order_hour')
