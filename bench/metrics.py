"""What /metrics costs each request: the app as deployed against the same app built without
metrics (`Config.metrics` off: no middleware, no statement counting), in the same run.

Migrates and seeds a small SQLite database in a temporary directory and builds both apps on it
with `create_app`. Times the same requests on both, server-side and in-process, interleaved
request by request: `/healthz` (one statement), a static file (none) and a signed-in admin list
page (four). The goal is on the median of back-to-back differences in this process's CPU time,
which neither the drift nor the other processes of a busy machine add to (wall-clock pairs of
10 ms requests wander by more than the 0.1 ms sought); the wall-clock pairs, p50/p95/p99 of
each side and their ratio are shown beside it. Then
the parts alone: the middleware around an app that does nothing, one request's figures
recorded, and one scrape of /metrics.

    python -m bench.metrics [--repeats N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.types import Message, Receive, Scope, Send

from app.config import Config
from app.main import create_app
from app.metrics import Metrics, MetricsMiddleware
from app.statement_log import StatementLog
from bench.client import Side, in_process_client, running, sign_in, timed_get
from bench.dataset import prepare
from bench.goals import Goal, conclude, shortfalls
from bench.stats import (
    Samples,
    Stopwatch,
    count,
    load_average,
    ms,
    percentile,
    ratio,
    table,
)

ORDERS = 300  # what is measured does not grow with the tables
WARMUP = 20
# The cost sought is tens of microseconds on requests of 0.3 to 10 ms: 2,000 pairs hold the
# median difference within a few microseconds between runs on this machine.
REPEATS = 2000
PART_REPEATS = 20_000
SCRAPES = 200
GOAL_MS = 0.1


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    params: dict[str, str | int] = field(default_factory=dict)
    signed_in: bool = False
    repeats_share: float = 1.0  # of --repeats: the list page takes ten times longer


CASES = (
    Case("/healthz", "/healthz"),
    Case("static file", "/static/starboard.css"),
    Case("tag list", "/admin/tag/list", {"page_size": 10}, signed_in=True, repeats_share=0.5),
)


@dataclass
class Comparison:
    """One request timed on the app with metrics ("measured") and without ("plain")."""

    case: Case
    measured: Samples = field(default_factory=Samples)
    plain: Samples = field(default_factory=Samples)
    measured_cpu: list[float] = field(default_factory=list)
    plain_cpu: list[float] = field(default_factory=list)
    measured_sql: set[int] = field(default_factory=set)
    plain_sql: set[int] = field(default_factory=set)

    @property
    def paired_ms(self) -> float:
        """Median of (measured - plain) over requests sent back to back: drift cancels out."""
        pairs = zip(self.measured.durations, self.plain.durations, strict=True)
        return percentile([measured - plain for measured, plain in pairs], 50) * 1000

    @property
    def paired_cpu_ms(self) -> float:
        """The same on this process's CPU time: what metrics themselves spend."""
        pairs = zip(self.measured_cpu, self.plain_cpu, strict=True)
        return percentile([measured - plain for measured, plain in pairs], 50) * 1000

    def goals(self) -> list[Goal]:
        case = self.case.name
        added = max(self.measured_sql, default=0) - max(self.plain_sql, default=0)
        return [
            Goal(
                "metrics",
                case,
                "overhead per request",
                self.paired_cpu_ms * 1000,
                "us",
                "<=",
                GOAL_MS * 1000,
            ),
            Goal("metrics", case, "SQL statements added", added, "", "==", 0),
        ]

    def failures(self) -> list[str]:
        return shortfalls(self.goals())


async def compare(case: Case, measured: Side, plain: Side, repeats: int) -> Comparison:
    outcome = Comparison(case)

    async def once(side: Side, record: bool) -> None:
        timing = await timed_get(side.client, side.log, case.path, case.params)
        if record:
            mine = side is measured
            (outcome.measured if mine else outcome.plain).add(timing.seconds)
            (outcome.measured_cpu if mine else outcome.plain_cpu).append(timing.cpu_seconds)
            (outcome.measured_sql if mine else outcome.plain_sql).add(timing.statements)

    for _ in range(WARMUP):
        await once(measured, record=False)
        await once(plain, record=False)
    for i in range(max(1, int(repeats * case.repeats_share))):
        # Alternate who goes first so neither always runs on a cache the other just warmed.
        first, second = (measured, plain) if i % 2 == 0 else (plain, measured)
        await once(first, record=True)
        await once(second, record=True)
    return outcome


# --- the parts alone -----------------------------------------------------------------------


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    return None


@dataclass
class Part:
    name: str
    samples: Samples = field(default_factory=Samples)


async def time_parts(app_with_metrics: Starlette) -> list[Part]:
    """The middleware around an app that answers at once, against that app alone; one
    request's figures recorded; and a scrape of the app's own registry."""
    metrics = Metrics()
    wrapped = MetricsMiddleware(_nothing, metrics)
    bare, around, record = (
        Part("an app that answers at once, alone"),
        Part("  the same inside the metrics middleware"),
        Part("one request's figures recorded (request_served)"),
    )
    router = app_with_metrics.router
    route = next(r for r in router.routes if getattr(r, "path", None) == "/healthz")

    def scope() -> Scope:
        return {
            "type": "http",
            "method": "GET",
            "path": "/healthz",
            "router": router,
            "route": route,
        }

    for i in range(WARMUP + PART_REPEATS):
        keep = i >= WARMUP
        with Stopwatch() as alone:
            await _nothing(scope(), _receive, _send)
        with Stopwatch() as inside:
            await wrapped(scope(), _receive, _send)
        with Stopwatch() as recorded:
            metrics.request_served("/healthz", "GET", 200, 0.001, 1)
        if keep:
            bare.samples.add(alone.seconds)
            around.samples.add(inside.seconds)
            record.samples.add(recorded.seconds)
    return [bare, around, record]


