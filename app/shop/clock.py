"""The demo shop's fixed clock: every generated date counts back from one reference day.

Seeded data never reads the wall clock, so two databases seeded apart in time hold the same rows.
"""

from __future__ import annotations

import datetime as dt

REFERENCE_DAY = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
OPENING_DAY = dt.datetime(2023, 11, 1, tzinfo=dt.UTC)

DAY = 86_400
HOUR = 3_600

REFERENCE_TS = int(REFERENCE_DAY.timestamp())
OPENING_TS = int(OPENING_DAY.timestamp())

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DATE = dt.date(1970, 1, 1)


def moment(timestamp: int) -> dt.datetime:
    """A UTC datetime from POSIX seconds (the generators count in plain ints: cheaper)."""
    return _EPOCH + dt.timedelta(seconds=timestamp)


def day_of(timestamp: int) -> dt.date:
    return _EPOCH_DATE + dt.timedelta(days=timestamp // DAY)
