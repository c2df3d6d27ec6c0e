"""Requests per second one uvicorn worker answers, closed loop: wrk with 8 connections, each
sending its next request as soon as the last one's answer is read, for 10 s a page.

The order list at 25 rows on 1,000,000 orders (SQLite and PostgreSQL), signed in, as a browser
asks for it (gzip accepted, `Sec-Fetch-Site: same-origin`): ours, and a stock
`starlette_admin.contrib.sqla.ModelView(Order)` in the same process, database and sign-in; then a
bare Starlette endpoint in a process of its own, the framework's own limit on this machine.
Goal (docs/reference.md, "Benchmarks"): ours answers at least 8 times as many requests a second
as stock.

    python -m bench.throughput [--backend sqlite|postgres|both] [--seconds N]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.auth import sessions
from app.db import create_engine, create_session_factory
from bench.admin_list import PAGE_SIZE
from bench.backends import on_each_backend
from bench.client import ROW, ensure_superuser, session_cookie
from bench.dataset import BenchConfigError, order_count
from bench.goals import Goal, conclude
from bench.stats import load_average, table
from tests.services import UvicornStarter

CONNECTIONS = 8
THREADS = 2  # wrk's own; the machine has two cores, shared with the server it loads
SECONDS = 10
ANSWER_TIMEOUT_S = 10  # wrk's default, 2 s, would count a slow stock page as an error
GOAL_TIMES_STOCK = 8.0
PAGES = {"ours": "/admin/order/list", "stock": "/stock/order/list"}
# As a browser asks for the admin's own pages: compressed (app/compression.py).
BROWSER = {"Accept-Encoding": "gzip", "Sec-Fetch-Site": "same-origin"}
UVICORN = ("--factory", "--no-access-log", "--log-level", "warning")
LATENCY = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """What wrk saw for one page."""

    name: str
    per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    bytes_each: float  # on the wire, compressed as asked


def wrk(name: str, url: str, headers: dict[str, str], seconds: int) -> Load:
    """A closed loop of CONNECTIONS connections on `url` for `seconds`; every answer must be 2xx."""
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    command += ["--timeout", f"{ANSWER_TIMEOUT_S}s"]
    for header, value in headers.items():
        command += ["-H", f"{header}: {value}"]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    text = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    read = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read", text)
    if "Non-2xx" in text or "Socket errors" in text or rate is None or read is None:
        raise RuntimeError(f"wrk {url}: errors while loading it, or no summary:\n{text}")
    scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[read.group(3)]
    latency = {pct: float(value) * UNITS_MS[unit] for pct, value, unit in LATENCY.findall(text)}
    return Load(
        name,
        float(rate.group(1)),
        latency["50"],
        latency["90"],
        latency["99"],
        float(read.group(2)) * scale / max(int(read.group(1)), 1),
    )


def check_page(base_url: str, path: str, headers: dict[str, str]) -> None:
    """The page answers with its 25 rows, signed in: wrk counts answers, not what is in them."""
    page = httpx.get(
        base_url + path, headers=headers, params={"page_size": PAGE_SIZE}, trust_env=False
    )
    if page.status_code != 200 or len(ROW.findall(page.text)) != PAGE_SIZE:
        raise RuntimeError(f"GET {path}: HTTP {page.status_code}, not a signed-in page of rows")


async def add_bench_user(url: str) -> None:
    engine = create_engine(url)
    try:
        await ensure_superuser(create_session_factory(engine))
    finally:
        await engine.dispose()


def served(app: str, env: dict[str, str], directory: Path) -> UvicornStarter:
    starter = UvicornStarter(directory)
    starter(env, app=app, args=UVICORN)
    return starter


async def measure_backend(url: str, seconds: int) -> tuple[str, list[Load]]:
    """Ours, then stock, served by one uvicorn worker on this database."""
    await add_bench_user(url)
    with tempfile.TemporaryDirectory(prefix="starboard-throughput-") as directory:
        env = {"DATABASE_URL": url, "SCHEDULER": "off", "SECRET_KEY": "bench-secret"}
        starter = await asyncio.to_thread(
            served, "bench.served:ours_and_stock", env, Path(directory)
        )
        try:
            (server,) = starter.started
            cookie = await session_cookie(server.base_url)
            headers = {**BROWSER, "Cookie": f"{sessions.COOKIE}={cookie}"}
            loads = []
            for name, path in PAGES.items():
                check_page(server.base_url, path, headers)
                print(f"  loading {name} {path} for {seconds} s ...", flush=True)
                page = f"{server.base_url}{path}?page_size={PAGE_SIZE}"
                loads.append(await asyncio.to_thread(wrk, name, page, headers, seconds))
        finally:
            starter.stop_all()
    return "SQLite" if url.startswith("sqlite") else "PostgreSQL", loads


def measure_bare(seconds: int) -> Load:
    """A bare Starlette endpoint in a uvicorn worker of its own: the framework's limit here."""
    with tempfile.TemporaryDirectory(prefix="starboard-throughput-") as directory:
        env = {"DATABASE_URL": "sqlite+aiosqlite:///unused.sqlite"}  # never opened
        starter = UvicornStarter(Path(directory))
        server = starter(env, app="bench.served:bare_hello", args=(*UVICORN, "--lifespan", "off"))
        try:
            print(f"  loading bare Starlette / for {seconds} s ...", flush=True)
            return wrk("bare Starlette", f"{server.base_url}/", {}, seconds)
        finally:
            starter.stop_all()


def goals_of(backend: str, loads: Sequence[Load]) -> list[Goal]:
    by_name = {load.name: load for load in loads}
    ours, stock = by_name["ours"], by_name["stock"]
    times = ours.per_second / stock.per_second if stock.per_second else float("nan")
    return [
        Goal(
            "throughput",
            f"{backend} order list",
            "requests/s / stock's",
            times,
            "x",
            ">=",
            GOAL_TIMES_STOCK,
        ),
    ]


def report(title: str, loads: Sequence[Load], bare: Load | None = None) -> str:
    rows = [
        [
            load.name,
            f"{load.per_second:,.1f}",
            f"{load.p50_ms:.1f}",
            f"{load.p90_ms:.1f}",
            f"{load.p99_ms:.1f}",
            f"{load.bytes_each / 1024:,.1f}",
        ]
        for load in [*loads, *([bare] if bare else [])]
    ]
    headers = ["", "requests/s", "p50 ms", "p90 ms", "p99 ms", "KiB each"]
    return f"\n{title}\n{table(headers, rows)}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=SECONDS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        orders = order_count()
    except BenchConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"  load average before: {load_average()}", flush=True)
    results = on_each_backend(
        "throughput",
        args.backend,
        orders,
        lambda url: measure_backend(url, args.seconds),
        lambda title, loads: report(f"{title}: one uvicorn worker, wrk -c{CONNECTIONS}", loads),
    )
    bare = measure_bare(args.seconds)
    print(report("The framework alone, one uvicorn worker", [], bare))
    goals = [goal for backend, loads in results.items() for goal in goals_of(backend, loads)]
    for backend, loads in results.items():
        ours = next(load for load in loads if load.name == "ours")
        share = ours.per_second / bare.per_second
        print(f"{backend}: ours answers {share:.1%} of the bare endpoint's rate")
    print("\n" + conclude("throughput", goals, "backends answer 8x stock's rate"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
