"""Schedules under hypothesis: generated cron expressions across 2021's real daylight-saving
changes, and arbitrary text through `parse` (docs/reference.md, "Schedules")."""

from __future__ import annotations

import copy
import datetime as dt
import functools
from itertools import pairwise
from zoneinfo import ZoneInfo

from croniter import croniter
from hypothesis import example, given
from hypothesis import strategies as st

from app.scheduler.schedules import InvalidSchedule, Schedule, parse

UTC = dt.UTC
HOUR, MINUTE = dt.timedelta(hours=1), dt.timedelta(minutes=1)
# Each zone's 2021 changes, in UTC: forward, then back (Santiago and Lord Howe: back first).
# Santiago changes at midnight; Lord Howe by 30 minutes.
CHANGES = {
    "UTC": [dt.datetime(2021, 3, 28, 1, tzinfo=UTC)],
    "Europe/Berlin": [
        dt.datetime(2021, 3, 28, 1, tzinfo=UTC),
        dt.datetime(2021, 10, 31, 1, tzinfo=UTC),
    ],
    "America/New_York": [
        dt.datetime(2021, 3, 14, 7, tzinfo=UTC),
        dt.datetime(2021, 11, 7, 6, tzinfo=UTC),
    ],
    "America/Santiago": [
        dt.datetime(2021, 4, 4, 3, tzinfo=UTC),
        dt.datetime(2021, 9, 5, 4, tzinfo=UTC),
    ],
    "Australia/Lord_Howe": [
        dt.datetime(2021, 4, 3, 15, tzinfo=UTC),
        dt.datetime(2021, 10, 2, 15, 30, tzinfo=UTC),
    ],
}
# Field ranges, seconds first; month and weekday also take names.
SECOND, MINUTE_FIELD, HOUR_FIELD = (0, 59, ()), (0, 59, ()), (0, 23, ())
DAY, MONTH, WEEKDAY = (1, 28, ()), (1, 12, ("jan", "mar", "oct", "nov")), (0, 7, ("sun", "sat"))


@st.composite
def cron_field(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...]) -> str:
    """One valid field: `*`, `*/n`, a number or name, `a-b`, `a-b/n`, or a list of these."""

    def part() -> str:
        shape = draw(st.sampled_from(["*", "*/n", "a", "a-b", "a-b/n", "name"]))
        a = draw(st.integers(low, high))
        b = draw(st.integers(a, high))
        n = draw(st.integers(1, high - low + 1))
        if shape == "name" and names:
            return draw(st.sampled_from(names))
        return {"*": "*", "*/n": f"*/{n}", "a-b": f"{a}-{b}", "a-b/n": f"{a}-{b}/{n}"}.get(
            shape, str(a)
        )

    return ",".join(part() for _ in range(draw(st.integers(1, 3))))


@st.composite
def cron_expression(draw: st.DrawFn) -> str:
    """Mostly daily or more often, so a few hours around a change hold several fires."""
    fields = [draw(cron_field(*MINUTE_FIELD)), draw(cron_field(*HOUR_FIELD))]
    calendar = draw(st.booleans())
    fields += [draw(cron_field(*DAY)) if calendar else "*", "*"]
    fields += [draw(cron_field(*WEEKDAY)) if calendar else "*"]
    if draw(st.integers(0, 4)) == 0:  # now and then seconds first, kept sparse
        fields.insert(0, draw(st.sampled_from(["0", "30", "*/20", "0,15"])))
    return " ".join(fields)


def at_fixed_times(expression: str) -> bool:
    """The rule under test, read from docs/reference.md: no `*`, `?` or `/` in minute and hour."""
    minute, hour = expression.split()[-5:-3]
    return not any(mark in minute + hour for mark in "*?/")


def wall(moment: dt.datetime, zone: str) -> dt.datetime:
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None, fold=0)


@functools.lru_cache(maxsize=512)
def walker(expression: str) -> croniter:
    """Expanded once per expression, then copied: expanding is most of croniter's cost."""
    return croniter(
        expression, ret_type=dt.datetime, second_at_beginning=len(expression.split()) == 6
    )