@dataclass
class Results:
    comparisons: list[Comparison]
    parts: list[Part]
    scrape: Samples
    scrape_bytes: int


async def run(url: str, repeats: int) -> Results:
    config = Config(database_url=url, secret_key=Secret("bench-secret"), scheduler="off")
    measured_app = create_app(config)
    plain_app = create_app(dataclasses.replace(config, metrics=False))
    measured_log = StatementLog(measured_app.state.engine)
    plain_log = StatementLog(plain_app.state.engine)
    async with (
        running(measured_app),
        running(plain_app),
        in_process_client(measured_app) as measured_anonymous,
        in_process_client(plain_app) as plain_anonymous,
        in_process_client(measured_app) as measured_signed_in,
        in_process_client(plain_app) as plain_signed_in,
    ):
        await sign_in(measured_signed_in)
        await sign_in(plain_signed_in)
        print(f"  load average before: {load_average()}", flush=True)
        comparisons = []
        for case in CASES:
            print(f"  measuring {case.name} ...", flush=True)
            measured = Side(
                measured_signed_in if case.signed_in else measured_anonymous, measured_log
            )
            plain = Side(plain_signed_in if case.signed_in else plain_anonymous, plain_log)
            comparisons.append(await compare(case, measured, plain, repeats))

        print("  timing the parts alone and the scrape ...", flush=True)
        parts = await time_parts(measured_app)
        scrape = Samples()
        size = 0
        for _ in range(SCRAPES):  # the in-process client's address is 127.0.0.1: let in
            with Stopwatch() as watch:
                response = await measured_anonymous.get("/metrics")
            if response.status_code != 200:
                raise RuntimeError(f"GET /metrics answered HTTP {response.status_code}")
            scrape.add(watch.seconds)
            size = len(response.content)
        print(f"  load average after: {load_average()}", flush=True)
    return Results(comparisons, parts, scrape, size)


# --- the report ----------------------------------------------------------------------------


def sql_counts(counts: set[int]) -> str:
    return "-".join(str(n) for n in sorted(counts)[:: max(1, len(counts) - 1)])


def comparison_table(comparisons: Sequence[Comparison]) -> str:
    headers = [
        "case",
        "metrics p50",
        "p95",
        "p99",
        "SQL",
        "plain p50",
        "p95",
        "p99",
        "SQL",
        "p50 ratio",
        "paired us",
        "paired CPU us",
        "goal",
        "result",
    ]
    rows = [
        [
            c.case.name,
            ms(c.measured.p50, 3),
            ms(c.measured.p95, 3),
            ms(c.measured.p99, 3),
            sql_counts(c.measured_sql),
            ms(c.plain.p50, 3),
            ms(c.plain.p95, 3),
            ms(c.plain.p99, 3),
            sql_counts(c.plain_sql),
            ratio(c.measured.p50, c.plain.p50),
            f"{c.paired_ms * 1000:+.1f}",
            f"{c.paired_cpu_ms * 1000:+.1f}",
            f"<= {GOAL_MS * 1000:.0f} us",
            "FAIL" if c.failures() else "PASS",
        ]
        for c in comparisons
    ]
    return table(headers, rows)


def parts_table(parts: Sequence[Part]) -> str:
    rows = [
        [
            part.name,
            f"{part.samples.p50 * 1000:.1f}",
            f"{part.samples.p95 * 1000:.1f}",
            f"{part.samples.p99 * 1000:.1f}",
        ]
        for part in parts
    ]
    return table(["part", "p50 us", "p95 us", "p99 us"], rows)


def report(results: Results, repeats: int) -> str:
    bare, around, _ = results.parts
    lines = [
        "\nWhat metrics cost each request",
        f"latency in ms, server-side (in-process ASGI, request to full body), up to {repeats}"
        f" requests per variant after {WARMUP} warm-ups, interleaved; metrics = the app as"
        " deployed;\nplain = the same app built with metrics off; SQL = statements per request;"
        " paired = median of back-to-back differences (metrics - plain), in microseconds,"
        " of wall-clock time\nand of this process's CPU time (the goal is on the CPU pairs)",
        "",
        comparison_table(results.comparisons),
        f"\nThe parts alone, {PART_REPEATS} calls each after {WARMUP} warm-ups (microseconds)",
        "",
        parts_table(results.parts),
        f"the middleware's own cost at p50: {(around.samples.p50 - bare.samples.p50) * 1000:.1f}"
        " us",
        f"\nA scrape of /metrics ({results.scrape_bytes:,} bytes), {SCRAPES} times: p50"
        f" {ms(results.scrape.p50, 2)} ms, p95 {ms(results.scrape.p95, 2)} ms",
    ]
    for c in results.comparisons:
        if c.failures():
            lines.append(f"FAIL {c.case.name}: {'; '.join(c.failures())}")
    return "\n".join(lines)


def summary(results: Results) -> str:
    goals = [goal for c in results.comparisons for goal in c.goals()]
    what = f"cases within {GOAL_MS * 1000:.0f} us per request of metrics overhead"
    return conclude("metrics", goals, what)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__)
    parser.add_argument("--repeats", type=count, default=REPEATS, help="timed requests per variant")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="starboard-bench-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'metrics.sqlite'}"
        print(f"metrics on SQLite, {ORDERS} orders in a temporary database", flush=True)
        prepare(url, ORDERS, echo=lambda line: None)  # seeding prints a throwaway password
        results = asyncio.run(run(url, args.repeats))
    print(report(results, args.repeats))
    print("\n" + summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
