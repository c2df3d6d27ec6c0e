"""`python -m bench [NAME ...]`: run every benchmark, or the named ones, one after another."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# One module per benchmark, each with `main(argv) -> int`; add new ones here.
BENCHMARKS = (
    "admin_list",
    "auth_overhead",
    "dashboard",
    "drilldown",
    "metrics",
    "notifications",
    "scheduler",
    "search",
    "settings",
)


def main(argv: Sequence[str]) -> int:
    names = list(argv) or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark {unknown[0]!r}: expected one of {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    status = 0
    for name in names:
        status = max(status, importlib.import_module(f"bench.{name}").main([]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