def matches(expression: str, wall_time: dt.datetime) -> bool:
    """Whether croniter names this wall time (the one before it, then its next, is it)."""
    copied = copy.copy(walker(expression))
    copied.set_current(wall_time - dt.timedelta(microseconds=1), force=True)
    return bool(copied.get_next(dt.datetime) == wall_time)


@functools.lru_cache(maxsize=512)
def minutes_and_hours(expression: str) -> tuple[set[int], set[int]]:
    """The minutes and hours a `M H * * *` expression names, from croniter's expansion."""
    minutes, hours = croniter.expand(expression)[0][:2]
    return (
        set(range(60)) if "*" in minutes else set(map(int, minutes)),
        set(range(24)) if "*" in hours else set(map(int, hours)),
    )


def is_jump_forward(moment: dt.datetime, zone: str) -> bool:
    """Whether clocks jump forward at exactly `moment`."""
    before = (moment - dt.timedelta(seconds=1)).astimezone(ZoneInfo(zone)).utcoffset()
    after = moment.astimezone(ZoneInfo(zone)).utcoffset()
    return before is not None and after is not None and after > before


def is_first_occurrence(moment: dt.datetime, zone: str) -> bool:
    first = wall(moment, zone).replace(tzinfo=ZoneInfo(zone), fold=0)
    return first.astimezone(UTC) == moment


def fires_from(schedule: Schedule, start: dt.datetime, span: dt.timedelta) -> list[dt.datetime]:
    """Fires after `start` for `span`, at least two, at most 25."""
    fires: list[dt.datetime] = []
    for fire in schedule.fires_after(start):
        fires.append(fire)
        if len(fires) >= 25 or (len(fires) >= 2 and fire > start + span):
            return fires
    raise AssertionError("unreachable")


def natural_gap(expression: str, first: dt.datetime, last: dt.datetime) -> dt.timedelta:
    """The longest gap between fires of the same schedule in UTC (no clock changes) from the
    wall time `first` to `last`."""
    plain = parse(expression, "UTC")
    fire = plain.latest_at_or_before(first.replace(tzinfo=UTC))
    longest = dt.timedelta(0)
    for following in plain.fires_after(fire):
        longest = max(longest, following - fire)
        if following >= last.replace(tzinfo=UTC):
            return longest
        fire = following
    raise AssertionError("unreachable")


ZONES = st.sampled_from(sorted(CHANGES))


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[str, dt.datetime]:
    zone = draw(ZONES)
    change = draw(st.sampled_from(CHANGES[zone]))
    # Often close to the change: a schedule firing every few seconds must reach it.
    offset = draw(st.one_of(st.integers(-180, 60), st.integers(-10, 5)))
    return zone, change + offset * MINUTE + draw(st.sampled_from([0, 7])) * dt.timedelta(seconds=1)


@given(cron_expression(), near_a_change())
@example("*/15 * * * *", ("Europe/Berlin", CHANGES["Europe/Berlin"][1] - 2 * HOUR))
@example("0 */2 * * *", ("America/Santiago", CHANGES["America/Santiago"][0] - 2 * HOUR))
@example("0 0 * * *", ("America/Santiago", CHANGES["America/Santiago"][1] - 2 * HOUR))
@example("0,45 1,2 * * *", ("Australia/Lord_Howe", CHANGES["Australia/Lord_Howe"][0] - HOUR))
@example("30 2 * * *", ("Australia/Lord_Howe", CHANGES["Australia/Lord_Howe"][1] - HOUR))
def test_fires_rise_strictly_on_named_wall_times_with_no_gap_past_the_natural_one_plus_an_hour(
    expression: str, where: tuple[str, dt.datetime]
) -> None:
    zone, start = where
    try:
        schedule = parse(expression, zone)
    except InvalidSchedule:
        return  # a day-of-month list the weekday does not rescue can still be refused
    fixed = at_fixed_times(expression)
    fires = fires_from(schedule, start, 4 * HOUR)
    assert start < fires[0]
    longest = natural_gap(expression, wall(fires[0], zone), wall(fires[-1], zone))
    for earlier, later in pairwise(fires):
        assert earlier < later, expression
        assert later - earlier <= longest + HOUR, (expression, earlier, later)
        assert schedule.latest_at_or_before(later - dt.timedelta(microseconds=1)) == earlier
        assert schedule.latest_at_or_before(earlier + (later - earlier) / 2) == earlier
    for fire in fires:
        # On a wall time the schedule names; at fixed times, also right after a jump forward.
        on_its_time = matches(expression, wall(fire, zone))
        assert on_its_time or (fixed and is_jump_forward(fire, zone)), (expression, fire)
        if fixed and on_its_time:
            assert is_first_occurrence(fire, zone), (expression, fire)  # a repeated time: once


