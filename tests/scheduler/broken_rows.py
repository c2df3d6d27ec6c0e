"""Job rows as SQL or an older release may leave them: written around every check.

Each kind carries the reason the pages, `jobs list` and the `ops` notification give for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Broken:
    schedule: str
    timezone: str
    reason: str


UNPARSABLE = Broken("61 * * * *", "UTC", "invalid schedule '61 * * * *': minute must be 0-59")
NEVER_FIRES = Broken(
    "0 0 30 2 *",
    "UTC",
    "invalid schedule '0 0 30 2 *': never fires: day of month 30 never falls in month 2",
)
UNKNOWN_ZONE = Broken(
    "0 7 * * *",
    "Mars/Olympus_Mons",
    "timezone 'Mars/Olympus_Mons': expected an IANA name such as UTC or Europe/Paris",
)


async def write(session: AsyncSession, job: str, broken: Broken) -> None:
    """Plain SQL on the job's row: no check, no audit, no revision bump, no message. Marked
    edited, as a save from the page would be, so a start's sync from code keeps it."""
    result = await session.execute(
        text(
            "UPDATE scheduled_job SET schedule = :schedule, timezone = :timezone, "
            "edited = :edited WHERE name = :job"
        ),
        {
            "schedule": broken.schedule,
            "timezone": broken.timezone,
            "edited": '["schedule", "timezone"]',
            "job": job,
        },
    )
    assert getattr(result, "rowcount", 1) == 1, f"no row for job {job!r}"
