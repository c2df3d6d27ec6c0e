"""Latency samples, their percentiles, and the plain-text tables every benchmark prints."""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: always a value that was actually measured."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass
class Samples:
    """Durations in seconds of one measured case."""

    durations: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.durations.append(seconds)

    def ms(self, pct: float) -> float:
        return percentile(self.durations, pct) * 1000

    @property
    def p50(self) -> float:
        return self.ms(50)

    @property
    def p95(self) -> float:
        return self.ms(95)

    @property
    def p99(self) -> float:
        return self.ms(99)


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds` (a monotonic, high-resolution clock)
    and `watch.cpu_seconds` (this process's CPU time, every thread: what other processes on a
    busy machine do not add to)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
        self.cpu_seconds = time.process_time() - self._cpu_start


def ms(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def ms_change(value: float) -> str:
    """A difference in milliseconds, always signed: +0.8 costs, -0.3 saves."""
    return "-" if math.isnan(value) else f"{value:+.1f}"


def ratio(numerator: float, denominator: float) -> str:
    if math.isnan(numerator) or math.isnan(denominator) or denominator <= 0:
        return "-"
    return f"{numerator / denominator:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], labels: int = 1) -> str:
    """The first `labels` columns left-aligned, figures right-aligned, a rule under the header."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).ljust(width) if i < labels else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def load_average() -> str:
    # Other work on the machine shows up in p95 first; this says how busy it was.
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def count(text: str) -> int:
    """An argparse type for --repeats and friends: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of at least 1")
    return int(text)


def verdict(bench: str, passed: int, total: int, what: str, failing: Sequence[str]) -> str:
    """The one-line summary each benchmark ends with: PASS/FAIL, how many, and which failed."""
    line = f"{bench}: {'FAIL' if failing else 'PASS'}, {passed}/{total} {what}"
    return line + ("; failing: " + ", ".join(failing) if failing else "")
