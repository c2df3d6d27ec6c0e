"""`python -m bench` ends with one table of every goal and writes the same as JSON.

No real benchmark runs here: stand-in benchmark modules report made-up goals through the same
`conclude()` the real ones call, and one of them crashes.
"""

from __future__ import annotations

import json
import math
import re
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import bench.__main__ as bench_run
from bench.goals import RECORDED, Goal, amount, conclude
from bench.summary import Finished, Run, results_json, summary_table

FIRST_PAGE = Goal("admin_list", "SQLite first page", "p95", 28.64, "ms", "<=", 100.0)
SLOW_SEARCH = Goal("search", "PostgreSQL no match", "p95", 231.0, "ms", "<=", 200.0)
CHEAP_READ = Goal("settings", "read vs redis.Redis", "GET / read", 52.3, "x", ">=", 50.0)
STATEMENTS = Goal("dashboard", "SQLite dashboard", "SQL statements", 11, "", "<=", 10)
UNMEASURED = Goal("scheduler", "1 process", "start delay p99", math.nan, "ms", "<=", 250.0)


@pytest.fixture
def recorded() -> Iterator[list[Goal]]:
    """The goals reported in this process, emptied again after the test."""
    RECORDED.clear()
    yield RECORDED
    RECORDED.clear()


@pytest.fixture
def benchmarks(
    monkeypatch: pytest.MonkeyPatch, recorded: list[Goal]
) -> Callable[[str, Callable[[list[str]], int]], None]:
    """Adds a stand-in `bench.<name>` module with this `main` to the benchmarks `python -m bench`
    knows; only these run."""
    monkeypatch.setattr(bench_run, "BENCHMARKS", ())

    def add(name: str, main: Callable[[list[str]], int]) -> None:
        module = types.ModuleType(f"bench.{name}")
        module.main = main  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"bench.{name}", module)
        monkeypatch.setattr(bench_run, "BENCHMARKS", (*bench_run.BENCHMARKS, name))

    return add


def reports(*goals: Goal, status: int = 0) -> Callable[[list[str]], int]:
    def main(argv: list[str]) -> int:
        print(conclude(goals[0].benchmark, goals, "goals met"))
        return status

    return main


def crashes(argv: list[str]) -> int:
    conclude("notifications", [Goal("notifications", "", "p50", 4.2, "ms", "<=", 20.0)], "met")
    raise RuntimeError("redis-server did not start")


def row(text: str, *cells: str) -> str:
    """The table line holding every one of `cells`, in order."""
    pattern = re.compile(r"\s+".join(re.escape(cell) for cell in cells))
    found = [line for line in text.splitlines() if pattern.search(line)]
    assert len(found) == 1, f"no single row with {cells} in:\n{text}"
    return found[0]


def test_figures_carry_three_significant_digits_their_unit_and_counts_stay_whole() -> None:
    assert amount(28.64, "ms") == "28.6 ms"
    assert amount(0.2849, "ms") == "0.285 ms"
    assert amount(2.261, "s") == "2.26 s"
    assert amount(4.2, "ms") == "4.2 ms"  # no trailing zeros
    assert amount(1234.5, "ms") == "1,234 ms"  # whole milliseconds once past a thousand
    assert amount(950.4, "ns") == "950 ns"
    assert amount(-0.00533, "ms") == "-0.005 ms"  # at most three decimals
    assert amount(-0.0004, "ms") == "0 ms"
    assert amount(52.34, "x") == "52.3x"
    assert amount(1.0, "x") == "1x"
    assert amount(3, "ms") == "3 ms"  # a whole number given as an int
    assert amount(11, "statements") == "11 statements"
    assert amount(0, "fires") == "0 fires"
    assert amount(math.nan, "ms") == "-"


