"""The demo's scheduled jobs (user space): add a job by decorating a function with `@job`.

A job receives a JobContext: `ctx.log(...)`, `ctx.progress(0.5, "half way")`,
`await ctx.notify(...)`, `async with ctx.session() as session`, and `ctx.settings.KEY`.
Operators can change the schedule, switch a job off or run it now at /admin/jobs.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, func, select

from app.models import Customer, CustomerStats, JobRun, Order, Product
from app.scheduler import JobContext, job

STATS_BATCH = 200


@job("0 7 * * *", description="Tells ops which products are low on stock (LOW_STOCK_THRESHOLD).")
async def low_stock_report(ctx: JobContext) -> None:
    threshold = ctx.settings.LOW_STOCK_THRESHOLD
    async with ctx.session() as session:
        low = (
            await session.execute(
                select(Product.sku, Product.stock)
                .where(Product.stock < threshold)
                .order_by(Product.stock, Product.sku)
            )
        ).all()
    ctx.log(f"{len(low)} products below {threshold} units")
    for sku, stock in low[:100]:
        ctx.log(f"{sku}: {stock} left")
    if low:
        await ctx.notify(
            f"{len(low)} products low on stock (under {threshold})",
            ", ".join(f"{sku} ({stock})" for sku, stock in low[:10]),
            group="ops",
            level="warning",
            link="/admin/product/list?sort=stock__asc",
        )


@job(
    "30 2 * * *",
    description="Recomputes each customer's order count and lifetime spend, in batches.",
    timeout=3600,
)
async def refresh_customer_stats(ctx: JobContext) -> None:
    async with ctx.session() as session:
        ids = list((await session.scalars(select(Customer.id).order_by(Customer.id))).all())
    total = len(ids)
    ctx.log(f"{total} customers to refresh")
    for start in range(0, total, STATS_BATCH):
        batch = ids[start : start + STATS_BATCH]
        async with ctx.session() as session:
            sums = select(
                Order.customer_id,
                func.count(Order.id),
                func.coalesce(func.sum(Order.total), 0),
                func.max(Order.created_at),
            ).where(Order.customer_id.in_(batch))
            found = {
                row[0]: row[1:]
                for row in (await session.execute(sums.group_by(Order.customer_id))).all()
            }
            await session.execute(delete(CustomerStats).where(CustomerStats.customer_id.in_(batch)))
            moment = ctx.clock.now()
            session.add_all(
                CustomerStats(
                    customer_id=customer_id,
                    orders=int(found.get(customer_id, (0,))[0]),
                    spent=Decimal(str(found.get(customer_id, (0, 0))[1])),
                    last_order_at=found.get(customer_id, (0, 0, None))[2],
                    refreshed_at=moment,
                )
                for customer_id in batch
            )
        done = start + len(batch)
        ctx.progress(done / total, f"{done} of {total} customers")
    ctx.log("done")


@job("15 3 * * *", description="Deletes finished job runs older than JOB_RUN_RETENTION.")
async def purge_job_runs(ctx: JobContext) -> None:
    cutoff = ctx.clock.now() - ctx.settings.JOB_RUN_RETENTION
    async with ctx.session() as session:
        result = await session.execute(
            delete(JobRun).where(JobRun.finished_at.is_not(None), JobRun.finished_at < cutoff)
        )
    ctx.log(
        f"deleted {getattr(result, 'rowcount', 0)} runs finished before {cutoff:%Y-%m-%d %H:%M} UTC"
    )
