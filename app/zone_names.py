"""The time zones a person may name: the zone database's places (docs/reference.md, "Time zones
and locale"), the one list behind `TIMEZONE`, each user's zone and each job's."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

# Files in the zone database that are no place: `localtime` is whatever this machine is set to,
# `Factory` a placeholder whose clocks read "-00", `posixrules` the rule POSIX TZ strings borrow.
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every IANA place name this machine's zone database has (the list a picker offers)."""
    return frozenset(zoneinfo.available_timezones()) - NOT_PLACES
