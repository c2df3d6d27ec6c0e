"""Schedules: cron with and without seconds, intervals, sentences, and DST on real zone data."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from app.scheduler.schedules import InvalidSchedule, parse

UTC = dt.UTC
PARIS = "Europe/Paris"  # 2026: clocks jump 02:00→03:00 on 29 March, go back 03:00→02:00 on 25 Oct
# 202 characters, every day of the week last: cut at 200 it would drop Sunday.
TOO_LONG = "0 " + ",".join(str(n) for n in range(60)) + " 1,2,3,4,5,10 * * 1,2,3,4,5,6,0"


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(fires: list[dt.datetime], zone: str = PARIS) -> list[str]:
    return [f.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M:%S%z") for f in fires]


def test_five_field_cron_fires_on_wall_time_in_its_zone() -> None:
    schedule = parse("0 7 * * mon-fri", PARIS)
    assert local(schedule.next_fires(at(2026, 11, 20, 12), 3)) == [
        "11-23 07:00:00+0100",
        "11-24 07:00:00+0100",
        "11-25 07:00:00+0100",
    ]
    assert schedule.describe == "At 07:00, Monday through Friday"


def test_six_field_cron_has_seconds_first() -> None:
    schedule = parse("*/15 * * * * *")
    assert schedule.next_fires(at(2026, 1, 1, 0, 0, 1), 3) == [
        at(2026, 1, 1, 0, 0, 15),
        at(2026, 1, 1, 0, 0, 30),
        at(2026, 1, 1, 0, 0, 45),
    ]
    assert schedule.describe == "Every 15 seconds"


@pytest.mark.parametrize(
    ("expression", "step", "sentence"),
    [
        ("every 30s", 30, "Every 30 seconds"),
        ("every 5m", 300, "Every 5 minutes"),
        ("every 2h", 7200, "Every 2 hours"),
        ("Every  1m", 60, "Every 1 minute"),
    ],
)
def test_intervals_count_from_the_epoch(expression: str, step: int, sentence: str) -> None:
    schedule = parse(expression, PARIS)
    first, second = schedule.next_fires(at(2026, 3, 29, 0, 59, 59), 2)
    assert first.timestamp() % step == 0
    assert (second - first).total_seconds() == step
    assert schedule.describe == sentence


def test_next_fire_is_strictly_after_the_moment() -> None:
    assert parse("0 * * * *").next_after(at(2026, 1, 1, 5)) == at(2026, 1, 1, 6)
    assert parse("every 1h").next_after(at(2026, 1, 1, 5)) == at(2026, 1, 1, 6)


def test_a_wall_time_skipped_by_spring_forward_fires_once_at_the_end_of_the_gap() -> None:
    daily = parse("30 2 * * *", PARIS)
    assert local(daily.next_fires(at(2026, 3, 27, 12), 3)) == [
        "03-28 02:30:00+0100",
        "03-29 03:00:00+0200",  # 02:30 does not exist that night: not lost, not doubled
        "03-30 02:30:00+0200",
    ]
    every_20 = parse("*/20 * * * *", PARIS)
    assert local(every_20.next_fires(at(2026, 3, 29, 0, 30), 4)) == [
        "03-29 01:40:00+0100",
        "03-29 03:00:00+0200",  # a step runs by the clock: 02:00, 02:20, 02:40 never came
        "03-29 03:20:00+0200",
        "03-29 03:40:00+0200",
    ]


def test_a_fixed_time_in_the_repeated_hour_runs_once_and_a_step_runs_by_the_clock() -> None:
    daily = parse("30 2 * * *", PARIS)
    fires = daily.next_fires(at(2026, 10, 24, 12), 2)
    assert local(fires) == ["10-25 02:30:00+0200", "10-26 02:30:00+0100"]
    half_hourly = parse("*/30 * * * *", PARIS)
    assert local(half_hourly.next_fires(at(2026, 10, 24, 23, 10), 7)) == [
        "10-25 01:30:00+0200",
        "10-25 02:00:00+0200",
        "10-25 02:30:00+0200",
        "10-25 02:00:00+0100",  # the clock reads 02:00 again: every 30 minutes goes on
        "10-25 02:30:00+0100",
        "10-25 03:00:00+0100",
        "10-25 03:30:00+0100",
    ]


def test_a_moment_inside_the_repeated_hour_does_not_rerun_its_first_pass() -> None:
    second_pass = at(2026, 10, 25, 1, 10)  # 02:10+01:00, the second 02:10 of the night
    assert local(parse("30 2 * * *", PARIS).next_fires(second_pass, 1)) == ["10-26 02:30:00+0100"]
    assert local(parse("*/30 * * * *", PARIS).next_fires(second_pass, 2)) == [
        "10-25 02:30:00+0100",
        "10-25 03:00:00+0100",
    ]


# 2021's changes. Berlin: 28 March 02:00 CET → 03:00 CEST, 31 October 03:00 CEST → 02:00 CET.
# New York: 14 March 02:00 EST → 03:00 EDT, 7 November 02:00 EDT → 01:00 EST.
BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
SPRING = {BERLIN: at(2021, 3, 28, 1), NEW_YORK: at(2021, 3, 14, 7)}  # the jump, in UTC
AUTUMN = {BERLIN: at(2021, 10, 31, 1), NEW_YORK: at(2021, 11, 7, 6)}
HOUR, MINUTE = dt.timedelta(hours=1), dt.timedelta(minutes=1)


def fires_between(
    expression: str, zone: str, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    fires = []
    for fire in parse(expression, zone).fires_after(start):
        if fire > end:
            return fires
        fires.append(fire)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_every_minute_runs_through_both_passes_of_the_repeated_hour(zone: str) -> None:
    change = AUTUMN[zone]
    fires = fires_between("* * * * *", zone, change - 2 * HOUR, change + HOUR)
    # Every real minute from two hours before the change to one hour after: 180 fires.
    assert fires == [change - 2 * HOUR + n * MINUTE for n in range(1, 181)]
    walls = Counter(f.astimezone(ZoneInfo(zone)).strftime("%H:%M") for f in fires)
    repeated = "02" if zone == BERLIN else "01"
    assert {wall for wall, count in walls.items() if count == 2} == {
        f"{repeated}:{m:02}" for m in range(60)
    }


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_every_minute_skips_the_hour_spring_forward_removes_and_nothing_else(zone: str) -> None:
    change = SPRING[zone]
    fires = fires_between("* * * * *", zone, change - HOUR, change + HOUR)
    assert fires == [change - HOUR + n * MINUTE for n in range(1, 121)]
    assert not [f for f in fires if f.astimezone(ZoneInfo(zone)).hour == 2]


def test_every_15_minutes_keeps_its_pace_through_the_autumn_night() -> None:
    fires = fires_between("*/15 * * * *", BERLIN, at(2021, 10, 30, 23, 40), at(2021, 10, 31, 2))
    assert local(fires, BERLIN) == [
        "10-31 01:45:00+0200",
        "10-31 02:00:00+0200",
        "10-31 02:15:00+0200",
        "10-31 02:30:00+0200",
        "10-31 02:45:00+0200",
        "10-31 02:00:00+0100",  # 15 minutes later, not 75
        "10-31 02:15:00+0100",
        "10-31 02:30:00+0100",
        "10-31 02:45:00+0100",
        "10-31 03:00:00+0100",
    ]
    assert {later - earlier for earlier, later in pairwise(fires)} == {15 * MINUTE}


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_every_15_minutes_has_no_fire_in_the_missing_hour(zone: str) -> None:
    change = SPRING[zone]
    fires = fires_between("*/15 * * * *", zone, change - HOUR, change + HOUR)
    assert fires == [change - 45 * MINUTE + n * 15 * MINUTE for n in range(8)]
    assert local(fires, zone)[2:4] == (
        ["03-28 01:45:00+0100", "03-28 03:00:00+0200"]
        if zone == BERLIN
        else ["03-14 01:45:00-0500", "03-14 03:00:00-0400"]
    )


@pytest.mark.parametrize(
    ("expression", "zone", "night", "expected"),
    [
        (
            "0 * * * *",
            BERLIN,
            AUTUMN,
            [
                "00:00+0200",
                "01:00+0200",
                "02:00+0200",
                "02:00+0100",
                "03:00+0100",
                "04:00+0100",
                "05:00+0100",
            ],
        ),
        (
            "0 * * * *",
            NEW_YORK,
            AUTUMN,
            [
                "23:00-0400",
                "00:00-0400",
                "01:00-0400",
                "01:00-0500",
                "02:00-0500",
                "03:00-0500",
                "04:00-0500",
            ],
        ),
        (
            "0 * * * *",
            BERLIN,
            SPRING,
            [
                "23:00+0100",
                "00:00+0100",
                "01:00+0100",
                "03:00+0200",
                "04:00+0200",
                "05:00+0200",
                "06:00+0200",
            ],
        ),
        (
            "0 * * * *",
            NEW_YORK,
            SPRING,
            [
                "23:00-0500",
                "00:00-0500",
                "01:00-0500",
                "03:00-0400",
                "04:00-0400",
                "05:00-0400",
                "06:00-0400",
            ],
        ),
        # Every 2 hours by the clock: 02:00 comes twice in autumn, and not at all in spring.
        ("0 */2 * * *", BERLIN, AUTUMN, ["00:00+0200", "02:00+0200", "02:00+0100", "04:00+0100"]),
        ("0 */2 * * *", NEW_YORK, AUTUMN, ["00:00-0400", "02:00-0500", "04:00-0500"]),
        ("0 */2 * * *", BERLIN, SPRING, ["00:00+0100", "04:00+0200", "06:00+0200"]),
        ("0 */2 * * *", NEW_YORK, SPRING, ["00:00-0500", "04:00-0400", "06:00-0400"]),
        # Every 3 hours: 03:00 comes once either way.
        ("0 */3 * * *", BERLIN, AUTUMN, ["00:00+0200", "03:00+0100"]),
        ("0 */3 * * *", NEW_YORK, AUTUMN, ["00:00-0400", "03:00-0500"]),
        ("0 */3 * * *", BERLIN, SPRING, ["00:00+0100", "03:00+0200", "06:00+0200"]),
        ("0 */3 * * *", NEW_YORK, SPRING, ["00:00-0500", "03:00-0400", "06:00-0400"]),
        # Fixed times run once: a skipped one at the end of the gap, a repeated one first time.
        ("30 2 * * *", BERLIN, SPRING, ["03:00+0200"]),
        ("30 2 * * *", NEW_YORK, SPRING, ["03:00-0400"]),
        ("30 2 * * *", BERLIN, AUTUMN, ["02:30+0200"]),
        ("30 1 * * *", NEW_YORK, AUTUMN, ["01:30-0400"]),
        ("30 1,2 * * *", BERLIN, AUTUMN, ["01:30+0200", "02:30+0200"]),
        ("30 1,2 * * *", NEW_YORK, AUTUMN, ["01:30-0400", "02:30-0500"]),
        ("30 1,2 * * *", BERLIN, SPRING, ["01:30+0100", "03:00+0200"]),
        ("0,30 2 * * *", NEW_YORK, SPRING, ["03:00-0400"]),  # two skipped times: one run
        ("0 1-3 * * *", BERLIN, AUTUMN, ["01:00+0200", "02:00+0200", "03:00+0100"]),
        ("0 1-3 * * *", NEW_YORK, SPRING, ["01:00-0500", "03:00-0400"]),
    ],
)
def test_daylight_saving_nights_follow_debian_crons_rule(
    expression: str, zone: str, night: dict[str, dt.datetime], expected: list[str]
) -> None:
    change = night[zone]  # from three hours before to three after
    start, end = change - 3 * HOUR, change + 3 * HOUR
    fires = fires_between(expression, zone, start - dt.timedelta(microseconds=1), end)
    assert [f.astimezone(ZoneInfo(zone)).strftime("%H:%M%z") for f in fires] == expected
    assert fires == sorted(set(fires))


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "*/15 * * * *", "0 * * * *", "0 */2 * * *", "30 2 * * *", "45 1,2 * * *"],
)
def test_the_latest_fire_is_the_one_before_the_next(expression: str, zone: str) -> None:
    schedule = parse(expression, zone)
    for change in (SPRING[zone], AUTUMN[zone]):
        for minutes in range(-150, 150, 5):
            moment = change + minutes * MINUTE + dt.timedelta(seconds=7)
            latest = schedule.latest_at_or_before(moment)
            assert latest <= moment < schedule.next_after(latest), (expression, moment)
            assert schedule.next_after(latest - dt.timedelta(seconds=1)) == latest


def test_the_latest_fixed_fire_seen_from_the_second_pass_is_the_first_pass_one() -> None:
    second_pass = AUTUMN[BERLIN] + 10 * MINUTE  # 02:10 CET; 02:45 CEST came before it
    latest = parse("45 2 * * *", BERLIN).latest_at_or_before(second_pass)
    assert local([latest], BERLIN) == ["10-31 02:45:00+0200"]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("61 * * * *", "minute must be 0-59"),
        ("* 24 * * *", "hour must be 0-23"),
        ("* * 0 * *", "day of month must be 1-31"),
        ("* * * 13 *", "month must be 1-12"),
        ("* * * * 8", "day of week must be 0-7"),
        ("60 * * * * *", "second must be 0-59"),
        ("*/0 * * * *", "minute step must be a whole number from 1 to 60"),
        # Read by croniter as one fire an hour, yet described as every N minutes.
        ("*/99999999999999999999 * * * *", "minute step must be a whole number from 1 to 60"),
        ("0 */25 * * *", "hour step must be a whole number from 1 to 24"),
        # Read by croniter as every value of the field.
        ("1-0 * * * *", "minute range 1-0 runs backwards: write it low-high"),
        ("0 0 * dec-jan *", "month range dec-jan runs backwards"),
        ("0 0 * * fri-mon", "day of week range fri-mon runs backwards"),
        ("a * * * *", "minute must be 0-59 or *"),
        ("\u00b2 * * * *", "minute must be 0-59 or *"),  # SUPERSCRIPT TWO: a digit, not a number
        ("*/\u00b2 * * * *", "minute step must be a whole number from 1 to 60"),
        ("1 2 3", "3 fields; expected 5-field cron"),
        ("", "empty"),
        ("every 0s", "an interval must be at least 1"),
        ("every 5x", "an interval is `every N` + s, m or h"),
        ("every \u0665m", "an interval is `every N` + s, m or h"),  # Arabic-Indic 5
        ("every 25h", "an interval must be at most 24h"),
    ],
)
def test_invalid_schedules_name_the_field_and_what_it_accepts(expression: str, reason: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse(expression)
    assert str(caught.value).startswith(f"invalid schedule {expression!r}: {reason}")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Factory", "posixrules", "right/UTC"])
def test_an_unknown_timezone_is_refused_with_an_example(zone: str) -> None:
    with pytest.raises(ValueError, match="expected an IANA name such as UTC or Europe/Paris"):
        parse("* * * * *", zone)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 0 30 2 *", "never fires: day of month 30 never falls in month 2"),
        ("0 0 30,31 feb *", "never fires: day of month 30,31 never falls in month feb"),
        ("0 0 31 4,6,9,11 *", "never fires: day of month 31 never falls in month 4,6,9,11"),
        ("0 0 0 31 2 *", "never fires: day of month 31 never falls in month 2"),
    ],
)
def test_a_schedule_with_valid_fields_that_never_fires_is_refused(
    expression: str, reason: str
) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse(expression, PARIS)
    assert str(caught.value) == f"invalid schedule {expression!r}: {reason}"


def test_rare_schedules_that_do_fire_are_accepted() -> None:
    # 29 February skips 2100, not a leap year: eight years between two fires.
    assert parse("0 0 29 2 *").next_after(at(2096, 3, 1)) == at(2104, 2, 29)
    # Day of month and day of week both given: either one matches (cron's rule).
    monday = parse("0 0 30 2 mon").next_after(at(2026, 1, 1))
    assert monday == at(2026, 2, 2) and monday.weekday() == 0


def test_a_schedule_longer_than_its_column_is_refused_whole_naming_the_limit() -> None:
    assert len(TOO_LONG) == 202
    # Cut to the column's 200 it would still be valid, and mean something else.
    assert parse(TOO_LONG[:200]).describe.endswith("Thursday, Friday, and Saturday")

    with pytest.raises(InvalidSchedule) as caught:
        parse(TOO_LONG)

    assert str(caught.value) == (
        f"invalid schedule {TOO_LONG[:40] + '…'!r}: at most 200 characters, got 202"
    )
    assert caught.value.expression == TOO_LONG


def test_a_timezone_too_long_to_be_a_file_name_is_refused_like_any_unknown_zone() -> None:
    with pytest.raises(ValueError, match="expected an IANA name such as UTC or Europe/Paris"):
        parse("* * * * *", "Europe/" + "x" * 300)


# Each cron field's range and names, seconds first.
RANGES = [(0, 59, []), (0, 59, []), (0, 23, []), (1, 31, []), (1, 12, ["jan", "feb", "dec"])]
RANGES.append((0, 7, ["sun", "mon", "sat"]))


def random_field(chance: random.Random, low: int, high: int, names: list[str]) -> str:
    """Mostly valid, sometimes at or past an edge, now and then garbage."""

    def atom() -> str:
        roll = chance.random()
        if roll < 0.05:
            return chance.choice(["", "x", "L", "-1", "1.5", "#", "**"])
        if roll < 0.15:
            return str(chance.choice([low - 1, high + 1, high]))
        if roll < 0.25 and names:
            return chance.choice(names)
        return str(chance.randint(low, high))

    roll = chance.random()
    if roll < 0.25:
        field = chance.choice(["*", "*", "*", "?"])
    elif roll < 0.45:
        ends = [atom(), atom()]
        if all(end.isdigit() for end in ends) and chance.random() < 0.8:
            ends.sort(key=int)  # mostly written low-high, now and then backwards
        field = "-".join(ends)
    else:
        field = atom()
    if chance.random() < 0.2:
        field += f"/{chance.choice(['0', '1', '2', '5', '7', 'a'])}"
    if chance.random() < 0.2:
        field += "," + random_field(chance, low, high, names)
    return field


def test_cron_like_texts_are_a_schedule_that_fires_or_an_invalid_schedule_nothing_else() -> None:
    chance = random.Random(12)  # the same texts on every run
    moment = at(2026, 11, 30, 12)
    fired = 0
    for _ in range(1000):
        shape = chance.choice([RANGES[1:], RANGES[1:], RANGES[1:], RANGES, RANGES[1:5]])
        expression = " ".join(random_field(chance, *field) for field in shape)
        try:
            schedule = parse(expression, chance.choice(["UTC", PARIS, "Australia/Lord_Howe"]))
        except InvalidSchedule as refused:
            assert str(refused).startswith("invalid schedule "), expression
            continue
        first, second = schedule.next_fires(moment, 2)
        assert moment < first < second, expression
        assert isinstance(schedule.describe, str)
        fired += 1
    assert fired > 100  # the texts reach the fire search, not only the field checks
