"""Jobs for CLI and process tests: point JOBS_MODULE at `tests.scheduler.jobs_for_tests`.

The every-second and long jobs are off in code, so a test that does not switch them on sees
no runs from them; the rest fire once a year and run when a test asks.
"""

from __future__ import annotations

import asyncio
import os

from app.scheduler import JobContext, job

MODULE = __name__
NEVER_SOON = "0 0 1 1 *"  # once a year: such jobs run when a test asks
LONG_STEPS = 60
LONG_STEP_S = 0.5
# Where `tick` appends "<scheduled_for> <pid>" per execution: the runs really executed, which
# the job_run rows alone cannot show (their unique key refuses a second row of a fire).
EXECUTIONS_FILE = "TICK_EXECUTIONS_FILE"


@job("* * * * * *", enabled=False, description="Every second, does nothing: counts fires.")
async def tick(ctx: JobContext) -> None:
    ctx.log(f"tick {ctx.scheduled_for:%H:%M:%S}")
    path = os.environ.get(EXECUTIONS_FILE)
    if path:
        line = f"{ctx.scheduled_for.isoformat()} {os.getpid()}\n".encode()
        # One write with O_APPEND: lines from several processes never interleave.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


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
