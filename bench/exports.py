"""A big export as the export_list job writes it: every order of the 1M-order bench database to
CSV, on SQLite and on PostgreSQL, in this process (the job's own code, `write_list_export`, as
a superuser, the list's default sort), timed and with the process's memory watched.

Memory: the process's resident set, sampled from /proc/self/statm every 50 ms in a thread while
the export runs; growth is the peak during the export minus the resident set just before it
(the views and the app's modules already loaded). Time: wall clock, and the process's CPU time.

    python -m bench.exports [--backend sqlite|postgres|both] [--format csv|json|xlsx]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.auth.current import CurrentUser
from app.db import create_engine, create_session_factory
from app.exports.files import ExportFiles, use_exports_dir
from app.exports.jobs import ListExport, views_by_key, write_list_export
from bench.admin_list import server_version
from bench.backends import on_each_backend
from bench.dataset import BenchConfigError, order_count
from bench.goals import Goal, conclude
from bench.stats import load_average, table

SECONDS_GOAL = 60.0
GROWTH_GOAL_MIB = 64.0
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Outcome:
    rows: int
    seconds: float
    cpu_seconds: float
    growth_mib: float
    file_mib: float


class ResidentSet:
    """The process's resident set size, sampled in a thread; the highest seen."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.peak = self.now()
        self._stop = threading.Event()

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE

    @contextmanager
    def watching(self) -> Iterator[ResidentSet]:
        def sample() -> None:
            while not self._stop.wait(self.every):
                self.peak = max(self.peak, self.now())

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.peak = max(self.peak, self.now())


async def export_orders(url: str, fmt: str) -> tuple[str, list[Outcome]]:
    engine = create_engine(url)
    try:
        sessions = create_session_factory(engine)
        view = views_by_key()["order"]  # built before the baseline: every process has them
        with tempfile.TemporaryDirectory(prefix="bench-exports-") as folder:
            use_exports_dir(Path(folder))
            files = ExportFiles(Path(folder))
            name = files.new_name("order", fmt, dt.datetime.now(dt.UTC))
            cpu_before = cpu_seconds()
            baseline = ResidentSet.now()
            started = time.perf_counter()
            with ResidentSet().watching() as memory:
                async with sessions() as session:
                    rows = await write_list_export(
                        session,
                        view,
                        CurrentUser(0, "bench", is_superuser=True),
                        ListExport(query="", fields=[], format=fmt, file=name),
                        lambda line: None,
                        lambda fraction, message: None,
                    )
            seconds = time.perf_counter() - started
            size = (Path(folder) / name).stat().st_size
        outcome = Outcome(
            rows=rows,
            seconds=seconds,
            cpu_seconds=cpu_seconds() - cpu_before,
            growth_mib=(memory.peak - baseline) / 2**20,
            file_mib=size / 2**20,
        )
        return await server_version(engine), [outcome]
    finally:
        await engine.dispose()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report(title: str, outcomes: list[Outcome]) -> str:
    rows = [
        [
            f"{o.rows:,}",
            f"{o.seconds:.1f} s",
            f"{o.cpu_seconds:.1f} s",
            f"{o.seconds / max(o.rows, 1) * 1e6:.1f} us",
            f"{o.growth_mib:.1f} MiB",
            f"{o.file_mib:.0f} MiB",
        ]
        for o in outcomes
    ]
    headers = ["rows", "wall", "CPU", "per row", "RSS growth", "file"]
    return f"{title}\n{table(headers, rows, labels=0)}\nload average after: {load_average()}"


def goals(results: dict[str, list[Outcome]], orders: int, fmt: str) -> list[Goal]:
    found = []
    for backend, outcomes in results.items():
        for o in outcomes:
            case = f"{backend}, {orders:,} orders to {fmt.upper()}"
            found += [
                Goal("exports", case, "rows written", o.rows, "", "==", orders),
                Goal("exports", case, "wall time", o.seconds, "s", "<=", SECONDS_GOAL),
                Goal("exports", case, "RSS growth", o.growth_mib, "MiB", "<=", GROWTH_GOAL_MIB),
            ]
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.exports", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--format", choices=("csv", "json", "xlsx"), default="csv")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        orders = order_count()
    except BenchConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    results = on_each_backend(
        "exports",
        args.backend,
        orders,
        lambda url: export_orders(url, args.format),
        report,
    )
    print(
        conclude(
            "exports", goals(results, orders, args.format), "backends exported in time and memory"
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
