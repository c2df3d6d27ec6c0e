"""Jobs for CLI and process tests: point JOBS_MODULE at `tests.scheduler.jobs_for_tests`.

The every-second and long jobs are off in code, so a test that does not switch them on sees
no runs from them; the rest fire once a year and run when a test asks.
"""

from __future__ import annotations

import asyncio

from app.scheduler import JobContext, job

MODULE = __name__
NEVER_SOON = "0 0 1 1 *"  # once a year: such jobs run when a test asks
LONG_STEPS = 60
LONG_STEP_S = 0.5


@job("* * * * * *", enabled=False, description="Every second, does nothing: counts fires.")
async def tick(ctx: JobContext) -> None:
    ctx.log(f"tick {ctx.scheduled_for:%H:%M:%S}")


@job(NEVER_SOON, description="Succeeds at once, after reading a live setting.")
async def quick(ctx: JobContext) -> None:
    ctx.log(f"threshold {ctx.settings.LOW_STOCK_THRESHOLD}")


@job(NEVER_SOON, description="Always fails.")
def fails(ctx: JobContext) -> None:  # sync on purpose: runs in a thread
    raise RuntimeError("boom on purpose")


@job(
    "every 5s",
    enabled=False,
    misfire="skip",
    description="Runs about 30 s, reporting progress twice a second.",
)
async def long(ctx: JobContext) -> None:
    for step in range(1, LONG_STEPS + 1):
        await asyncio.sleep(LONG_STEP_S)
        ctx.progress(step / LONG_STEPS, f"step {step} of {LONG_STEPS}")