def test_the_summary_shows_each_goal_with_its_figure_threshold_and_result() -> None:
    text = summary_table([FIRST_PAGE, SLOW_SEARCH, CHEAP_READ, STATEMENTS, UNMEASURED])

    assert text.splitlines()[0].split() == [
        "benchmark",
        "case",
        "goal",
        "figure",
        "threshold",
        "result",
    ]
    row(text, "admin_list", "SQLite first page", "p95", "28.6 ms", "<= 100 ms", "met")
    row(text, "search", "PostgreSQL no match", "p95", "231 ms", "<= 200 ms", "MISSED")
    row(text, "settings", "read vs redis.Redis", "GET / read", "52.3x", ">= 50x", "met")
    row(text, "dashboard", "SQL statements", "11", "<= 10", "MISSED")
    # Not measured is not met.
    row(text, "scheduler", "1 process", "start delay p99", "-", "<= 250 ms", "MISSED")


def test_a_missed_goal_says_by_how_much_and_equal_goals_are_met() -> None:
    assert SLOW_SEARCH.shortfall == "p95 231 ms > 200 ms"
    assert Goal("b", "", "ratio", 41.0, "x", ">=", 50.0).shortfall == "ratio 41x < 50x"
    assert Goal("b", "", "fires missed", 2, "", "==", 0).shortfall == "fires missed 2 != 0"
    assert Goal("b", "", "fires missed", 0, "", "==", 0).met
    assert Goal("b", "", "p95", 100.0, "ms", "<=", 100.0).met
    assert Goal("b", "", "ratio", 50.0, "x", ">=", 50.0).met


def test_a_benchmark_concludes_with_its_verdict_per_case_and_its_goals_recorded(
    recorded: list[Goal],
) -> None:
    overhead = Goal("auth_overhead", "tag list", "overhead at p50", 0.4, "ms", "<=", 2.0)
    static = Goal("auth_overhead", "static file", "overhead at p50", 0.1, "ms", "<=", 2.0)
    static_sql = Goal("auth_overhead", "static file", "SQL statements", 1, "", "==", 0)

    line = conclude("auth_overhead", [overhead, static, static_sql], "cases within 2 ms")

    assert line == (
        "auth_overhead: FAIL, 1/2 cases within 2 ms; failing: static file (SQL statements 1 != 0)"
    )
    assert recorded == [overhead, static, static_sql]


