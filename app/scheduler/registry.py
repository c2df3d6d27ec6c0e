"""Declaring jobs in code: `@job("0 7 * * *", ...)` on a function in `app/jobs.py`."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from app.errors import BadInput
from app.scheduler.schedules import InvalidSchedule, parse, zone

OVERLAP_POLICIES = ("skip", "queue", "allow")
MISFIRE_POLICIES = ("run_once", "skip")
NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")
JOB_MARK = "__scheduled_job__"
# Modules of Starboard's own jobs (exports and imports run on request), loaded beside JOBS_MODULE.
BUILT_IN_JOBS: tuple[str, ...] = ("app.exports.jobs", "app.imports.job")


class JobDeclarationError(BadInput):
    """A job declared in code is wrong; raised at start-up, naming the job."""


@dataclass(frozen=True)
class JobDefinition:
    name: str
    function: Callable[..., Any]
    schedule: str
    description: str = ""
    timezone: str | None = None  # None: the TIMEZONE setting
    timeout: float | None = None  # seconds
    overlap: str = "skip"
    misfire: str = "run_once"
    misfire_grace: float = 60.0  # seconds late that still count as on time
    enabled: bool = True

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)


def job(
    schedule: str,
    *,
    name: str | None = None,
    description: str | None = None,
    timezone: str | None = None,
    timeout: float | None = None,
    overlap: str = "skip",
    misfire: str = "run_once",
    misfire_grace: float = 60.0,
    enabled: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Marks a function (async, or sync to run in a thread) taking a JobContext as a job."""

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        definition = JobDefinition(
            name=name or function.__name__,
            function=function,
            schedule=schedule,
            description=description or inspect.cleandoc(function.__doc__ or "").split("\n")[0],
            timezone=timezone,
            timeout=timeout,
            overlap=overlap,
            misfire=misfire,
            misfire_grace=misfire_grace,
            enabled=enabled,
        )
        setattr(function, JOB_MARK, definition)
        return function

    return mark


def check(definition: JobDefinition, default_timezone: str) -> None:
    where = f"job {definition.name!r}"
    if not NAME.fullmatch(definition.name):
        raise JobDeclarationError(f"{where}: a name is lower_case letters, digits and _")
    try:
        parse(definition.schedule, definition.timezone or default_timezone)
    except InvalidSchedule as exc:
        raise JobDeclarationError(f"{where}: {exc}") from None
    except ValueError as exc:
        raise JobDeclarationError(f"{where}: {exc}") from None
    if definition.overlap not in OVERLAP_POLICIES:
        raise JobDeclarationError(f"{where}: overlap must be one of {', '.join(OVERLAP_POLICIES)}")
    if definition.misfire not in MISFIRE_POLICIES:
        raise JobDeclarationError(f"{where}: misfire must be one of {', '.join(MISFIRE_POLICIES)}")
    if definition.timeout is not None and definition.timeout <= 0:
        raise JobDeclarationError(f"{where}: timeout must be a positive number of seconds")
    if definition.misfire_grace < 0:
        raise JobDeclarationError(f"{where}: misfire_grace must be 0 or more seconds")
    zone(definition.timezone or default_timezone)


def jobs_in(module: ModuleType, default_timezone: str = "UTC") -> dict[str, JobDefinition]:
    """Every function of the module marked with `@job`, checked, by name."""
    found: dict[str, JobDefinition] = {}
    for _, member in inspect.getmembers(module, callable):
        definition = getattr(member, JOB_MARK, None)
        if not isinstance(definition, JobDefinition):
            continue
        if definition.name in found and found[definition.name] is not definition:
            raise JobDeclarationError(f"job {definition.name!r}: declared twice")
        check(definition, default_timezone)
        found[definition.name] = definition
    return dict(sorted(found.items()))


def load_jobs(module_name: str, default_timezone: str = "UTC") -> dict[str, JobDefinition]:
    """The jobs of JOBS_MODULE and Starboard's own (BUILT_IN_JOBS), which it may not redeclare."""
    found = jobs_in(importlib.import_module(module_name), default_timezone)
    for built_in in BUILT_IN_JOBS:
        for name, definition in jobs_in(
            importlib.import_module(built_in), default_timezone
        ).items():
            if found.get(name, definition) is not definition:
                raise JobDeclarationError(f"job {name!r}: the name of one of Starboard's own jobs")
            found[name] = definition
    return dict(sorted(found.items()))
