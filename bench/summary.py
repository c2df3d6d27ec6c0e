"""The end of `python -m bench`: every goal of the run in one table, and the same as JSON.

The JSON file's shape is described in docs/reference.md ("Benchmarks").
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.dataset import BENCH_DIR, ROOT
from bench.goals import Goal
from bench.stats import table

RESULTS = BENCH_DIR / "results.json"


@dataclass(frozen=True)
class Finished:
    """One benchmark of the run: its exit status (1 when it crashed) and the goals it reported."""

    name: str
    status: int
    goals: list[Goal]

    @property
    def crashed(self) -> bool:
        return any(goal.error is not None for goal in self.goals)


@dataclass
class Run:
    started: dt.datetime
    commit: str | None
    modified: bool | None  # the work tree had changes the commit does not hold
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] | None = None
    benchmarks: list[Finished] = field(default_factory=list)

    @classmethod
    def begin(cls) -> Run:
        started = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return cls(started, git("rev-parse", "HEAD"), changed(), os.getloadavg())

    def end(self) -> None:
        self.load_after = os.getloadavg()

    @property
    def goals(self) -> list[Goal]:
        return [goal for finished in self.benchmarks for goal in finished.goals]

    @property
    def status(self) -> int:
        """0 when every benchmark finished and every goal was met; else the worst exit status."""
        worst = max((finished.status for finished in self.benchmarks), default=0)
        return max(worst, 0 if all(goal.met for goal in self.goals) else 1)


def git(*args: str) -> str | None:
    """What git prints for the checkout, or None outside a git checkout or without git."""
    try:
        found = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return found.stdout.strip()


def changed() -> bool | None:
    status = git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def summary_table(goals: Sequence[Goal]) -> str:
    rows = [
        [
            goal.benchmark,
            goal.case,
            goal.name,
            goal.measured,
            goal.threshold,
            "met" if goal.met else "MISSED",
        ]
        for goal in goals
    ]
    return table(["benchmark", "case", "goal", "figure", "threshold", "result"], rows, labels=3)


def report(run: Run, results: Path) -> str:
    goals = run.goals
    missed = sum(not goal.met for goal in goals)
    lines = [
        f"\nSummary: {len(goals) - missed} of {len(goals)} goals met"
        + (f", {missed} missed" if missed else ""),
        "",
        summary_table(goals) if goals else "(no goals reported)",
    ]
    # The traceback is printed above; a message's first line names the crash.
    lines += [
        f"{goal.benchmark} crashed: {goal.error.splitlines()[0]}" for goal in goals if goal.error
    ]
    # A benchmark skips what it cannot start (PostgreSQL): say so rather than show nothing.
    lines += [
        f"{finished.name}: no goals reported (exit status {finished.status})"
        for finished in run.benchmarks
        if not finished.goals
    ]
    lines.append(f"written to {results}")
    return "\n".join(lines)


def number(value: float) -> float | None:
    """JSON has no NaN: a figure that was not measured is null."""
    return None if math.isnan(value) else value


def loads(average: tuple[float, float, float]) -> list[float]:
    """Over 1, 5 and 15 minutes."""
    return [round(load, 2) for load in average]


def goal_json(goal: Goal) -> dict[str, Any]:
    return {
        "benchmark": goal.benchmark,
        "case": goal.case,
        "name": goal.name,
        "figure": number(goal.figure),
        "unit": goal.unit,
        "comparison": goal.comparison,
        "goal": number(goal.goal),
        "met": goal.met,
        "error": goal.error,
    }


def results_json(run: Run) -> dict[str, Any]:
    goals = run.goals
    return {
        "date": run.started.isoformat(),
        "commit": run.commit or None,
        "modified": run.modified,
        "load_average": {
            "before": loads(run.load_before),
            "after": loads(run.load_after) if run.load_after else None,
            "cpus": os.cpu_count(),
        },
        "benchmarks": [
            {"name": f.name, "exit_status": f.status, "crashed": f.crashed} for f in run.benchmarks
        ],
        "met": sum(goal.met for goal in goals),
        "missed": sum(not goal.met for goal in goals),
        "goals": [goal_json(goal) for goal in goals],
    }


def write_results(run: Run, path: Path) -> None:
    """Replaces `path` whole: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(results_json(run), indent=2, allow_nan=False) + "\n")
    partial.replace(path)
