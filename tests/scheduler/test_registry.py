"""Declaring jobs with @job: what the registry finds, and declaration errors naming the job."""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.main import create_app
from app.scheduler import JobContext, job
from app.scheduler.registry import JobDeclarationError, jobs_in, load_jobs
from tests.conftest import make_config
from tests.scheduler import never_firing_jobs, runner_jobs


def module_with(*functions: Callable[..., Any]) -> types.ModuleType:
    module = types.ModuleType("declared")
    for function in functions:
        setattr(module, function.__name__, function)
    return module


def test_jobs_are_found_by_name_with_their_options() -> None:
    found = load_jobs("tests.scheduler.runner_jobs", "Europe/Paris")
    assert "tick" in found and list(found) == sorted(found)
    tick = found["tick"]
    assert (tick.schedule, tick.description, tick.overlap) == (
        "every 1s",
        "Ticks every second.",
        "skip",
    )
    assert found["blocking"].is_async is False
    assert found["tick"].is_async is True
    # The first line of the docstring is the description when none is given.
    assert found["blocking"].description.startswith("A sync job: runs in a worker thread")
    assert found["too_slow"].timeout == 0.3
    assert found["yearly_skip"].misfire == "skip"
    # Helpers in the module that are not jobs are ignored.
    assert "record" not in found


def test_a_decorated_function_is_still_the_function() -> None:
    assert runner_jobs.tick.__name__ == "tick"


def test_the_demo_jobs_declare_cleanly() -> None:
    assert {"low_stock_report", "refresh_customer_stats", "purge_job_runs"} <= set(
        load_jobs("app.jobs")
    )


def declared(**options: Any) -> types.ModuleType:
    schedule = options.pop("schedule", "every 5m")

    @job(schedule, **options)
    async def nightly_report(ctx: JobContext) -> None:
        return None

    return module_with(nightly_report)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "Nightly-Report"}, "job 'Nightly-Report': a name is lower_case letters"),
        ({"name": "9lives"}, "job '9lives': a name is lower_case letters"),
        (
            {"schedule": "61 * * * *"},
            "job 'nightly_report': invalid schedule '61 * * * *': minute must be 0-59",
        ),
        ({"schedule": "every 3d"}, "job 'nightly_report': invalid schedule 'every 3d'"),
        (
            {"schedule": "0 0 30 2 *"},
            "job 'nightly_report': invalid schedule '0 0 30 2 *': never fires: day of month 30",
        ),
        ({"timezone": "Europe/Atlantis"}, "job 'nightly_report': timezone 'Europe/Atlantis'"),
        ({"overlap": "wait"}, "job 'nightly_report': overlap must be one of skip, queue, allow"),
        ({"misfire": "all"}, "job 'nightly_report': misfire must be one of run_once, skip"),
        ({"timeout": 0}, "job 'nightly_report': timeout must be a positive number of seconds"),
        ({"misfire_grace": -1}, "job 'nightly_report': misfire_grace must be 0 or more seconds"),
    ],
)
def test_a_bad_declaration_names_the_job_and_the_problem(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(JobDeclarationError) as raised:
        jobs_in(declared(**options))
    assert str(raised.value).startswith(message), str(raised.value)


def test_two_jobs_with_one_name_are_refused() -> None:
    @job("every 1m", name="report")
    async def first(ctx: JobContext) -> None:
        return None

    @job("every 5m", name="report")
    async def second(ctx: JobContext) -> None:
        return None

    with pytest.raises(JobDeclarationError, match="job 'report': declared twice"):
        jobs_in(module_with(first, second))


def test_the_default_timezone_is_checked_for_jobs_without_one() -> None:
    with pytest.raises(JobDeclarationError, match="job 'nightly_report': timezone 'Nowhere'"):
        jobs_in(declared(), default_timezone="Nowhere")


def test_a_job_declared_with_a_schedule_that_never_fires_stops_the_app(tmp_path: Path) -> None:
    config = make_config(
        f"sqlite+aiosqlite:///{tmp_path / 'never_opened.db'}",
        jobs_module=never_firing_jobs.MODULE,
    )

    with pytest.raises(JobDeclarationError) as raised:
        create_app(config)

    assert str(raised.value) == (
        "job 'february_30_report': invalid schedule '0 0 30 2 *': "
        "never fires: day of month 30 never falls in month 2"
    )
