"""A jobs module with a job whose schedule never fires: start-up refuses it, naming the job."""

from __future__ import annotations

from app.scheduler import JobContext, job

MODULE = __name__


@job("0 0 30 2 *", description="Due on 30 February, a day that never comes.")
async def february_30_report(ctx: JobContext) -> None:
    return None
