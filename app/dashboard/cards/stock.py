"""Products low on stock: fewer units than the live setting LOW_STOCK_THRESHOLD."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import constance
from app.auth.current import CurrentUser
from app.clock import Clock
from app.dashboard.figures import whole
from app.dashboard.registry import card
from app.models.shop import Product

LISTED = 5


@dataclass(frozen=True)
class LowProduct:
    id: int
    name: str
    stock: int


@dataclass(frozen=True)
class LowStock:
    threshold: int
    count: int
    lowest: tuple[LowProduct, ...]

    @property
    def count_shown(self) -> str:
        return whole(self.count)


@card(
    "low_stock",
    title="Low on stock",
    template="dashboard/cards/low_stock.html",
    permission="product:view",
    refresh_on=("model:product",),
    place=30,
    reads=(Product,),
    settings=("LOW_STOCK_THRESHOLD",),
)
async def low_stock(session: AsyncSession, clock: Clock, user: CurrentUser) -> LowStock:
    # The same rule as the low-stock report job (app/jobs.py): under the threshold.
    threshold = int(constance.settings.LOW_STOCK_THRESHOLD)
    stmt = (
        select(Product.id, Product.name, Product.stock, func.count().over())
        .where(Product.stock < threshold)
        .order_by(Product.stock, Product.id)
        .limit(LISTED)
    )
    rows = (await session.execute(stmt)).all()
    count = int(rows[0][3]) if rows else 0
    return LowStock(threshold, count, tuple(LowProduct(i, n, s) for i, n, s, _ in rows))
