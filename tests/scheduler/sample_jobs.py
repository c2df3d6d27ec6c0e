"""Jobs for the jobs pages' tests: quick, slow with progress, failing, and one that waits.

Their schedules fire once a year, so only "Run now" starts them during a test.
"""

from __future__ import annotations

import asyncio

from app.scheduler import JobContext, job

YEARLY = "0 4 1 1 *"
SLOW_STEPS = 8
SLOW_STEP_S = 0.4


@job(YEARLY, description="Logs a line and succeeds.")
async def quick(ctx: JobContext) -> None:
    ctx.log("quick job ran")
    ctx.progress(1.0, "all done")


@job(YEARLY, description="Takes a few seconds, reporting progress on the way.")
async def slow(ctx: JobContext) -> None:
    for step in range(1, SLOW_STEPS + 1):
        await asyncio.sleep(SLOW_STEP_S)
        ctx.log(f"step {step}")
        ctx.progress(step / SLOW_STEPS, f"step {step} of {SLOW_STEPS}")


@job(YEARLY, description="Logs, then fails.")
def broken(ctx: JobContext) -> None:
    ctx.log("about to divide the stock")
    raise ZeroDivisionError("stock divided by zero shelves")


@job(YEARLY, description="Waits until cancelled.")
async def waits(ctx: JobContext) -> None:
    ctx.progress(0.1, "waiting")
    await asyncio.sleep(600)