def test_the_run_prints_every_goal_and_writes_them_as_json(
    benchmarks: Callable[[str, Callable[[list[str]], int]], None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    benchmarks("admin_list", reports(FIRST_PAGE))
    benchmarks("settings", reports(CHEAP_READ))
    results = tmp_path / "bench" / "results.json"

    assert bench_run.main([], results) == 0

    out = capsys.readouterr().out
    summary = out[out.index("Summary: 2 of 2 goals met") :]
    row(summary, "admin_list", "SQLite first page", "p95", "28.6 ms", "<= 100 ms", "met")
    row(summary, "settings", "read vs redis.Redis", "GET / read", "52.3x", ">= 50x", "met")
    assert f"written to {results}" in summary

    written = json.loads(results.read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", written["date"])
    assert re.fullmatch(r"[0-9a-f]{40}", written["commit"])
    assert isinstance(written["modified"], bool)
    assert len(written["load_average"]["before"]) == 3
    assert len(written["load_average"]["after"]) == 3
    assert written["benchmarks"] == [
        {"name": "admin_list", "exit_status": 0, "crashed": False},
        {"name": "settings", "exit_status": 0, "crashed": False},
    ]
    assert (written["met"], written["missed"]) == (2, 0)
    assert written["goals"] == [
        {
            "benchmark": "admin_list",
            "case": "SQLite first page",
            "name": "p95",
            "figure": 28.64,
            "unit": "ms",
            "comparison": "<=",
            "goal": 100.0,
            "met": True,
            "error": None,
        },
        {
            "benchmark": "settings",
            "case": "read vs redis.Redis",
            "name": "GET / read",
            "figure": 52.3,
            "unit": "x",
            "comparison": ">=",
            "goal": 50.0,
            "met": True,
            "error": None,
        },
    ]
    assert not list(results.parent.glob(".*partial"))


def test_a_figure_not_measured_is_null_in_the_json() -> None:
    run = Run.begin()
    run.benchmarks.append(Finished("scheduler", 1, [UNMEASURED]))

    written = json.loads(json.dumps(results_json(run), allow_nan=False))

    assert written["goals"][0]["figure"] is None
    assert written["goals"][0]["met"] is False
    assert written["load_average"]["after"] is None  # the run has not ended


def test_a_missed_goal_makes_the_run_fail(
    benchmarks: Callable[[str, Callable[[list[str]], int]], None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    benchmarks("admin_list", reports(FIRST_PAGE))
    benchmarks("search", reports(SLOW_SEARCH))

    assert bench_run.main([], tmp_path / "results.json") == 1

    out = capsys.readouterr().out
    assert "Summary: 1 of 2 goals met, 1 missed" in out
    assert "search: FAIL, 0/1 goals met; failing: PostgreSQL no match (p95 231 ms > 200 ms)" in out
    written = json.loads((tmp_path / "results.json").read_text())
    assert [goal["met"] for goal in written["goals"]] == [True, False]


def test_a_crashing_benchmark_is_named_as_missed_and_the_others_still_run(
    benchmarks: Callable[[str, Callable[[list[str]], int]], None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    benchmarks("notifications", crashes)
    benchmarks("settings", reports(CHEAP_READ))

    assert bench_run.main([], tmp_path / "results.json") == 1

    captured = capsys.readouterr()
    assert "RuntimeError: redis-server did not start" in captured.err  # the traceback
    assert "notifications: CRASHED, its goals count as missed" in captured.err
    summary = captured.out[captured.out.index("Summary: 2 of 3 goals met, 1 missed") :]
    row(summary, "notifications", "p50", "4.2 ms", "<= 20 ms", "met")  # reported before
    row(
        summary,
        "notifications",
        "runs to the end",
        "crashed",
        "MISSED",
    )
    assert "notifications crashed: RuntimeError: redis-server did not start" in summary
    row(summary, "settings", "read vs redis.Redis", "GET / read", "52.3x", ">= 50x", "met")

    written = json.loads((tmp_path / "results.json").read_text())
    assert written["benchmarks"] == [
        {"name": "notifications", "exit_status": 1, "crashed": True},
        {"name": "settings", "exit_status": 0, "crashed": False},
    ]
    crash = written["goals"][1]
    assert crash["benchmark"] == "notifications"
    assert crash["error"] == "RuntimeError: redis-server did not start"
    assert (crash["figure"], crash["met"]) == (None, False)


def test_a_benchmark_with_no_goals_is_named_and_its_exit_status_kept(
    benchmarks: Callable[[str, Callable[[list[str]], int]], None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    benchmarks("admin_list", lambda argv: 2)  # e.g. BENCH_ORDERS it cannot run with

    assert bench_run.main([], tmp_path / "results.json") == 2

    out = capsys.readouterr().out
    assert "(no goals reported)" in out
    assert "admin_list: no goals reported (exit status 2)" in out


def test_an_unknown_benchmark_is_refused_with_the_names_it_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.json"

    assert bench_run.main(["admin_list", "metric"], results) == 2

    captured = capsys.readouterr()
    assert captured.err == (
        "unknown benchmark 'metric': expected one of admin_list, auth_overhead, dashboard,"
        " drilldown, exports, imports, metrics, notifications, scheduler, search, settings,"
        " sockets_scale, throughput\n"
    )
    assert captured.out == ""
    assert not results.exists()


def test_help_lists_the_benchmarks_and_an_unknown_option_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as helped:
        bench_run.main(["--help"], tmp_path / "results.json")
    assert helped.value.code == 0
    assert "one of admin_list, auth_overhead," in " ".join(capsys.readouterr().out.split())

    with pytest.raises(SystemExit) as refused:
        bench_run.main(["--fast"], tmp_path / "results.json")
    assert refused.value.code == 2
    assert "unrecognized arguments: --fast" in capsys.readouterr().err
