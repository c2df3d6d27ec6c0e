"""When a job fires: 5-field cron, 6-field cron with seconds first, or `every 30s|5m|2h`.

Cron schedules run on wall time in their time zone, with daylight-saving changes handled as
Debian's cron does (docs/reference.md, "Schedules"). A schedule at fixed times (no `*`, `?` or
step in its minute and hour fields: `30 2 * * *`, `0 9,17 * * *`) runs each time once: a wall
time that does not exist (clocks jump forward) fires at the first instant after the gap; one that
happens twice (clocks go back) fires at its first occurrence. A schedule with a wildcard or step
there (`* * * * *`, `*/15 * * * *`, `0 * * * *`, `0 */2 * * *`) runs by the clock: at every
instant whose wall time matches, so through both passes of a repeated hour and not in a skipped
one. Intervals count from the Unix epoch in UTC, so they are the same in every process and
unaffected by DST.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from app.errors import BadInput
from app.models.jobs import SCHEDULE_LENGTH
from app.typed_values import is_whole_number
from app.zone_names import known_zones

# [0-9], not \d: \d reads other scripts' digits too.
INTERVAL = re.compile(r"every\s+([0-9]+)\s*(s|m|h)", re.IGNORECASE)
INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600}
ACCEPTED = "5-field cron (m h dom mon dow), 6-field cron with seconds first, or every 30s|5m|2h"
# Names croniter accepts in the month and weekday fields.
MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Cron fields repeat with the calendar: the rarest date they can name, 29 February, comes at
# least every 8 years (2096, then 2104). A search that long finds a fire of any schedule that
# has one, and gives up on one that has none (30 February) within a millisecond.
FIRE_SEARCH_YEARS = 8
FIRE_SEARCH_FROM = dt.datetime(2000, 1, 1)  # any start will do: see FIRE_SEARCH_YEARS
TICK = dt.timedelta(microseconds=1)  # from a wall time less a tick, croniter's next includes it


class InvalidSchedule(BadInput, ValueError):
    """Names what is wrong: `invalid schedule '61 * * * *': minute must be 0-59`."""

    def __init__(self, expression: str, reason: str) -> None:
        # Named, not echoed whole: one too long to store is shown by its start.
        shown = expression if len(expression) <= SCHEDULE_LENGTH else expression[:40] + "…"
        super().__init__(f"invalid schedule {shown!r}: {reason}", field="schedule")
        self.expression = expression
        self.reason = reason


def zone(name: str) -> ZoneInfo:
    if name not in known_zones():  # ZoneInfo would also open paths, `localtime` and the like
        raise ValueError(f"timezone {name!r}: expected an IANA name such as UTC or Europe/Paris")
    return ZoneInfo(name)


@dataclass(frozen=True)
class Schedule:
    expression: str
    timezone: str = "UTC"
    interval: dt.timedelta | None = None
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _fixed: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", zone(self.timezone))
        object.__setattr__(
            self, "_fixed", self.interval is None and _at_fixed_times(self.expression)
        )

    @property
    def describe(self) -> str:
        """A sentence for operators: "Every 30 seconds", "At 07:00, Monday through Friday"."""
        if self.interval is not None:
            seconds = int(self.interval.total_seconds())
            for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
                if seconds % size == 0:
                    count = seconds // size
                    return f"Every {count} {unit}{'s' * (count != 1)}"
        # On first use: only pages that describe a schedule need it (60 ms of every start).
        from cron_descriptor import Options, get_description

        options = Options()
        options.use_24hour_time_format = True
        options.verbose = False
        options.throw_exception_on_parse_error = True
        options.second_at_beginning = True
        try:
            return str(get_description(self.expression, options))
        except Exception:
            return self.expression

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first fire strictly after `moment` (an aware datetime), in UTC."""
        return next(self.fires_after(moment))

    def next_fires(self, moment: dt.datetime, count: int) -> list[dt.datetime]:
        fires = self.fires_after(moment)
        return [next(fires) for _ in range(count)]

    def latest_at_or_before(self, moment: dt.datetime) -> dt.datetime:
        """The newest fire not after `moment`: what a process that was down has missed."""
        if self.interval is not None:
            elapsed = moment.astimezone(dt.UTC) - EPOCH
            return EPOCH + self.interval * (elapsed // self.interval)
        moment = moment.astimezone(dt.UTC)
        walker = self._walker(self._wall(moment) + TICK)
        while True:
            wall = walker.get_prev(dt.datetime)
            earlier = [f for f in self._fires_at(wall) if f <= moment]
            if earlier:
                break
            if (gap_end := self._gap_end(wall)) is not None:  # on to the wall time before the gap
                walker.set_current(self._wall(gap_end - TICK) + TICK, force=True)
        latest = max(earlier)
        repeat = self._repeat(moment)
        if repeat is not None and moment >= repeat.change:
            # In the second pass: the first pass ran on to a later wall time than now reads.
            last_of_first = self._walker(repeat.first_pass_end)
            wall = last_of_first.get_prev(dt.datetime)
            latest = max([latest, *(f for f in self._fires_at(wall) if f <= moment)])
        return latest

    def fires_after(self, moment: dt.datetime) -> Iterator[dt.datetime]:
        if moment.tzinfo is None:
            raise ValueError("fires_after needs an aware datetime")
        if self.interval is not None:
            yield from self._interval_fires(moment)
        else:
            fire = moment.astimezone(dt.UTC)
            while True:
                fire = self._cron_next(fire)
                yield fire

    def _interval_fires(self, moment: dt.datetime) -> Iterator[dt.datetime]:
        assert self.interval is not None
        step = self.interval
        elapsed = moment.astimezone(dt.UTC) - EPOCH
        fire = EPOCH + step * (elapsed // step + 1)
        while True:
            yield fire
            fire += step

    def _cron_next(self, moment: dt.datetime) -> dt.datetime:
        """The first fire strictly after `moment` (in UTC): croniter walks naive wall time, and
        each matching wall time is placed on the real clock by _fires_at."""
        wall = self._wall(moment)
        repeat = self._repeat(moment)
        if repeat is not None and self._fixed and moment >= repeat.change:
            # In the second pass: fixed times up to the end of the first pass have run.
            wall = max(wall, repeat.first_pass_end - TICK)
        walker = self._walker(wall)
        while True:
            wall = walker.get_next(dt.datetime)
            later = [f for f in self._fires_at(wall) if f > moment]
            if later:
                break
            if (gap_end := self._gap_end(wall)) is not None:  # on to the wall time after the gap
                walker.set_current(self._wall(gap_end) - TICK, force=True)
        soonest = min(later)
        if repeat is not None and not self._fixed and moment < repeat.change:
            # In the first pass: the clock will read the start of the hour again.
            wall = self._walker(repeat.second_pass_start - TICK).get_next(dt.datetime)
            soonest = min([soonest, *(f for f in self._fires_at(wall) if f > moment)])
        return soonest

    def _walker(self, wall: dt.datetime) -> croniter:
        """croniter from `wall`: get_next gives wall times after it, get_prev before it."""
        walker = copy.copy(_expanded(self.expression))
        walker.set_current(wall, force=True)
        return walker

    def _wall(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self._zone).replace(tzinfo=None, fold=0)

    def _fires_at(self, wall: dt.datetime) -> list[dt.datetime]:
        """The instants a matching wall time fires, in UTC, earliest first.

        Its first occurrence, then for a schedule running by the clock its second one (clocks
        went back). A wall time that does not exist (clocks jumped over it) fires at the end of
        the gap at fixed times, and not at all by the clock.
        """
        gap_end = self._gap_end(wall)
        if gap_end is not None:
            return [gap_end] if self._fixed else []
        first = wall.replace(tzinfo=self._zone, fold=0).astimezone(dt.UTC)
        second = wall.replace(tzinfo=self._zone, fold=1).astimezone(dt.UTC)
        return [first] if self._fixed or second == first else [first, second]

    def _gap_end(self, wall: dt.datetime) -> dt.datetime | None:
        """Where the clock lands after jumping over `wall`; None for a wall time that exists."""
        first = wall.replace(tzinfo=self._zone, fold=0).astimezone(dt.UTC)
        if self._wall(first) == wall:
            return None
        # Inside a gap: fold=1 reads it with the offset before the jump, fold=0 after it.
        before = wall.replace(tzinfo=self._zone, fold=1).astimezone(dt.UTC)
        return self._clock_change(before, first)

    def _repeat(self, moment: dt.datetime) -> Repeat | None:
        """The repeated hour `moment` falls in, if its wall time happens twice."""
        wall = self._wall(moment)
        first = wall.replace(tzinfo=self._zone, fold=0).astimezone(dt.UTC)
        second = wall.replace(tzinfo=self._zone, fold=1).astimezone(dt.UTC)
        if first == second:
            return None
        change = self._clock_change(first, second)
        old_offset = first.astimezone(self._zone).utcoffset()
        assert old_offset is not None
        return Repeat(
            change=change,
            second_pass_start=self._wall(change),
            first_pass_end=(change + old_offset).replace(tzinfo=None),
        )

    def _clock_change(self, before: dt.datetime, after: dt.datetime) -> dt.datetime:
        """The instant the UTC offset changes between `before` and `after` (one change between)."""
        old_offset = before.astimezone(self._zone).utcoffset()
        while after - before > dt.timedelta(seconds=1):
            middle = before + (after - before) / 2
            if middle.astimezone(self._zone).utcoffset() == old_offset:
                before = middle
            else:
                after = middle
        return after.replace(microsecond=0)  # zones change offset on whole seconds


@dataclass(frozen=True)
class Repeat:
    """A repeated hour, when clocks go back: wall times from `second_pass_start` up to
    `first_pass_end` (naive) happen twice, the second time from the UTC instant `change`."""

    change: dt.datetime
    second_pass_start: dt.datetime
    first_pass_end: dt.datetime


def _at_fixed_times(expression: str) -> bool:
    """Whether a cron schedule names fixed times of day: no `*`, `?` or step in its minute and
    hour fields (lists and ranges are fixed). Debian's cron adjusts such jobs around clock
    changes; the others run by the new clock at once."""
    minute, hour = expression.split()[-5:-3]
    return not any(mark in minute + hour for mark in "*?/")


@functools.lru_cache(maxsize=4096)
def _expanded(expression: str) -> croniter:
    """A croniter to copy for each walk: expanding the expression is most of its cost."""
    return croniter(
        expression,
        FIRE_SEARCH_FROM,
        ret_type=dt.datetime,
        second_at_beginning=_has_seconds(expression),
    )


def _has_seconds(expression: str) -> bool:
    return len(expression.split()) == 6


def parse(expression: str, timezone: str = "UTC") -> Schedule:
    """A Schedule that fires, or InvalidSchedule naming the field and what it accepts.

    Every way a schedule comes in (the job form and its preview, `jobs schedule`, `@job`) and
    every stored row read back (pages, `jobs list`, the scheduler) goes through here.
    """
    text = " ".join(expression.split())
    if not text:
        raise InvalidSchedule(expression, f"empty; expected {ACCEPTED}")
    if len(text) > SCHEDULE_LENGTH:  # stored whole or not at all, never cut to fit its column
        raise InvalidSchedule(expression, f"at most {SCHEDULE_LENGTH} characters, got {len(text)}")
    interval = INTERVAL.fullmatch(text)
    if interval:
        amount, unit = int(interval.group(1)), interval.group(2).lower()
        if amount < 1:
            raise InvalidSchedule(expression, "an interval must be at least 1")
        seconds = amount * INTERVAL_UNITS[unit]
        if seconds > 86400:
            raise InvalidSchedule(expression, "an interval must be at most 24h; use cron beyond")
        return Schedule(text.lower(), timezone, dt.timedelta(seconds=seconds))
    if text.lower().startswith("every"):
        raise InvalidSchedule(expression, "an interval is `every N` + s, m or h, e.g. every 5m")
    fields = text.split()
    if len(fields) not in (5, 6):
        raise InvalidSchedule(expression, f"{len(fields)} fields; expected {ACCEPTED}")
    named = FIELDS if len(fields) == 6 else FIELDS[1:]
    for value, (name, low, high) in zip(fields, named, strict=True):
        _check_field(expression, value, name, low, high)
    try:
        fires = _fires_at_all(text)
    except Exception as exc:  # croniter's own errors for what the range check lets through
        raise InvalidSchedule(
            expression, str(exc).split("]")[-1].strip(" ,") or "not valid"
        ) from None
    if not fires:
        day, month = fields[-3], fields[-2]
        raise InvalidSchedule(
            expression, f"never fires: day of month {day} never falls in month {month}"
        )
    return Schedule(text, timezone)


@functools.lru_cache(maxsize=4096)  # once per expression, however many jobs share it
def _fires_at_all(text: str) -> bool:
    """Whether a valid cron expression matches any time at all (30 February does not)."""
    walker = croniter(
        text,
        FIRE_SEARCH_FROM,
        ret_type=dt.datetime,
        max_years_between_matches=FIRE_SEARCH_YEARS,
        second_at_beginning=_has_seconds(text),
    )
    try:
        walker.get_next(dt.datetime)
    except CroniterBadDateError:
        return False
    return True


def _check_field(expression: str, value: str, name: str, low: int, high: int) -> None:
    names = MONTH_NAMES if name == "month" else DAY_NAMES if name == "day of week" else []
    # A step past the field's span names a single fire, not "every N" as it reads.
    span = high - low + 1
    for part in value.lower().split(","):
        body, _, step = part.partition("/")
        if step and (not is_whole_number(step) or not 1 <= int(step) <= span):
            raise InvalidSchedule(
                expression, f"{name} step must be a whole number from 1 to {span}"
            )
        if body in ("*", "?"):
            continue
        bounds = []
        for bound in body.split("-"):
            if bound in names:
                bounds.append(names.index(bound) + (1 if name == "month" else 0))
                continue
            if not is_whole_number(bound):
                raise InvalidSchedule(
                    expression, f"{name} must be {low}-{high}{', a name' if names else ''} or *"
                )
            if not low <= int(bound) <= high:
                raise InvalidSchedule(expression, f"{name} must be {low}-{high}")
            bounds.append(int(bound))
        if len(bounds) == 2 and bounds[0] > bounds[1]:  # croniter reads "5-1" as every value
            raise InvalidSchedule(
                expression, f"{name} range {body} runs backwards: write it low-high"
            )
