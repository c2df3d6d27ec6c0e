"""`python -m bench [NAME ...]`: run every benchmark, or the named ones, one after another, then
one table of every goal they checked, also written as JSON to var/bench/results.json."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.goals import RECORDED, Goal
from bench.summary import RESULTS, Finished, Run, report, write_results

# One module per benchmark, each with `main(argv) -> int`; add new ones here.
BENCHMARKS = (
    "admin_list",
    "auth_overhead",
    "dashboard",
    "drilldown",
    "exports",
    "imports",
    "metrics",
    "notifications",
    "scheduler",
    "search",
    "settings",
    "sockets_scale",
    "throughput",
)


def run_benchmark(name: str) -> Finished:
    """`bench.<name>.main([])` and the goals it reported; a crash misses them, the run goes on."""
    before = len(RECORDED)
    try:
        status = importlib.import_module(f"bench.{name}").main([])
    except Exception as exc:
        traceback.print_exc()
        print(f"{name}: CRASHED, its goals count as missed", file=sys.stderr, flush=True)
        return Finished(name, 1, [*RECORDED[before:], Goal.crashed(name, exc)])
    return Finished(name, status, RECORDED[before:])


def main(argv: Sequence[str], results: Path = RESULTS) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"one of {', '.join(BENCHMARKS)}; all by default"
    )
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark {unknown[0]!r}: expected one of {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    run = Run.begin()
    for name in names:
        run.benchmarks.append(run_benchmark(name))
    run.end()
    write_results(run, results)
    print(report(run, results))
    return run.status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
