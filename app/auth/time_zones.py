"""Each user's time zone: an IANA name checked against the zone database, or None for the site's
`TIMEZONE`. The one way to set it, for the first pages' proposal and the preferences page alike
(docs/reference.md, "Time zones and locale")."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import BadInput
from app.models import User
from app.zone_names import known_zones

FIELD = "time_zone"
LONGEST = 64  # the column's length; the longest IANA name has 32 characters


class UnknownTimeZone(BadInput, ValueError):
    """A name the zone database does not know."""


def check_time_zone(name: object, field: str = FIELD) -> str:
    """The name, trimmed, if the zone database knows it; else UnknownTimeZone naming `field`."""
    text = str(name or "").strip()
    # Only listed places: ZoneInfo would also open paths, `localtime` and the like.
    if text not in known_zones():
        shown = repr(text[:LONGEST]) if text else "nothing"
        raise UnknownTimeZone(
            f"{field}: {shown} is not a time zone; expected an IANA name like Europe/Paris "
            "or America/New_York",
            field=field,
        )
    return text


async def store_time_zone(session: AsyncSession, user_id: int, name: object) -> str:
    """Checks the name and stores it as the user's zone in the caller's transaction (their next
    page shows it); returns the name stored. UnknownTimeZone, with nothing written, otherwise."""
    zone = check_time_zone(name)
    await session.execute(update(User).where(User.id == user_id).values(time_zone=zone))
    return zone
