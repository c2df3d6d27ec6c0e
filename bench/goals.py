"""One goal's outcome: what was measured, against which threshold, met or missed.

Every benchmark turns its checks into `Goal` records and ends with `conclude()`, which prints
nothing itself: it records the goals for the run's summary (`python -m bench`, see
bench/summary.py) and returns the benchmark's one-line verdict.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from bench.stats import verdict

Comparison = Literal["<=", ">=", "=="]
# Figures in these units are measurements; in any other ("" for most) they are counts.
MEASURES = frozenset({"ms", "ns", "s", "MiB", "KiB", "x", "req/s"})
MISSED_BY = {"<=": ">", ">=": "<", "==": "!="}


@dataclass(frozen=True)
class Goal:
    """`figure` measured on `case` of `benchmark`, held to `comparison` `goal` in `unit`.

    A figure that could not be measured (NaN) misses its goal; so does a benchmark that crashed
    (`error` set), which stands for the goals it never reached.
    """

    benchmark: str
    case: str  # where: the backend and the page, the process count, ... ("" when only one)
    name: str  # what, in words: "p95", "SQL statements", "slowest round"
    figure: float
    unit: str
    comparison: Comparison
    goal: float
    error: str | None = None

    @property
    def met(self) -> bool:
        if self.error is not None or math.isnan(self.figure):
            return False
        if self.comparison == "<=":
            return self.figure <= self.goal
        if self.comparison == ">=":
            return self.figure >= self.goal
        return self.figure == self.goal

    @property
    def threshold(self) -> str:
        """`<= 100 ms`, `>= 50x`, `= 0`."""
        if self.error is not None:
            return ""
        sign = "=" if self.comparison == "==" else self.comparison
        return f"{sign} {amount(self.goal, self.unit)}"

    @property
    def measured(self) -> str:
        return "crashed" if self.error is not None else amount(self.figure, self.unit)

    @property
    def shortfall(self) -> str:
        """Why it missed, as the verdict line says it: `p95 120 ms > 100 ms`."""
        if self.error is not None:
            return f"crashed: {self.error}"
        missed_by = MISSED_BY[self.comparison]
        return f"{self.name} {self.measured} {missed_by} {amount(self.goal, self.unit)}"

    @classmethod
    def crashed(cls, benchmark: str, error: BaseException) -> Goal:
        """A benchmark that raised: its goals are unknown, so this one stands for all of them."""
        summary = traceback.format_exception_only(error)[-1].strip()
        return cls(benchmark, "", "runs to the end", math.nan, "", "==", math.nan, summary)


def amount(value: float, unit: str) -> str:
    """A figure with its unit: three significant digits (at most three decimals) for measures,
    whole numbers for counts."""
    if math.isnan(value):
        return "-"
    if unit in MEASURES and value != 0 and not float(value).is_integer():
        digits = min(max(0, 2 - math.floor(math.log10(abs(value)))), 3)
        number = f"{value:,.{digits}f}"
        number = number.rstrip("0").rstrip(".") if "." in number else number
    else:
        number = f"{value:,.0f}"
    if number == "-0":
        number = "0"
    if unit == "x":
        return f"{number}x"
    return f"{number} {unit}" if unit else number


def shortfalls(goals: Iterable[Goal]) -> list[str]:
    """What a case's table row says when it fails: empty when every goal is met."""
    return [goal.shortfall for goal in goals if not goal.met]


# The goals reported in this process, in order: `python -m bench` reads them after each benchmark.
RECORDED: list[Goal] = []


def conclude(benchmark: str, goals: Sequence[Goal], what: str) -> str:
    """Records `goals` for the run's summary; the verdict line, one check per case."""
    RECORDED.extend(goals)
    cases: dict[str, list[Goal]] = {}
    for goal in goals:
        cases.setdefault(goal.case, []).append(goal)
    failing = [
        f"{case} ({'; '.join(reasons)})" if case else "; ".join(reasons)
        for case, reasons in ((case, shortfalls(found)) for case, found in cases.items())
        if reasons
    ]
    return verdict(benchmark, len(cases) - len(failing), len(cases), what, failing)
