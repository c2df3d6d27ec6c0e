"""Jobs the runner and service tests schedule. Each records what it did in EXECUTIONS.

The rarely-firing ones ("0 3 1 1 *": 03:00 on 1 January) are started with run_now or by a test
that changes their schedule; the every-second ones fire on their own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

from app.scheduler import JobContext, job

RARELY = "0 3 1 1 *"


@dataclass(frozen=True)
class Execution:
    job: str
    run_id: int
    scheduled_for: str  # isoformat, UTC
    thread: str


EXECUTIONS: list[Execution] = []


def record(ctx: JobContext) -> None:
    EXECUTIONS.append(
        Execution(
            ctx.job, ctx.run_id, ctx.scheduled_for.isoformat(), threading.current_thread().name
        )
    )


@job("every 1s", description="Ticks every second.")
async def tick(ctx: JobContext) -> None:
    record(ctx)
    ctx.log("tick")


@job("every 1s", overlap="skip")
async def slow_skip(ctx: JobContext) -> None:
    record(ctx)
    await ctx.clock.sleep(2.5)  # on the scheduler's clock: a test moves it


@job("every 1s", overlap="queue")
async def slow_queue(ctx: JobContext) -> None:
    record(ctx)
    await ctx.clock.sleep(1.5)


@job("every 1s", overlap="allow")
async def slow_allow(ctx: JobContext) -> None:
    record(ctx)
    await ctx.clock.sleep(2.5)


@job(RARELY, description="Runs once a year unless asked.")
async def yearly(ctx: JobContext) -> None:
    record(ctx)


@job(RARELY, misfire="skip")
async def yearly_skip(ctx: JobContext) -> None:
    record(ctx)


@job("every 1h", misfire_grace=7200)
async def hourly_lenient(ctx: JobContext) -> None:
    record(ctx)


@job(RARELY, timeout=0.3)
async def too_slow(ctx: JobContext) -> None:
    record(ctx)
    await asyncio.sleep(30)


@job(RARELY)
async def sleeper(ctx: JobContext) -> None:
    record(ctx)
    ctx.log("going to sleep")
    await asyncio.sleep(30)


@job(RARELY)
async def chatty(ctx: JobContext) -> None:
    record(ctx)
    ctx.progress(0.5, "half way")
    for n in range(2000):
        ctx.log(f"line {n:05d} " + "x" * 60)
    ctx.progress(0.75, "three quarters")
    await asyncio.sleep(0.1)


@job(RARELY)
async def broken(ctx: JobContext) -> None:
    record(ctx)
    raise RuntimeError("the printer is on fire")


# `blocking` sets the first once it holds its thread; the test sets the second once it has seen
# the event loop go on meanwhile.
BLOCKING_BEGUN = threading.Event()
RELEASE_BLOCKING = threading.Event()


@job(RARELY)
def blocking(ctx: JobContext) -> None:
    """A sync job: runs in a worker thread, so this wait does not stall the event loop."""
    record(ctx)
    BLOCKING_BEGUN.set()
    RELEASE_BLOCKING.wait(timeout=10)
    ctx.progress(0.5, "from a thread")
    ctx.log(f"ran in {threading.current_thread().name}")


@job(RARELY)
async def reads_setting(ctx: JobContext) -> None:
    record(ctx)
    ctx.log(f"threshold={ctx.settings.LOW_STOCK_THRESHOLD}")


@job(RARELY, overlap="allow")
async def says_arguments(ctx: JobContext) -> None:
    record(ctx)
    ctx.log(f"{ctx.triggered_by} asked for {dict(ctx.arguments)}")


@job(RARELY)
async def gives_up(ctx: JobContext) -> None:
    """No timeout of its own: the TimeoutError it raises is a failure, not a timeout."""
    record(ctx)
    raise TimeoutError("the upstream API took too long")


# Sync jobs that loop until cancelled: each says when its function has returned (its worker
# thread lives on in the pool) and counts the lines it logged.
RETURNED: dict[str, threading.Event] = {}
LOGGED: dict[str, int] = {}
CLEANING_UP = threading.Event()  # slow_to_stop has been told to stop and is cleaning up
CLEANED_UP = threading.Event()  # set by a test: slow_to_stop may end
LOOP_LIMIT = 2000  # bounded, so a thread that is never told to stop still ends
WAIT_FOR_TEST_S = 10.0


@job(RARELY)
def reports_forever(ctx: JobContext) -> None:
    """A sync job that reports progress and logs until it is cancelled."""
    record(ctx)
    LOGGED[ctx.job] = 0
    try:
        for step in range(LOOP_LIMIT):
            ctx.log(f"step {step}")
            LOGGED[ctx.job] += 1
            ctx.progress(step / LOOP_LIMIT, f"step {step}")
            time.sleep(0.005)
    finally:
        RETURNED[ctx.job].set()


@job(RARELY)
def slow_to_stop(ctx: JobContext) -> None:
    """A sync job whose clean-up, once it is told to stop, takes until a test allows it."""
    record(ctx)
    try:
        for step in range(LOOP_LIMIT):
            ctx.progress(step / LOOP_LIMIT, f"step {step}")
            time.sleep(0.005)
    finally:
        CLEANING_UP.set()
        CLEANED_UP.wait(WAIT_FOR_TEST_S)
        RETURNED[ctx.job].set()


@job(RARELY, timeout=0.3)
def sync_too_slow(ctx: JobContext) -> None:
    """A sync job past its timeout: stops at its next report like a cancelled one."""
    record(ctx)
    try:
        for step in range(LOOP_LIMIT):
            ctx.progress(step / LOOP_LIMIT, f"step {step}")
            time.sleep(0.005)
    finally:
        RETURNED[ctx.job].set()


@job(RARELY)
async def says_much(ctx: JobContext) -> None:
    """Ends on a progress message longer than the column keeps (300 characters)."""
    record(ctx)
    ctx.progress(1.0, "done: " + "x" * 400)


AT_ONCE: dict[str, int] = {}  # runs of a job executing right now, across in-process schedulers
MOST_AT_ONCE: dict[str, int] = {}


@job(RARELY, overlap="queue")
async def brief_queue(ctx: JobContext) -> None:
    """Queued runs take turns: each lasts a moment of real time and counts who runs with it."""
    record(ctx)
    AT_ONCE[ctx.job] = AT_ONCE.get(ctx.job, 0) + 1
    MOST_AT_ONCE[ctx.job] = max(MOST_AT_ONCE.get(ctx.job, 0), AT_ONCE[ctx.job])
    try:
        await asyncio.sleep(0.05)
    finally:
        AT_ONCE[ctx.job] -= 1