@given(
    st.lists(cron_field(*MINUTE_FIELD).filter(lambda f: "*" not in f and "/" not in f), max_size=1),
    cron_field(*HOUR_FIELD),
    near_a_change(),
)
def test_minute_by_minute_the_fires_are_exactly_what_debian_crons_rule_names(
    minute: list[str], hour: str, where: tuple[str, dt.datetime]
) -> None:
    """Every real minute of four hours around a change, judged on its own: it fires if its wall
    time matches, at fixed times only its first occurrence, and at fixed times the end of a jump
    forward fires if a skipped wall time matched."""
    zone, start = where
    start = start.replace(second=0)
    expression = f"{minute[0] if minute else '*/7'} {hour} * * *"
    schedule = parse(expression, zone)
    fixed = at_fixed_times(expression)
    minutes, hours = minutes_and_hours(expression)

    def on_its_time(wall_time: dt.datetime) -> bool:
        return wall_time.minute in minutes and wall_time.hour in hours

    expected, moment = [], start + MINUTE
    while moment <= start + 4 * HOUR:
        fires = on_its_time(wall(moment, zone)) and (not fixed or is_first_occurrence(moment, zone))
        if fixed and is_jump_forward(moment, zone):
            skipped = wall(moment - dt.timedelta(seconds=1), zone) + dt.timedelta(seconds=1)
            while skipped < wall(moment, zone):
                fires = fires or on_its_time(skipped)
                skipped += MINUTE
        if fires:
            expected.append(moment)
        moment += MINUTE
    actual = []
    for fire in schedule.fires_after(start):
        if fire > start + 4 * HOUR:
            break
        actual.append(fire)
    assert actual == expected, expression


ACCEPTED_WORDS = [
    "*",
    "?",
    "/",
    "-",
    ",",
    "0",
    "7",
    "59",
    "60",
    "99999999999999999999",
    "jan",
    "sun",
    "every",
    "5m",
    "30s",
    "h",
    "²",
    "\u0661",  # ARABIC-INDIC DIGIT ONE
]
SEPARATORS = [" ", "  ", "\t", "\n", "\x00", "\u3000", "\ud800", ""]


@st.composite
def cron_like_text(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(ACCEPTED_WORDS), max_size=12))
    return "".join(word + draw(st.sampled_from(SEPARATORS)) for word in words)


ANY_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=())),  # with lone surrogates and NUL
    cron_like_text(),
    st.text(st.sampled_from("0123456789*/-, "), min_size=300, max_size=400),
)


@given(ANY_TEXT, ZONES)
@example("\x00", "UTC")
@example("\ud800 * * * *", "UTC")
@example("² * * * *", "UTC")
@example("*/² * * * *", "UTC")
@example("9" * 400, "UTC")
@example("every 99999999999999999999s", "UTC")
@example("*/99999999999999999999 * * * *", "Europe/Berlin")
@example("0 0 30 2 *", "UTC")
def test_any_text_is_a_schedule_with_a_next_fire_or_an_invalid_schedule(
    text: str, zone: str
) -> None:
    moment = dt.datetime(2021, 10, 31, 0, 30, tzinfo=UTC)
    try:
        schedule = parse(text, zone)
    except InvalidSchedule as refused:
        assert str(refused).startswith("invalid schedule ")
        assert refused.field == "schedule"
        return
    assert schedule.next_after(moment) > moment
    assert isinstance(schedule.describe, str)
