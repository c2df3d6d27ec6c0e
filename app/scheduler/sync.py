"""Code → `scheduled_job` rows at start-up: new jobs appear, removed ones are kept as orphans,
and fields an operator edited in the browser keep the operator's value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.jobs import ScheduledJob
from app.scheduler.registry import JobDefinition

# The fields code declares and operators may edit.
EDITABLE = ("schedule", "timezone", "enabled", "timeout_s", "overlap", "misfire", "misfire_grace_s")


def code_values(definition: JobDefinition, default_timezone: str) -> dict[str, Any]:
    return {
        "description": definition.description,
        "schedule": definition.schedule,
        "timezone": definition.timezone or default_timezone,
        "enabled": definition.enabled,
        "timeout_s": definition.timeout,
        "overlap": definition.overlap,
        "misfire": definition.misfire,
        "misfire_grace_s": definition.misfire_grace,
    }


async def sync_jobs(
    session: AsyncSession, definitions: Mapping[str, JobDefinition], default_timezone: str
) -> None:
    """Runs in the caller's transaction; safe when several processes start at once."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = {row.name: row for row in (await session.scalars(select(ScheduledJob))).all()}
    new = []
    for name, definition in definitions.items():
        values = code_values(definition, default_timezone)
        row = rows.get(name)
        if row is None:
            new.append({"name": name, "edited": [], "orphaned": False, **values})
            continue
        kept = set(row.edited or [])
        changes = {k: v for k, v in values.items() if k not in kept and getattr(row, k) != v}
        if row.orphaned:
            changes["orphaned"] = False
        if changes:
            await session.execute(
                update(ScheduledJob)
                .where(ScheduledJob.name == name)
                .values(revision=ScheduledJob.revision + 1, **changes)
            )
    if new:
        # One executemany rather than a statement per job (10,000 jobs on a first start).
        await session.execute(
            insert(ScheduledJob).on_conflict_do_nothing(index_elements=["name"]), new
        )
    gone = [name for name, row in rows.items() if name not in definitions and not row.orphaned]
    if gone:
        await session.execute(
            update(ScheduledJob)
            .where(ScheduledJob.name.in_(gone))
            .values(orphaned=True, enabled=False, revision=ScheduledJob.revision + 1)
        )
